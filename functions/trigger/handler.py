"""Lambda entry point of the trigger: classify the event, hand it to the logic, return its summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.shared.errors import UnsupportedEventError
from functions.shared.observability import logger, tracer
from functions.trigger.logic import TriggerResult, TriggerSettings, on_alarm, on_manual, on_recheck, on_upload
from functions.trigger.models import AlarmStateChangeEvent, ManualRequest

EXPECTED = (
    "expected an S3 'Object Created', a 'CloudWatch Alarm State Change', a 'Scheduled Event' "
    "(source aws.events), {'reason': 'recheck'} or {'reason': 'manual', ...}"
)


def route(event: Any, settings: TriggerSettings, request_id: str, now: datetime | None = None) -> TriggerResult:
    """Dispatch one event; ``now`` is injectable so tests (and a virtual clock) control the cooldown."""
    if not isinstance(event, dict):
        raise UnsupportedEventError(
            f"unsupported event: a JSON object is required, got {type(event).__name__}; {EXPECTED}"
        )
    source, detail_type, reason = event.get("source"), event.get("detail-type"), event.get("reason")
    if source == "aws.s3" and detail_type == "Object Created":
        return on_upload(parse(event=event, model=S3EventNotificationEventBridgeModel), settings)
    if source == "aws.cloudwatch" and detail_type == "CloudWatch Alarm State Change":
        return on_alarm(parse(event=event, model=AlarmStateChangeEvent), settings, now)
    if (source == "aws.events" and detail_type == "Scheduled Event") or reason == "recheck":
        return on_recheck(settings, now)
    if reason == "manual":
        return on_manual(parse(event=event, model=ManualRequest), settings, request_id)
    raise UnsupportedEventError(
        f"unsupported event (source={source!r}, detail-type={detail_type!r}, reason={reason!r}): {EXPECTED}"
    )


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event, TriggerSettings.from_env(), context.aws_request_id).to_dict()
