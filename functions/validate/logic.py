"""The validate Lambda's decision: curated snapshot for good data, quarantine for bad data.

Nothing is lost and nothing is altered: both outcomes are server-side copies of the exact object
version that was checked (pinned by version id or ETag), and the source object is never deleted.

Every snapshot is one *batch* of the growing dataset (docs/ARCHITECTURE.md, "The learning loop"):
its ``validation.json`` records where it came from (``origin``: an upload, or ground truth joined
with captured traffic by the groundtruth function, which calls :func:`validate_upload` itself) and
the time range it covers, which is what the training planner reads to choose a window.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from functions.shared.aws import client
from functions.shared.config import code_path, env_str
from functions.shared.errors import DataValidationError
from functions.shared.observability import count, logger
from functions.shared.s3 import put_json, s3_uri, utc_stamp
from functions.validate.checks import ENCODING, ValidationResult, unreadable, validate_csv
from functions.validate.source import SourceObject, open_source
from pipelines.schema import DatasetSchema, load_schema

__all__ = ["ORIGINS", "ValidateSettings", "dataset_version", "validate_upload"]

MAX_FAILURES_IN_MESSAGE = 20  # keeps the Step Functions error cause well under its 32 KB limit
ORIGINS = ("upload", "ground_truth")  # validation.json ``origin`` values (docs/ARCHITECTURE.md)
VERSION_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True)
class ValidateSettings:
    schema_path: str
    curated_bucket: str
    quarantine_bucket: str
    dataset_name: str

    @classmethod
    def from_env(cls) -> ValidateSettings:
        return cls(
            schema_path=code_path(env_str("SCHEMA_PATH")),
            curated_bucket=env_str("CURATED_BUCKET"),
            quarantine_bucket=env_str("QUARANTINE_BUCKET"),
            dataset_name=env_str("DATASET_NAME"),
        )


@functools.lru_cache(maxsize=4)
def _schema(path: str) -> DatasetSchema:
    """Parsed once per warm container: the schema ships with the code and cannot change under it."""
    return load_schema(path)


def dataset_version(moment: datetime, sha256_hex: str) -> str:
    """``<UTC yyyymmddTHHMMSSffffffZ>-<first 12 hex of the content's sha256>``.

    Sortable and content-addressed. Microseconds, because batches are ordered by their version:
    two batches validated within the same second (an upload and a ground-truth file, say) must
    still sort in the order they were validated, not by their hash.
    """
    return f"{moment.astimezone(UTC).strftime(VERSION_STAMP_FORMAT)}-{sha256_hex[:12]}"


def _existing_snapshot_version(source: SourceObject, settings: ValidateSettings) -> str | None:
    """The datasetVersion when the source already IS a curated snapshot (a drift retraining).

    Re-snapshotting it would duplicate the data under a new version and break the lineage back to
    the upload it came from, so the existing version is kept.
    """
    if source.bucket != settings.curated_bucket:
        return None
    pattern = rf"snapshots/{re.escape(settings.dataset_name)}/([^/]+)/data\.csv"
    match = re.fullmatch(pattern, source.key)
    return match.group(1) if match else None


def validate_upload(
    state: dict[str, Any],
    settings: ValidateSettings,
    now: datetime | None = None,
    *,
    origin: str = "upload",
    served_quality: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate the object named in the execution input and route it; see the module docstring.

    ``origin`` is recorded in the report (and returned) so the planner can tell uploaded batches
    from ones made of production traffic; it is the caller's to say, not guessed from the key.
    ``served_quality`` (ground-truth batches): how the serving model did on these very rows; the
    planner uses it to find where a concept change began (docs/ARCHITECTURE.md, "PlanTraining").
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {list(ORIGINS)}, got {origin!r}")
    now = now or datetime.now(UTC)
    schema = _schema(settings.schema_path)
    source = SourceObject.from_state(state)
    reader, etag = open_source(source)
    try:
        text = io.TextIOWrapper(io.BufferedReader(reader, buffer_size=1 << 20), encoding="utf-8-sig", newline="")
        try:
            result = validate_csv(text, schema)
        except UnicodeDecodeError as exc:
            result = unreadable(
                schema, ENCODING, f"the file is not UTF-8 text ({exc.reason}: {exc.object[exc.start : exc.end]!r})"
            )
        reader.drain()
    finally:
        reader.close()
    digest = reader.sha256.hexdigest()
    provenance = {
        "bucket": source.bucket,
        "key": source.key,
        "versionId": source.version_id,
        "etag": etag.strip('"'),
        "sha256": digest,
        "bytes": reader.size,
    }
    report = {
        "dataset": settings.dataset_name,
        "validatedAt": now.isoformat(),
        "origin": origin,
        "source": provenance,
        **result.to_dict(),
    }
    if served_quality is not None:
        report["servedQuality"] = served_quality
    logger.info(
        "validation finished",
        extra={"valid": result.valid, "rows": result.rows, "failures": len(result.failures), **provenance},
    )
    if not result.valid:
        _quarantine(source, etag, report, result, settings, now)
    return _snapshot(source, etag, report, result, settings, now, digest)


def _snapshot(
    source: SourceObject,
    etag: str,
    report: dict[str, Any],
    result: ValidationResult,
    settings: ValidateSettings,
    now: datetime,
    digest: str,
) -> dict[str, Any]:
    existing = _existing_snapshot_version(source, settings)
    version = existing or dataset_version(now, digest)
    prefix = f"snapshots/{settings.dataset_name}/{version}/"
    if existing:
        report_key = f"{prefix}revalidation-{utc_stamp(now)}.json"
    else:
        # CopySourceIfMatch: the snapshot is byte-for-byte the version that was just validated.
        client("s3").copy_object(
            Bucket=settings.curated_bucket,
            Key=f"{prefix}data.csv",
            CopySource=source.copy_source(),
            CopySourceIfMatch=etag,
            MetadataDirective="COPY",
        )
        report_key = f"{prefix}validation.json"
    report_uri = put_json(settings.curated_bucket, report_key, {**report, "datasetVersion": version})
    logger.info("snapshot curated", extra={"datasetVersion": version, "reportUri": report_uri})
    return {
        "dataset": settings.dataset_name,
        "datasetVersion": version,
        "snapshot": {
            "bucket": settings.curated_bucket,
            "key": f"{prefix}data.csv",
            "prefixUri": s3_uri(settings.curated_bucket, prefix),
        },
        "reportUri": report_uri,
        "rows": result.rows,
        "positives": result.positives,
        "sha256": digest,
        "origin": report["origin"],
    }


def _quarantine(
    source: SourceObject,
    etag: str,
    report: dict[str, Any],
    result: ValidationResult,
    settings: ValidateSettings,
    now: datetime,
) -> NoReturn:
    """Copy the object to quarantine with its report, count it, and fail the run with a clear error."""
    key = f"{utc_stamp(now)}/{source.key}"
    client("s3").copy_object(
        Bucket=settings.quarantine_bucket,
        Key=key,
        CopySource=source.copy_source(),
        CopySourceIfMatch=etag,
        MetadataDirective="COPY",
    )
    object_uri = s3_uri(settings.quarantine_bucket, key)
    report_uri = put_json(settings.quarantine_bucket, f"{key}.report.json", {**report, "quarantinedObject": object_uri})
    count("ValidationFailed")
    logger.warning("data quarantined", extra={"quarantinedObject": object_uri, "reportUri": report_uri})
    raise DataValidationError(_message(source, result, object_uri, report_uri))


def _message(source: SourceObject, result: ValidationResult, object_uri: str, report_uri: str) -> str:
    listed = [f"- {failure.summary()}" for failure in result.failures[:MAX_FAILURES_IN_MESSAGE]]
    if len(result.failures) > MAX_FAILURES_IN_MESSAGE:
        listed.append(f"- ... and {len(result.failures) - MAX_FAILURES_IN_MESSAGE} more (see the report)")
    return (
        f"{source.uri} failed validation against schema {result.schema!r} "
        f"({len(result.failures)} failed check(s)):\n"
        + "\n".join(listed)
        + f"\nQuarantined as {object_uri}; report: {report_uri}"
    )
