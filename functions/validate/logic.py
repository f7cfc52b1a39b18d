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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar

from botocore.exceptions import ClientError

from functions.shared.batches import snapshot_version, snapshots_prefix
from functions.shared.config import code_path, code_schema, env_str
from functions.shared.contracts import ValidationSummary
from functions.shared.errors import DataValidationError
from functions.shared.observability import count, logger
from functions.shared.s3 import is_taken, put_json, s3_uri
from functions.validate.checks import ValidationResult, validate_csv
from functions.validate.source import SourceObject, copy_source_to, open_source

__all__ = ["ORIGINS", "ValidateSettings", "dataset_version", "validate_upload"]

MAX_FAILURES_IN_MESSAGE = 20  # keeps the Step Functions error cause well under its 32 KB limit
ORIGINS = ("upload", "ground_truth")  # validation.json ``origin`` values (docs/ARCHITECTURE.md)
VERSION_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
# A report is written only where none exists (If-None-Match): a run that finds its version or
# quarantine stamp taken by a concurrent one moves on by a microsecond, never overwrites it.
CLAIM_ATTEMPTS = 8
# A quarantine key is "<stamp>/<path-safe key>", and its report adds ".report.json": S3 keys are
# at most 1024 bytes.
MAX_QUARANTINED_KEY_BYTES = 1024 - len("20260101T000000000000Z/") - len(".report.json")
T = TypeVar("T")


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


def dataset_version(moment: datetime, sha256_hex: str) -> str:
    """``<UTC yyyymmddTHHMMSSffffffZ>-<first 12 hex of the content's sha256>``.

    Sortable and content-addressed. Microseconds, because batches are ordered by their version:
    two batches validated within the same second (an upload and a ground-truth file, say) must
    still sort in the order they were validated, not by their hash.
    """
    return f"{moment.astimezone(UTC).strftime(VERSION_STAMP_FORMAT)}-{sha256_hex[:12]}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(VERSION_STAMP_FORMAT)


def _claim(now: datetime, write: Callable[[datetime], T]) -> T:
    """``write(now)``, or at the next free microsecond when its conditional write lost to another run."""
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            return write(now + timedelta(microseconds=attempt))
        except ClientError as exc:
            if not is_taken(exc) or attempt + 1 == CLAIM_ATTEMPTS:
                raise
            logger.info("stamp taken by a concurrent validation; trying the next microsecond")
    raise AssertionError("unreachable")  # pragma: no cover


def _existing_snapshot_version(source: SourceObject, settings: ValidateSettings) -> str | None:
    """The datasetVersion when the source already IS a curated snapshot (a drift retraining).

    Re-snapshotting it would duplicate the data under a new version and break the lineage back to
    the upload it came from, so the existing version is kept.
    """
    if source.bucket != settings.curated_bucket:
        return None
    return snapshot_version(settings.dataset_name, source.key)


def validate_upload(
    state: Mapping[str, Any],
    settings: ValidateSettings,
    now: datetime | None = None,
    *,
    origin: str = "upload",
    served_quality: dict[str, Any] | None = None,
) -> ValidationSummary:
    """Validate the object named in the execution input and route it; see the module docstring.

    ``origin`` is recorded in the report (and returned) so the planner can tell uploaded batches
    from ones made of production traffic; it is the caller's to say, not guessed from the key.
    ``served_quality`` (ground-truth batches): how the serving model did on these very rows; the
    planner uses it to find where a concept change began (docs/ARCHITECTURE.md, "PlanTraining").
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {list(ORIGINS)}, got {origin!r}")
    now = now or datetime.now(UTC)
    schema = code_schema(settings.schema_path)
    source = SourceObject.from_state(state)
    reader, etag = open_source(source)
    try:
        # The bytes as read (and hashed): the validator decodes them itself, so a file that is not
        # UTF-8 is reported as such (``encoding``); `mlops validate` calls validate_csv the same way.
        buffered = io.BufferedReader(reader, buffer_size=1 << 20)  # held: its collection would close reader
        result = validate_csv(buffered, schema)
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
    *,
    copy: Callable[[str, str, str], None] | None = None,
) -> ValidationSummary:
    """``copy(etag, bucket, key)`` writes the snapshot's data.csv (default: CopyObject of the source);
    the distributed path passes its own (a multipart copy, or a manifest's parts concatenated)."""
    existing = _existing_snapshot_version(source, settings)
    write_data = copy or functools.partial(copy_source_to, source)

    def write(moment: datetime) -> tuple[str, str, str]:
        version = existing or dataset_version(moment, digest)
        prefix = f"{snapshots_prefix(settings.dataset_name)}{version}/"
        if existing:
            report_key = f"{prefix}revalidation-{_stamp(moment)}.json"
        else:
            # CopySourceIfMatch: the snapshot is byte-for-byte the version that was just validated.
            write_data(etag, settings.curated_bucket, f"{prefix}data.csv")
            report_key = f"{prefix}validation.json"
        document = {**report, "datasetVersion": version}
        return version, prefix, put_json(settings.curated_bucket, report_key, document, only_new=True)

    version, prefix, report_uri = _claim(now, write)
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
    *,
    copy: Callable[[str, str, str], None] | None = None,
) -> NoReturn:
    """Copy the object to quarantine with its report, count it, and fail the run with a clear error."""
    write_data = copy or functools.partial(copy_source_to, source)
    safe_key = source.path_safe_key(MAX_QUARANTINED_KEY_BYTES)  # never "..": see SourceObject.path_safe_key

    def write(moment: datetime) -> tuple[str, str]:
        key = f"{_stamp(moment)}/{safe_key}"
        write_data(etag, settings.quarantine_bucket, key)
        object_uri = s3_uri(settings.quarantine_bucket, key)
        document = {**report, "quarantinedObject": object_uri}
        return object_uri, put_json(settings.quarantine_bucket, f"{key}.report.json", document, only_new=True)

    object_uri, report_uri = _claim(now, write)
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
