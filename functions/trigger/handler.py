"""Lambda entry point of the trigger: classify the event, hand it to the logic, return its summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from functions.shared.aws import name_transient_errors
from functions.shared.contracts import TriggerOutput
from functions.shared.errors import UnsupportedEventError
from functions.shared.observability import logger, tracer
from functions.trigger.approval import on_approval
from functions.trigger.logic import TriggerResult, TriggerSettings, on_alarm, on_manual, on_recheck, on_upload
from functions.trigger.models import AlarmStateChangeEvent, ManualRequest, ModelPackageStateChangeEvent

EXPECTED = (
    "expected an S3 'Object Created', a 'CloudWatch Alarm State Change', a 'Scheduled Event' "
    "(source aws.events), a 'SageMaker Model Package State Change', {'reason': 'recheck'} or "
    "{'reason': 'manual', ...}"
)


ModelT = TypeVar("ModelT", bound=BaseModel)


def _parsed(event: dict[str, Any], model: type[ModelT]) -> ModelT:
    """The event as ``model``; a malformed one (a field missing or of the wrong type) is named."""
    try:
        return parse(event=event, model=model)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(event)'}: {error['msg']}"
            for error in exc.errors()[:10]
        )
        raise UnsupportedEventError(f"malformed {model.__name__} event: {problems}") from exc


def route(event: Any, settings: TriggerSettings, request_id: str, now: datetime | None = None) -> TriggerResult:
    """Dispatch one event; ``now`` is injectable so tests (and a virtual clock) control the cooldown."""
    if not isinstance(event, dict):
        raise UnsupportedEventError(
            f"unsupported event: a JSON object is required, got {type(event).__name__}; {EXPECTED}"
        )
    source, detail_type, reason = event.get("source"), event.get("detail-type"), event.get("reason")
    if source == "aws.s3" and detail_type == "Object Created":
        return on_upload(_parsed(event, S3EventNotificationEventBridgeModel), settings)
    if source == "aws.cloudwatch" and detail_type == "CloudWatch Alarm State Change":
        return on_alarm(_parsed(event, AlarmStateChangeEvent), settings, now)
    if (source == "aws.events" and detail_type == "Scheduled Event") or reason == "recheck":
        return on_recheck(settings, now)
    if source == "aws.sagemaker" and detail_type == "SageMaker Model Package State Change":
        return on_approval(_parsed(event, ModelPackageStateChangeEvent), settings)
    if reason == "manual":
        return on_manual(_parsed(event, ManualRequest), settings, request_id)
    raise UnsupportedEventError(
        f"unsupported event (source={source!r}, detail-type={detail_type!r}, reason={reason!r}): {EXPECTED}"
    )


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> TriggerOutput:
    return route(event, TriggerSettings.from_env(), context.aws_request_id).to_dict()
