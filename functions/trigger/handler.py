"""Lambda entry point of the trigger: classify the event, hand it to the logic, return its summary."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.shared.errors import UnsupportedEventError
from functions.shared.observability import logger, tracer
from functions.trigger.logic import TriggerSettings, on_alarm, on_manual, on_upload
from functions.trigger.models import AlarmStateChangeEvent, ManualRequest


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = TriggerSettings.from_env()
    source, detail_type = event.get("source"), event.get("detail-type")
    if source == "aws.s3" and detail_type == "Object Created":
        result = on_upload(parse(event=event, model=S3EventNotificationEventBridgeModel), settings)
    elif source == "aws.cloudwatch" and detail_type == "CloudWatch Alarm State Change":
        result = on_alarm(parse(event=event, model=AlarmStateChangeEvent), settings)
    elif event.get("reason") == "manual":
        result = on_manual(parse(event=event, model=ManualRequest), settings, context.aws_request_id)
    else:
        raise UnsupportedEventError(
            f"unsupported event (source={source!r}, detail-type={detail_type!r}, "
            f"reason={event.get('reason')!r}): "
            "expected an S3 'Object Created', a 'CloudWatch Alarm State Change' or {'reason': 'manual', ...}"
        )
    return result.to_dict()
