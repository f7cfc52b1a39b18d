"""The retraining state the trigger reads and keeps: alarms, a deferred trigger, the last trained batch.

``retraining/pending.json`` (artifacts bucket) is a trigger that met a run in flight: it is written
instead of dropping the trigger and deleted when a run starts, and the recheck schedule retries it.
``retraining/state.json`` is written by the planner (``functions.plan``); the trigger only reads
its ``lastTrainedBatch`` to tell whether a retraining would have anything new to learn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.shared.aws import client
from functions.shared.batches import RETRAINING_STATE_KEY, read_json_if_exists
from functions.shared.contracts import AlarmPayload, AlarmReason
from functions.shared.observability import logger
from functions.shared.s3 import put_json
from functions.trigger.naming import ALARM_REASONS

__all__ = [
    "PENDING_KEY",
    "AlarmRef",
    "alarms_in_alarm",
    "delete_pending",
    "event_timestamp",
    "last_trained_batch",
    "read_pending",
    "write_pending",
]

PENDING_KEY = "retraining/pending.json"
# Higher wins when two deferred triggers meet: labels saying the model got worse outrank inputs
# that merely moved (the documented "quality before drift").
_PRIORITY = {"drift": 1, "quality": 2}


@dataclass(frozen=True)
class AlarmRef:
    """One alarm transition into ALARM, as the execution payload and its name record it."""

    reason: AlarmReason
    name: str
    arn: str
    state_change_time: str

    def to_payload(self) -> AlarmPayload:
        return {"name": self.name, "arn": self.arn, "stateChangeTime": self.state_change_time}

    @classmethod
    def from_payload(cls, reason: Any, alarm: Any) -> AlarmRef | None:
        if reason not in ALARM_REASONS or not isinstance(alarm, dict):
            return None
        fields = (alarm.get("name"), alarm.get("arn"), alarm.get("stateChangeTime"))
        if not all(isinstance(f, str) and f for f in fields):
            return None
        name, arn, moment = fields
        return cls("drift" if reason == "drift" else "quality", str(name), str(arn), str(moment))


def event_timestamp(moment: datetime) -> str:
    """The format of EventBridge's ``detail.state.timestamp`` (``2026-11-12T17:04:40.989+0000``), so
    a transition read with DescribeAlarms names the same execution as its state-change event."""
    utc = moment.astimezone(UTC)
    return f"{utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond // 1000:03d}+0000"


def alarms_in_alarm(quality_alarm: str, drift_alarm: str) -> list[AlarmRef]:
    """The two alarms that are in ALARM now, quality first (DescribeAlarms by exact name)."""
    response = client("cloudwatch").describe_alarms(AlarmNames=[quality_alarm, drift_alarm], AlarmTypes=["MetricAlarm"])
    by_name = {a["AlarmName"]: a for a in response.get("MetricAlarms", [])}
    found: list[AlarmRef] = []
    ours: tuple[tuple[AlarmReason, str], ...] = (("quality", quality_alarm), ("drift", drift_alarm))
    for reason, name in ours:
        alarm = by_name.get(name)
        if not alarm or alarm.get("StateValue") != "ALARM":
            continue
        # StateTransitionedTimestamp changes only when the state does (StateUpdatedTimestamp also
        # when only the reason text is refreshed); older APIs and emulators lack it.
        moment = alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp")
        stamp = event_timestamp(moment) if isinstance(moment, datetime) else str(moment or "")
        found.append(AlarmRef(reason, name, alarm["AlarmArn"], stamp))
    return found


def read_pending(bucket: str) -> tuple[AlarmRef, dict[str, Any]] | None:
    """The deferred trigger and its whole document, or ``None``; an unusable document is logged and
    ignored (not deleted: it is evidence of what was deferred)."""
    found = read_json_if_exists(bucket, PENDING_KEY)
    if found is None:
        return None
    document = found[0]
    ref = AlarmRef.from_payload(document.get("reason"), document.get("alarm")) if isinstance(document, dict) else None
    if ref is None:
        logger.warning("ignoring an unusable retraining/pending.json", extra={"bucket": bucket, "document": document})
        return None
    return ref, document


def write_pending(bucket: str, alarm: AlarmRef, now: datetime) -> None:
    """Record a deferred trigger, unless one of equal or higher priority is already pending (so the
    first deferral's time is kept and a quality trigger is never replaced by a drift one)."""
    existing = read_pending(bucket)
    if existing is not None and _PRIORITY[existing[0].reason] >= _PRIORITY[alarm.reason]:
        logger.info(
            "a deferred retraining is already pending",
            extra={"pendingReason": existing[0].reason, "deferredAt": existing[1].get("deferredAt")},
        )
        return
    put_json(bucket, PENDING_KEY, {"reason": alarm.reason, "alarm": alarm.to_payload(), "deferredAt": now.isoformat()})


def delete_pending(bucket: str) -> None:
    """Forget the deferred trigger: a run has started (deleting a missing key is not an error)."""
    client("s3").delete_object(Bucket=bucket, Key=PENDING_KEY)


def last_trained_batch(bucket: str) -> str | None:
    """``lastTrainedBatch`` of ``retraining/state.json``; ``None`` when there is none (or it is unusable,
    logged), which means any batch is new."""
    found = read_json_if_exists(bucket, RETRAINING_STATE_KEY)
    if found is None:
        return None
    document = found[0]
    last = document.get("lastTrainedBatch") if isinstance(document, dict) else None
    if not isinstance(last, str) or not last:
        logger.warning("ignoring an unusable retraining/state.json", extra={"bucket": bucket, "document": document})
        return None
    return last
