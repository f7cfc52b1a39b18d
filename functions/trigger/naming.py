"""Deterministic execution names: the trigger's duplicate protection.

Step Functions refuses a second execution with a name it has already seen (for 90 days), so naming
an execution after the *event's identity* turns EventBridge's at-least-once delivery into exactly
one run. Names stay <= 56 characters so ``train-<executionName>`` is a valid training job name.
"""

from __future__ import annotations

import hashlib

__all__ = ["MAX_NAME_LENGTH", "drift_name", "execution_name", "manual_name", "normalise_etag", "upload_name"]

MAX_NAME_LENGTH = 56
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


def drift_name(alarm_arn: str, state_change_time: str) -> str:
    """One run per alarm transition into ALARM: re-deliveries of that transition share its timestamp."""
    return execution_name("drift", alarm_arn, state_change_time)


def manual_name(bucket: str, key: str, version_id: str | None, etag: str | None, request_id: str) -> str:
    return execution_name("manual", bucket, key, version_id or normalise_etag(etag), request_id)
