"""Which capture files a drift run reads: the time window and the state that chains the windows.

Capture files are assigned to windows by their S3 LastModified, each file to exactly one window:
a run reads files modified in ``(windowStart, windowEnd]`` and the next run starts where this one
ended (``drift/<endpoint>/state.json``), so no capture is read twice or skipped, whenever the
schedule actually fires. ``windowEnd`` is "now" minus a short settle lag, rounded down to the
second (LastModified has one-second resolution), so a file still being written when the window
closes falls into the next window rather than being missed. The lag is `DRIFT_SETTLE_SECONDS`
(default two minutes); the local demo, which compresses time, sets it to one second.

A window with too few records does not advance the state: its records are carried over and
accumulate until a verdict is possible. An explicit ``windowStart``/``windowEnd`` in the event (a
backfill or an investigation) never moves the state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws import client
from functions.shared.s3 import put_json

__all__ = [
    "SETTLE_LAG",
    "CaptureObject",
    "Window",
    "list_capture_objects",
    "load_state",
    "resolve_window",
    "save_state",
]

SETTLE_LAG = timedelta(minutes=2)
# Capture keys are <variant>/yyyy/mm/dd/hh/<file>; a file for hour h can be written a little after h
# ends, so listing starts two partitions before the window's start hour.
_PARTITION_MARGIN = timedelta(hours=2)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    explicit: bool = False

    def contains(self, moment: datetime) -> bool:
        return self.start < moment <= self.end


def parse_time(text: Any, name: str) -> datetime:
    """An ISO-8601 time; a naive one is taken as UTC."""
    if not isinstance(text, str):
        raise ValueError(f"{name} must be an ISO-8601 time string, got {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name} is not an ISO-8601 time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def resolve_window(
    event: dict[str, Any],
    state: dict[str, Any] | None,
    now: datetime,
    window_minutes: int,
    settle: timedelta = SETTLE_LAG,
) -> Window:
    if "windowStart" in event or "windowEnd" in event:
        end = parse_time(event["windowEnd"], "windowEnd") if "windowEnd" in event else now
        start = (
            parse_time(event["windowStart"], "windowStart")
            if "windowStart" in event
            else end - timedelta(minutes=window_minutes)
        )
        explicit = True
    else:
        end = (now - settle).replace(microsecond=0)
        previous = (state or {}).get("windowEnd")
        start = parse_time(previous, "state windowEnd") if previous else end - timedelta(minutes=window_minutes)
        explicit = False
    if start >= end:
        raise ValueError(f"empty window: windowStart {start.isoformat()} is not before windowEnd {end.isoformat()}")
    return Window(start.astimezone(UTC), end.astimezone(UTC), explicit)


def state_key(endpoint: str) -> str:
    return f"drift/{endpoint}/state.json"


def load_state(bucket: str, endpoint: str) -> dict[str, Any] | None:
    s3 = client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=state_key(endpoint))["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise
    return json.loads(body)


def save_state(bucket: str, endpoint: str, state: dict[str, Any]) -> str:
    return put_json(bucket, state_key(endpoint), state)


@dataclass(frozen=True)
class CaptureObject:
    key: str
    last_modified: datetime
    size: int


def list_capture_objects(bucket: str, endpoint_prefix: str, window: Window) -> list[CaptureObject]:
    """Capture files under ``endpoint_prefix`` (``<CAPTURE_PREFIX><endpoint>/``) modified in the window.

    Each variant's listing starts after the hour partition just before the window (StartAfter), so
    a run lists recent partitions instead of the endpoint's whole history.
    """
    s3 = client("s3")
    paginator = s3.get_paginator("list_objects_v2")
    found: list[CaptureObject] = []

    def collect(page: dict[str, Any]) -> None:
        for obj in page.get("Contents", []):
            if window.contains(obj["LastModified"]):
                found.append(CaptureObject(obj["Key"], obj["LastModified"], obj.get("Size", 0)))

    variants: list[str] = []
    for page in paginator.paginate(Bucket=bucket, Prefix=endpoint_prefix, Delimiter="/"):
        collect(page)
        variants.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    after = (window.start - _PARTITION_MARGIN).strftime("%Y/%m/%d/%H")
    for variant in variants:
        for page in paginator.paginate(Bucket=bucket, Prefix=variant, StartAfter=f"{variant}{after}"):
            collect(page)
    return sorted(found, key=lambda o: (o.last_modified, o.key))
