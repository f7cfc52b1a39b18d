"""What the trigger decides: start the pipeline, or skip with a reason.

The guards exist for drift retraining, which is the only trigger that can fire by itself: a
flapping alarm must not start a storm of training jobs. Uploads are user intent (each new object
is new data) and manual requests are operator intent, so only the duplicate guard applies to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from functions.shared.config import env_int, env_str
from functions.shared.observability import count, logger
from functions.trigger.executions import Executions, latest_snapshot
from functions.trigger.models import AlarmStateChangeEvent, ManualRequest
from functions.trigger.naming import drift_name, manual_name, normalise_etag, upload_name

__all__ = ["TriggerResult", "TriggerSettings", "on_alarm", "on_manual", "on_upload"]

SKIP_DUPLICATE = "duplicate"
SKIP_IN_FLIGHT = "in_flight"
SKIP_COOLDOWN = "cooldown"
SKIP_NOT_ALARM = "not_alarm"
SKIP_IGNORED_KEY = "ignored_key"


@dataclass(frozen=True)
class TriggerSettings:
    state_machine_arn: str
    upload_prefix: str
    curated_bucket: str
    dataset_name: str
    cooldown_seconds: int
    alarm_name_prefix: str

    @classmethod
    def from_env(cls) -> TriggerSettings:
        return cls(
            state_machine_arn=env_str("STATE_MACHINE_ARN"),
            upload_prefix=env_str("UPLOAD_PREFIX"),
            curated_bucket=env_str("CURATED_BUCKET"),
            dataset_name=env_str("DATASET_NAME"),
            cooldown_seconds=env_int("RETRAIN_COOLDOWN_SECONDS", minimum=0),
            alarm_name_prefix=env_str("ALARM_NAME_PREFIX"),
        )


@dataclass(frozen=True)
class TriggerResult:
    reason: str
    execution_name: str | None
    execution_arn: str | None = None
    skipped: str | None = None

    @property
    def started(self) -> bool:
        return self.skipped is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"started": self.started, "reason": self.reason}
        out["executionName"] = self.execution_name
        if self.execution_arn:
            out["executionArn"] = self.execution_arn
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def _skip(
    trigger: str, skipped: str, name: str | None, why: str, arn: str | None = None, **context: Any
) -> TriggerResult:
    """Every skip is logged with its cause and counted, so a silent pipeline can be explained."""
    logger.info(
        f"not starting the pipeline: {why}",
        extra={"trigger": trigger, "skipped": skipped, "executionName": name, **context},
    )
    count("RetrainingSkipped", Reason=skipped)
    return TriggerResult(reason=trigger, execution_name=name, execution_arn=arn, skipped=skipped)


def _start(executions: Executions, trigger: str, name: str, payload: dict[str, Any]) -> TriggerResult:
    if executions.exists(name):
        return _skip(
            trigger,
            SKIP_DUPLICATE,
            name,
            "an execution with this name already exists (a repeated event)",
            arn=executions.arn_of(name),
        )
    arn = executions.start(name, payload)
    if arn is None:  # lost a race with a concurrent delivery of the same event
        return _skip(
            trigger,
            SKIP_DUPLICATE,
            name,
            "Step Functions reported ExecutionAlreadyExists",
            arn=executions.arn_of(name),
        )
    logger.info("started the pipeline", extra={"executionArn": arn, "trigger": trigger})
    count("ExecutionsStarted", Trigger=trigger)
    return TriggerResult(reason=trigger, execution_name=name, execution_arn=arn)


def on_upload(event: S3EventNotificationEventBridgeModel, settings: TriggerSettings) -> TriggerResult:
    """Start a run for a new object under the upload prefix (folder markers and other keys are ignored)."""
    bucket = event.detail.bucket.name
    obj = event.detail.object
    key, version_id, etag = obj.key, obj.version_id, normalise_etag(obj.etag)
    if not key.startswith(settings.upload_prefix) or key.endswith("/"):
        return _skip(
            "upload",
            SKIP_IGNORED_KEY,
            None,
            f"key {key!r} is not an upload under {settings.upload_prefix!r}",
            bucket=bucket,
            key=key,
        )
    name = upload_name(bucket, key, version_id, etag)
    payload = {
        "reason": "upload",
        "data": {"bucket": bucket, "key": key, "versionId": version_id, "etag": etag},
    }
    return _start(Executions(settings.state_machine_arn), "upload", name, payload)


def on_alarm(event: AlarmStateChangeEvent, settings: TriggerSettings, now: datetime | None = None) -> TriggerResult:
    """Retrain on the latest curated data when one of OUR drift alarms enters ALARM, unless this
    transition was already handled, a run is in flight, or the last drift run started less than the
    cooldown ago (checked in that order, so the reported reason is the most specific one)."""
    alarm = event.detail
    if alarm.state.value != "ALARM":
        return _skip(
            "drift",
            SKIP_NOT_ALARM,
            None,
            f"alarm {alarm.alarmName!r} changed to {alarm.state.value}, not ALARM",
        )
    if not alarm.alarmName.startswith(settings.alarm_name_prefix):
        return _skip(
            "drift",
            SKIP_NOT_ALARM,
            None,
            f"alarm {alarm.alarmName!r} is not a drift alarm (prefix {settings.alarm_name_prefix!r})",
        )
    executions = Executions(settings.state_machine_arn)
    name = drift_name(event.alarm_arn, alarm.state.timestamp)
    if executions.exists(name):
        return _skip(
            "drift",
            SKIP_DUPLICATE,
            name,
            "this alarm transition already started an execution",
            arn=executions.arn_of(name),
        )
    running = executions.any_running()
    if running:
        return _skip(
            "drift",
            SKIP_IN_FLIGHT,
            name,
            "an execution of the pipeline is still running",
            runningExecution=running,
        )
    now = now or datetime.now(UTC)
    cooldown = timedelta(seconds=settings.cooldown_seconds)
    last = executions.latest_start("drift-", not_before=now - cooldown) if cooldown else None
    if last is not None:
        return _skip(
            "drift",
            SKIP_COOLDOWN,
            name,
            f"the last drift retraining started at {last.isoformat()}, within the "
            f"{settings.cooldown_seconds}s cooldown",
        )
    snapshot = latest_snapshot(settings.curated_bucket, settings.dataset_name)
    payload = {
        "reason": "drift",
        "data": {
            "bucket": snapshot.bucket,
            "key": snapshot.key,
            "versionId": None,
            "etag": normalise_etag(snapshot.etag),
            "datasetVersion": snapshot.dataset_version,
        },
        "alarm": {"name": alarm.alarmName, "arn": event.alarm_arn, "stateChangeTime": alarm.state.timestamp},
    }
    return _start(executions, "drift", name, payload)


def on_manual(request: ManualRequest, settings: TriggerSettings, request_id: str) -> TriggerResult:
    """An operator's explicit request: only the duplicate guard applies (see ManualRequest.requestId)."""
    name = manual_name(request.bucket, request.key, request.versionId, request.etag, request.requestId or request_id)
    payload = {
        "reason": "manual",
        "data": {
            "bucket": request.bucket,
            "key": request.key,
            "versionId": request.versionId,
            "etag": normalise_etag(request.etag),
        },
    }
    return _start(Executions(settings.state_machine_arn), "manual", name, payload)
