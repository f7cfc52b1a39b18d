"""What the trigger decides: start the pipeline, defer, or skip with a reason.

Uploads are user intent (each new object is new data) and manual requests are operator intent, so
only the duplicate guard applies to them. Drift and quality alarms fire by themselves, so they pass
the guards of docs/ARCHITECTURE.md ("Trigger guards"), in this order, each reporting the most
specific reason a run did not start:

1. ``not_alarm``: not exactly one of our two alarms (by name, and by the account and region in its
   ARN, which must be the state machine's), or a state other than ALARM;
2. ``disabled``: ``RETRAIN_ON_ALARM`` is false;
3. ``duplicate``: this transition already started a run (for a recheck: on this newest batch);
4. ``deferred``: a run is in flight — recorded in ``retraining/pending.json``, never dropped;
5. ``cooldown``: a ``drift-``/``quality-`` run started less than ``RETRAIN_COOLDOWN_SECONDS`` ago;
6. ``no_new_data``: no batch newer than ``retraining/state.json``'s ``lastTrainedBatch``;
7. ``awaiting_labels`` (drift only): no labelled batch was validated after the drift alarm went into
   ALARM. Drift is an early warning: a retraining now could only learn from data labelled before
   the drift, so it is deferred (``pending.json``) until labels of the drifted traffic arrive;
8. otherwise start (and forget any pending trigger).

A scheduled recheck replays the guards for a pending trigger or an alarm still in ALARM, so a
problem that persists retrains again once the cooldown is over and a new batch exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from functions.shared.batches import newest_batch, snapshots_prefix, version_sort_key
from functions.shared.config import env_int, env_str
from functions.shared.contracts import AlarmReason, ExecutionInput, TriggerOutput
from functions.shared.errors import ConfigurationError, NoCuratedDataError
from functions.shared.observability import count, logger
from functions.shared.s3 import s3_uri
from functions.trigger.executions import Executions
from functions.trigger.models import AlarmStateChangeEvent, ManualRequest
from functions.trigger.naming import ALARM_REASONS, alarm_name, manual_name, normalise_etag, upload_name
from functions.trigger.retraining import (
    AlarmRef,
    alarms_in_alarm,
    delete_pending,
    last_trained_batch,
    read_pending,
    write_pending,
)

__all__ = ["TriggerResult", "TriggerSettings", "on_alarm", "on_manual", "on_recheck", "on_upload"]

SKIP_DUPLICATE = "duplicate"
SKIP_DEFERRED = "deferred"
SKIP_COOLDOWN = "cooldown"
SKIP_NOT_ALARM = "not_alarm"
SKIP_DISABLED = "disabled"
SKIP_NO_NEW_DATA = "no_new_data"
SKIP_IGNORED_KEY = "ignored_key"
SKIP_NOTHING_PENDING = "nothing_pending"
SKIP_AWAITING_LABELS = "awaiting_labels"


def _env_flag(name: str) -> bool:
    """``true`` / ``false`` (any case): a typo must fail the deployment, not flip a behaviour."""
    raw = env_str(name).strip().lower()
    if raw not in {"true", "false"}:
        raise ConfigurationError(f"environment variable {name} must be 'true' or 'false', got {raw!r}")
    return raw == "true"


def _arn_scope(arn: str) -> tuple[str, str, str, str, str] | None:
    """``(partition, service, region, account, resource)`` of an ARN, or ``None`` if it is not one."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return parts[1], parts[2], parts[3], parts[4], parts[5]


@dataclass(frozen=True)
class TriggerSettings:
    state_machine_arn: str
    upload_prefix: str
    incoming_bucket: str
    curated_bucket: str
    artifacts_bucket: str
    dataset_name: str
    cooldown_seconds: int
    drift_alarm_name: str
    quality_alarm_name: str
    retrain_on_alarm: bool
    model_package_group: str = ""  # approvals of this group's packages start deploy-only runs

    @classmethod
    def from_env(cls) -> TriggerSettings:
        return cls(
            state_machine_arn=env_str("STATE_MACHINE_ARN"),
            upload_prefix=env_str("UPLOAD_PREFIX"),
            incoming_bucket=env_str("INCOMING_BUCKET"),
            curated_bucket=env_str("CURATED_BUCKET"),
            artifacts_bucket=env_str("ARTIFACTS_BUCKET"),
            dataset_name=env_str("DATASET_NAME"),
            cooldown_seconds=env_int("RETRAIN_COOLDOWN_SECONDS", minimum=0),
            drift_alarm_name=env_str("DRIFT_ALARM_NAME"),
            quality_alarm_name=env_str("QUALITY_ALARM_NAME"),
            retrain_on_alarm=_env_flag("RETRAIN_ON_ALARM"),
            model_package_group=env_str("MODEL_PACKAGE_GROUP"),
        )

    def reason_of(self, alarm_name: str) -> AlarmReason | None:
        """``drift`` / ``quality`` for exactly our alarms' names; a name merely sharing a prefix is not ours."""
        ours: dict[str, AlarmReason] = {self.drift_alarm_name: "drift", self.quality_alarm_name: "quality"}
        return ours.get(alarm_name)

    def owns_alarm(self, alarm_arn: str, alarm_name: str) -> bool:
        """The alarm ARN names this alarm in the state machine's own partition, account and region:
        an alarm of the same name elsewhere (another account sharing the event bus) is not ours."""
        alarm, machine = _arn_scope(alarm_arn), _arn_scope(self.state_machine_arn)
        if alarm is None or machine is None:
            return False
        partition, service, region, account, resource = alarm
        return (
            service == "cloudwatch"
            and (partition, region, account) == (machine[0], machine[2], machine[3])
            and resource == f"alarm:{alarm_name}"
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

    def to_dict(self) -> TriggerOutput:
        out: TriggerOutput = {"started": self.started, "reason": self.reason, "executionName": self.execution_name}
        if self.execution_arn:
            out["executionArn"] = self.execution_arn
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def _skip(
    trigger: str,
    skipped: str,
    name: str | None,
    why: str,
    arn: str | None = None,
    *,
    counted: bool = True,
    **context: Any,
) -> TriggerResult:
    """Every skip is logged with its cause and (but for "nothing to do") counted, so a silent
    pipeline can be explained from its logs and its RetrainingSkipped metric."""
    logger.info(
        f"not starting the pipeline: {why}",
        extra={"trigger": trigger, "skipped": skipped, "executionName": name, **context},
    )
    if counted:
        count("RetrainingSkipped", Reason=skipped)
    return TriggerResult(reason=trigger, execution_name=name, execution_arn=arn, skipped=skipped)


def _start(executions: Executions, trigger: str, name: str, payload: ExecutionInput) -> TriggerResult:
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
    """Start a run for a new object under the upload prefix of the incoming bucket (folder markers,
    other keys and other buckets' objects are ignored, each with a log line)."""
    bucket = event.detail.bucket.name
    obj = event.detail.object
    key, version_id, etag = obj.key, obj.version_id, normalise_etag(obj.etag)
    if bucket != settings.incoming_bucket:
        return _skip(
            "upload",
            SKIP_IGNORED_KEY,
            None,
            f"bucket {bucket!r} is not the incoming bucket {settings.incoming_bucket!r}",
            bucket=bucket,
            key=key,
        )
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
    payload: ExecutionInput = {
        "reason": "upload",
        "data": {"bucket": bucket, "key": key, "versionId": version_id, "etag": etag},
    }
    return _start(Executions(settings.state_machine_arn), "upload", name, payload)


def on_alarm(event: AlarmStateChangeEvent, settings: TriggerSettings, now: datetime | None = None) -> TriggerResult:
    """An alarm state change: retrain when it is exactly one of OUR alarms entering ALARM (guards above)."""
    alarm = event.detail
    reason = settings.reason_of(alarm.alarmName)
    if reason is None:
        return _skip(
            "alarm",
            SKIP_NOT_ALARM,
            None,
            f"alarm {alarm.alarmName!r} is neither {settings.drift_alarm_name!r} nor {settings.quality_alarm_name!r}",
        )
    alarm_arn = event.resources[0] if event.resources else ""
    if not settings.owns_alarm(alarm_arn, alarm.alarmName):
        return _skip(
            reason,
            SKIP_NOT_ALARM,
            None,
            f"alarm ARN {alarm_arn!r} is not {alarm.alarmName!r} in this account and region",
            alarmArn=alarm_arn,
        )
    if alarm.state.value != "ALARM":
        return _skip(
            reason,
            SKIP_NOT_ALARM,
            None,
            f"alarm {alarm.alarmName!r} changed to {alarm.state.value}, not ALARM",
        )
    ref = AlarmRef(reason, alarm.alarmName, alarm_arn, alarm.state.timestamp)
    return _retrain(ref, settings, now or datetime.now(UTC), recheck=False, from_pending=False)


def on_recheck(settings: TriggerSettings, now: datetime | None = None) -> TriggerResult:
    """The schedule's question "is a retraining still owed?": a deferred trigger first, else an
    alarm still in ALARM (quality before drift); then the same guards as an alarm event."""
    pending = read_pending(settings.artifacts_bucket)
    if pending is not None:
        ref, document = pending
        logger.info("recheck: a deferred retraining is pending", extra={"pending": document})
        return _retrain(ref, settings, now or datetime.now(UTC), recheck=True, from_pending=True)
    alarms = alarms_in_alarm(settings.quality_alarm_name, settings.drift_alarm_name)
    if not alarms:
        return _skip(
            "recheck",
            SKIP_NOTHING_PENDING,
            None,
            "no deferred retraining and neither alarm is in ALARM",
            counted=False,
        )
    logger.info("recheck: an alarm is still in ALARM", extra={"alarm": alarms[0].to_payload()})
    return _retrain(alarms[0], settings, now or datetime.now(UTC), recheck=True, from_pending=False)


def _retrain(
    alarm: AlarmRef, settings: TriggerSettings, now: datetime, *, recheck: bool, from_pending: bool
) -> TriggerResult:
    """Guards 2-7 for one alarm transition (the module docstring lists them).

    ``recheck``: the run is named after the newest batch too (see ``alarm_name``);
    ``from_pending``: the transition comes from pending.json, which is kept as it is when deferred again.
    """
    reason = alarm.reason
    if reason not in ALARM_REASONS:  # AlarmRef is built only from our two names; kept as a tripwire
        raise ValueError(f"not an alarm retraining reason: {reason!r}")
    if not settings.retrain_on_alarm:
        return _skip(reason, SKIP_DISABLED, None, "RETRAIN_ON_ALARM is false", alarm=alarm.to_payload())
    newest = newest_batch(settings.curated_bucket, settings.dataset_name)
    if newest is None:
        raise NoCuratedDataError(
            f"no curated snapshot of dataset {settings.dataset_name!r} in "
            f"{s3_uri(settings.curated_bucket, snapshots_prefix(settings.dataset_name))}: "
            "retraining needs at least one validated batch"
        )
    executions = Executions(settings.state_machine_arn)
    name = alarm_name(reason, alarm.arn, alarm.state_change_time, newest.dataset_version if recheck else None)
    if executions.exists(name):
        if from_pending:  # it was started, but its pending.json outlived the start: forget it now
            delete_pending(settings.artifacts_bucket)
        return _skip(
            reason,
            SKIP_DUPLICATE,
            name,
            "this alarm transition already started an execution" + (" on the newest batch" if recheck else ""),
            arn=executions.arn_of(name),
        )
    running = executions.any_running()
    if running:
        if not from_pending:
            write_pending(settings.artifacts_bucket, alarm, now)
        return _skip(
            reason,
            SKIP_DEFERRED,
            name,
            "an execution of the pipeline is still running; the retraining is pending until a recheck",
            runningExecution=running,
        )
    if settings.cooldown_seconds:
        last = executions.latest_start(
            tuple(f"{r}-" for r in ALARM_REASONS), not_before=now - timedelta(seconds=settings.cooldown_seconds)
        )
        if last is not None:
            return _skip(
                reason,
                SKIP_COOLDOWN,
                name,
                f"the last alarm retraining ({last[0]}) started at {last[1].isoformat()}, within the "
                f"{settings.cooldown_seconds}s cooldown",
            )
    last_trained = last_trained_batch(settings.artifacts_bucket)
    if last_trained is not None and newest.sort_key <= version_sort_key(last_trained):
        return _skip(
            reason,
            SKIP_NO_NEW_DATA,
            name,
            f"no batch newer than {last_trained}, the last one a run was planned on",
            newestBatch=newest.dataset_version,
        )
    if reason == "drift" and not _labelled_since(newest.validated_at, alarm.state_change_time):
        if not from_pending:
            write_pending(settings.artifacts_bucket, alarm, now)
        return _skip(
            reason,
            SKIP_AWAITING_LABELS,
            name,
            f"no labelled batch since the drift alarm went into ALARM at {alarm.state_change_time} "
            f"(newest: {newest.dataset_version}); the retraining is pending until labels of the drifted traffic arrive",
            newestBatch=newest.dataset_version,
        )
    payload: ExecutionInput = {
        "reason": reason,
        "data": {
            "bucket": settings.curated_bucket,
            "key": newest.key,
            "versionId": None,
            "etag": normalise_etag(newest.etag),
            "datasetVersion": newest.dataset_version,
        },
        "alarm": alarm.to_payload(),
    }
    result = _start(executions, reason, name, payload)
    # Only an existing pending.json is deleted: in a versioned bucket every delete of a missing key
    # would leave one more delete marker behind.
    if result.started and (from_pending or read_pending(settings.artifacts_bucket) is not None):
        delete_pending(settings.artifacts_bucket)
    return result


def _labelled_since(validated_at: datetime | None, state_change_time: str) -> bool:
    """Whether a batch validated at ``validated_at`` is newer than the alarm's state change.

    An unreadable time on either side answers yes: the guard may delay a retraining, never block it.
    """
    try:
        changed = datetime.strptime(state_change_time, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return True
    return validated_at is None or validated_at > changed


def on_manual(request: ManualRequest, settings: TriggerSettings, request_id: str) -> TriggerResult:
    """An operator's explicit request: only the duplicate guard applies (see ManualRequest.requestId)."""
    name = manual_name(request.bucket, request.key, request.versionId, request.etag, request.requestId or request_id)
    payload: ExecutionInput = {
        "reason": "manual",
        "data": {
            "bucket": request.bucket,
            "key": request.key,
            "versionId": request.versionId,
            "etag": normalise_etag(request.etag),
        },
    }
    return _start(Executions(settings.state_machine_arn), "manual", name, payload)
