"""Lambda entry point of groundtruth: a label file's S3 event (or ``{"bucket", "key"}``) in, a summary out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.groundtruth.logic import GroundTruthSettings, process_label_file
from functions.shared.aws import name_transient_errors
from functions.shared.errors import UnsupportedEventError
from functions.shared.observability import logger, tracer
from functions.validate.source import SourceObject


def label_source(event: dict[str, Any]) -> SourceObject:
    """The label object an event names: an EventBridge S3 "Object Created" or a direct invocation.

    The event's version id (or ETag) pins the object, so a file overwritten since its event is not
    read in its place; the overwrite has its own event.
    """
    if event.get("source") == "aws.s3" and event.get("detail-type") == "Object Created":
        parsed = parse(event=event, model=S3EventNotificationEventBridgeModel)
        obj = parsed.detail.object
        etag = (obj.etag or "").strip().strip('"') or None
        return SourceObject(parsed.detail.bucket.name, obj.key, obj.version_id or None, etag)
    bucket, key = event.get("bucket"), event.get("key")
    if isinstance(bucket, str) and bucket and isinstance(key, str) and key:
        return SourceObject(bucket, key, event.get("versionId") or None, event.get("etag") or None)
    raise UnsupportedEventError(
        f"unsupported event (source={event.get('source')!r}, detail-type={event.get('detail-type')!r}): "
        'expected an S3 "Object Created" event or {"bucket", "key"}'
    )


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = label_source(event if isinstance(event, dict) else {})
    if not source.key.lower().endswith(".csv"):
        # The rule matches the prefix; a folder marker or a non-CSV file there is not a label file.
        logger.info("ignored: not a CSV label file", extra={"bucket": source.bucket, "key": source.key})
        return {"status": "skipped", "skipped": "ignored_key", "labelFile": source.uri}
    return process_label_file(source, GroundTruthSettings.from_env())
