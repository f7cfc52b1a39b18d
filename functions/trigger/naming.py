"""Deterministic execution names: the trigger's duplicate protection.

Step Functions refuses a second execution with a name it has already seen (for 90 days), so naming
an execution after the *event's identity* turns EventBridge's at-least-once delivery into exactly
one run. Names stay <= 54 characters so ``train-<executionName>-<attempt>`` (each retried attempt
of the training state has a job of its own) is a valid training job name (<= 63).
"""

from __future__ import annotations

import hashlib

__all__ = [
    "ALARM_REASONS",
    "MAX_NAME_LENGTH",
    "alarm_name",
    "approval_name",
    "execution_name",
    "manual_name",
    "normalise_etag",
    "upload_name",
]

ALARM_REASONS = ("drift", "quality")

MAX_NAME_LENGTH = 54
_DIGEST_CHARS = 32


def normalise_etag(etag: str | None) -> str | None:
    """S3 quotes ETags in API responses but not in events; compare and hash them unquoted."""
    if etag is None:
        return None
    bare = etag.strip().strip('"')
    return bare or None


def execution_name(kind: str, *parts: str | None) -> str:
    """``<kind>-<first 32 hex of sha256("/".join(parts))>``; ``None`` parts hash as empty strings."""
    material = "/".join("" if part is None else part for part in parts)
    name = f"{kind}-{hashlib.sha256(material.encode('utf-8')).hexdigest()[:_DIGEST_CHARS]}"
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"execution name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    return name


def upload_name(bucket: str, key: str, version_id: str | None, etag: str | None) -> str:
    """A new object version (or, unversioned, new content) is a new run; a re-delivered event is not."""
    return execution_name("upload", bucket, key, version_id or normalise_etag(etag))


def alarm_name(reason: str, alarm_arn: str, state_change_time: str, newest_batch: str | None = None) -> str:
    """The run for one alarm transition into ALARM.

    An alarm event: ``<reason>-<sha256(alarmArn/stateChangeTime)[:32]>`` — re-deliveries of a
    transition share its timestamp, so they are duplicates. A recheck also names the newest batch,
    ``<reason>-<sha256(alarmArn/stateChangeTime/newestBatch)[:32]>``: an alarm that stays in ALARM
    keeps its transition time, so it can start a new run only once a new batch exists — a
    persisting problem retrains once per new batch at most.
    """
    if reason not in ALARM_REASONS:
        raise ValueError(f"alarm retraining reason must be one of {list(ALARM_REASONS)}, got {reason!r}")
    if newest_batch is None:
        return execution_name(reason, alarm_arn, state_change_time)
    return execution_name(reason, alarm_arn, state_change_time, newest_batch)


def manual_name(bucket: str, key: str, version_id: str | None, etag: str | None, request_id: str) -> str:
    return execution_name("manual", bucket, key, version_id or normalise_etag(etag), request_id)


def approval_name(package_arn: str, changed_at: str | None) -> str:
    """The deploy-only run for one approval: SageMaker may send several events for it, all with
    the package's same last-modified time, so they are duplicates; a later re-approval is not."""
    return execution_name("approval", package_arn, changed_at)
