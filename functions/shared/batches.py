"""The curated dataset as a series of labelled batches, and the retraining state beside it.

Every validated file is one batch: ``snapshots/<dataset>/<datasetVersion>/data.csv`` in the curated
bucket with its ``validation.json`` (docs/ARCHITECTURE.md, "The learning loop"). Both the planner
(which batches a run trains on) and the trigger (is there anything newer than the last training?)
need the same view of that series, in the same order, so it is built here once.

Order is the version's UTC stamp, parsed, then the version string: versions written before the
stamp gained microseconds (``yyyymmddTHHMMSSZ-sha``) would otherwise sort after every
microsecond-stamped version of the same second (``Z`` sorts after the digits).

``retraining/state.json`` in the artifacts bucket (written by the planner, read by the trigger)
records the newest batch a run was planned on; it lives here too because both sides must agree
on its key and its one field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from botocore.exceptions import ClientError

from functions.shared.aws import client
from functions.shared.observability import logger

__all__ = [
    "BATCH_FILE",
    "RETRAINING_STATE_KEY",
    "Batch",
    "batch_from_validation",
    "list_batches",
    "newest_batch",
    "parse_snapshot_key",
    "read_json_if_exists",
    "snapshot_key",
    "snapshot_version",
    "snapshots_prefix",
    "version_sort_key",
    "version_time",
]

RETRAINING_STATE_KEY = "retraining/state.json"
BATCH_FILE = "data.csv"  # a batch's data in its folder: snapshots/<dataset>/<datasetVersion>/data.csv
_VERSION_STAMP = re.compile(r"(\d{8}T\d{6})(\d{6})?Z(?:-|$)")
_EPOCH = datetime.min.replace(tzinfo=UTC)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class Batch:
    """One validated, curated file: what the planner windows over and the trigger retrains on."""

    dataset_version: str
    key: str
    rows: int
    positives: int
    time_range: dict[str, Any] | None
    origin: str
    etag: str | None = None
    # Ground-truth batches: how far the model that served these rows fell below its registered
    # holdout figure on them (``servedQuality.drop`` in validation.json); ``None`` otherwise.
    quality_drop: float | None = None

    @property
    def validated_at(self) -> datetime | None:
        """When the batch was validated, from its version stamp (``None`` for a foreign name)."""
        return version_time(self.dataset_version)

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return version_sort_key(self.dataset_version)


def snapshots_prefix(dataset: str) -> str:
    return f"snapshots/{dataset}/"


def snapshot_key(dataset: str, version: str) -> str:
    return f"{snapshots_prefix(dataset)}{version}/{BATCH_FILE}"


def parse_snapshot_key(dataset: str, key: str) -> tuple[str, str] | None:
    """``(datasetVersion, file name)`` for a file directly in a batch's folder
    (``snapshots/<dataset>/<datasetVersion>/<name>``), else ``None``."""
    prefix = snapshots_prefix(dataset)
    if not key.startswith(prefix):
        return None
    version, _, name = key[len(prefix) :].partition("/")
    if not version or not name or "/" in name:
        return None
    return version, name


def snapshot_version(dataset: str, key: str) -> str | None:
    """The datasetVersion when ``key`` is a batch's data file (the inverse of ``snapshot_key``)."""
    parts = parse_snapshot_key(dataset, key)
    return parts[0] if parts is not None and parts[1] == BATCH_FILE else None


def version_time(version: str) -> datetime | None:
    """The UTC moment in a ``datasetVersion`` (with or without microseconds), or ``None``."""
    match = _VERSION_STAMP.match(version)
    if not match:
        return None
    try:
        moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.replace(microsecond=int(match.group(2) or 0))


def version_sort_key(version: str) -> tuple[datetime, str]:
    """Sort by the parsed stamp, then the string; versions with no stamp sort first (oldest)."""
    return (version_time(version) or _EPOCH, version)


def read_json_if_exists(bucket: str, key: str) -> tuple[Any, datetime | None] | None:
    """``(document, LastModified)``, or ``None`` when the object does not exist.

    Other errors (access denied, throttling) propagate: treating them as "absent" would silently
    change a decision (e.g. retrain, or drop a deferred trigger) because of a transient fault.
    A body that is not JSON is reported as ``(None, LastModified)`` so callers can log it.
    """
    try:
        response = client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_KEY_CODES:
            return None
        raise
    body = response["Body"].read()
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        document = None
    return document, response.get("LastModified")


def batch_from_validation(version: str, key: str, report: Any, etag: str | None = None) -> Batch | None:
    """A Batch from its ``validation.json``, or ``None`` (logged) when the report is unusable.

    ``origin`` defaults to ``upload`` and ``timeRange`` to ``None``: reports written before the
    learning loop carry neither, and every such batch was an upload.
    """
    if not isinstance(report, dict):
        logger.warning("skipping a batch: validation.json is not a JSON object", extra={"datasetVersion": version})
        return None
    if report.get("valid") is False:
        logger.warning("skipping a batch: its validation failed", extra={"datasetVersion": version})
        return None
    rows, positives = report.get("rows"), report.get("positives", 0)
    if not _is_count(rows) or not _is_count(positives):
        logger.warning(
            "skipping a batch: validation.json lacks integer rows/positives",
            extra={"datasetVersion": version, "rows": rows, "positives": positives},
        )
        return None
    time_range = report.get("timeRange")
    origin = report.get("origin") or "upload"
    served = report.get("servedQuality")
    drop = served.get("drop") if isinstance(served, dict) else None
    return Batch(
        dataset_version=version,
        key=key,
        rows=int(rows),
        positives=int(positives),
        time_range=time_range if isinstance(time_range, dict) else None,
        origin=str(origin),
        etag=etag.strip('"') if etag else None,
        quality_drop=float(drop) if isinstance(drop, int | float) and not isinstance(drop, bool) else None,
    )


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _snapshot_objects(bucket: str, dataset: str) -> dict[str, tuple[str | None, bool]]:
    """``{version: (data.csv ETag, has validation.json)}`` for every version holding a data.csv."""
    data: dict[str, str | None] = {}
    reports: set[str] = set()
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=snapshots_prefix(dataset)):
        for obj in page.get("Contents", []):
            parts = parse_snapshot_key(dataset, obj["Key"])
            if parts is None:
                continue
            version, name = parts
            if name == BATCH_FILE:
                data[version] = obj.get("ETag")
            elif name == "validation.json":
                reports.add(version)
    return {version: (etag, version in reports) for version, etag in data.items()}


def _load(bucket: str, dataset: str, versions: Iterable[tuple[str, str | None, bool]]) -> Iterator[Batch]:
    for version, etag, has_report in versions:
        key = snapshot_key(dataset, version)
        if not has_report:
            logger.warning("skipping a batch: no validation.json beside it", extra={"datasetVersion": version})
            continue
        found = read_json_if_exists(bucket, f"{snapshots_prefix(dataset)}{version}/validation.json")
        batch = batch_from_validation(version, key, found[0] if found else None, etag)
        if batch is not None:
            yield batch


def list_batches(curated_bucket: str, dataset: str) -> list[Batch]:
    """Every usable batch of ``dataset``, oldest first (one ListObjectsV2 walk, one GET per batch)."""
    objects = _snapshot_objects(curated_bucket, dataset)
    ordered = sorted(objects, key=version_sort_key)
    return list(_load(curated_bucket, dataset, ((v, *objects[v]) for v in ordered)))


def newest_batch(curated_bucket: str, dataset: str) -> Batch | None:
    """The newest usable batch, reading validation.json newest first until one is usable."""
    objects = _snapshot_objects(curated_bucket, dataset)
    ordered = sorted(objects, key=version_sort_key, reverse=True)
    return next(_load(curated_bucket, dataset, ((v, *objects[v]) for v in ordered)), None)
