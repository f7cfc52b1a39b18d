"""One ground-truth file: join it with the captured traffic, publish quality, add a labelled batch.

The steps (docs/ARCHITECTURE.md, "Ground truth"):

1. read the label file (a file that cannot be read is *rejected*: reported and logged, not
   retried, since a retry reads the same bytes; the caller fixes it and uploads a new one);
2. index the capture objects modified within the lookback by row id (only requests a label may
   refer to are decoded);
3. join, and score the joined rows with the captured probabilities and labels;
4. publish the quality metrics with PutMetricData (as the drift monitor does, so the local cloud's
   alarm evaluator sees them) and ``QualityDrop`` = the serving model's registered holdout value of
   ``QUALITY_METRIC`` minus the observed one, only with at least ``QUALITY_MIN_LABELS`` labels;
5. write the joined rows as a CSV under the incoming bucket's feedback prefix and validate it with
   the validate function's own code (origin ``ground_truth``): a new batch, or a quarantined file
   with its report; either way the label file is accounted for in the quality report.

The threshold and the holdout figures come from the model the endpoint serves *now* (endpoint ->
config -> model -> ``MLOPS_BASELINE_URI`` -> the sibling ``metrics.json``), the model the alarm's
retraining would replace. Captured JSON responses carry the label the endpoint returned, which is
used as is; only CSV responses (probabilities alone) need the threshold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from functions.drift.publish import put_metrics
from functions.drift.serving import find_serving_model
from functions.drift.window import Window, list_capture_objects
from functions.groundtruth.capture import CaptureIndex, request_ids
from functions.groundtruth.join import JoinResult, feedback_csv, join_labels, score
from functions.groundtruth.labels import LabelFile, LabelFileError, parse_labels
from functions.shared.aws import client
from functions.shared.config import code_path, code_schema, env_int, env_str
from functions.shared.errors import ConfigurationError, DataValidationError, ServingError
from functions.shared.observability import count, logger
from functions.shared.s3 import get_json, parse_s3_uri, put_json, s3_uri
from functions.validate.logic import ValidateSettings, validate_upload
from functions.validate.source import SourceObject, open_source
from pipelines.schema import DatasetSchema

__all__ = [
    "METRICS",
    "QUALITY_METRIC_KEYS",
    "GroundTruthSettings",
    "ServingReference",
    "process_label_file",
    "serving_reference",
]

# QUALITY_METRIC (metrics.json's snake_case names) -> the key of pipelines.quality's dict.
# pr_auc is a gate metric but is not computed on labelled traffic, so it is refused at config time.
QUALITY_METRIC_KEYS = {
    "roc_auc": "rocAuc",
    "accuracy": "accuracy",
    "f1": "f1",
    "precision": "precision",
    "recall": "recall",
}
# (quality key, CloudWatch metric name, unit), docs/ARCHITECTURE.md "Ground truth".
METRICS = (
    ("labelledRecords", "LabelledRecords", "Count"),
    ("accuracy", "Accuracy", "None"),
    ("rocAuc", "RocAuc", "None"),
    ("f1", "F1", "None"),
    ("precision", "Precision", "None"),
    ("recall", "Recall", "None"),
    ("labelPositiveRate", "LabelPositiveRate", "None"),
)
QUALITY_DROP = "QualityDrop"
# Microseconds, as in datasetVersion: two label files processed in the same second get their own
# report folder and feedback file.
STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
DEFAULT_THRESHOLD = 0.5  # only when the serving model's metrics.json cannot be read (reported)


@dataclass(frozen=True)
class GroundTruthSettings:
    artifacts_bucket: str
    capture_prefix: str
    endpoint_name: str
    incoming_bucket: str
    feedback_prefix: str
    dataset_name: str
    schema_path: str
    lookback_hours: int
    quality_metric: str
    min_labels: int
    metric_namespace: str
    model_name: str
    validate: ValidateSettings

    @classmethod
    def from_env(cls) -> GroundTruthSettings:
        metric = env_str("QUALITY_METRIC")
        if metric not in QUALITY_METRIC_KEYS:
            raise ConfigurationError(
                f"environment variable QUALITY_METRIC must be one of {sorted(QUALITY_METRIC_KEYS)}, got {metric!r}"
                + (" (pr_auc is not computed on labelled traffic)" if metric == "pr_auc" else "")
            )
        return cls(
            artifacts_bucket=env_str("ARTIFACTS_BUCKET"),
            capture_prefix=env_str("CAPTURE_PREFIX"),
            endpoint_name=env_str("ENDPOINT_NAME"),
            incoming_bucket=env_str("INCOMING_BUCKET"),
            feedback_prefix=env_str("FEEDBACK_PREFIX"),
            dataset_name=env_str("DATASET_NAME"),
            schema_path=code_path(env_str("SCHEMA_PATH")),
            lookback_hours=env_int("GROUND_TRUTH_LOOKBACK_HOURS", minimum=1),
            quality_metric=metric,
            min_labels=env_int("QUALITY_MIN_LABELS", minimum=1),
            metric_namespace=env_str("QUALITY_METRIC_NAMESPACE"),
            model_name=env_str("MODEL_NAME"),
            # The batch is validated exactly as an upload is, with the validate function's settings.
            validate=ValidateSettings.from_env(),
        )


@dataclass
class ServingReference:
    """What the serving model registered: its threshold and its holdout metrics (``challenger``)."""

    model_name: str | None = None
    model_package_arn: str | None = None
    metrics_uri: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    threshold_source: str = "default"
    registered: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "modelName": self.model_name,
            "modelPackageArn": self.model_package_arn,
            "metricsUri": self.metrics_uri,
            "threshold": self.threshold,
            "thresholdSource": self.threshold_source,
            "registered": self.registered,
            "error": self.error,
        }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def serving_reference(endpoint: str) -> ServingReference:
    """The serving model's threshold and holdout metrics; problems are recorded, not raised.

    Without them the labels still become a batch and the quality figures are still published;
    only ``QualityDrop`` (and, for CSV responses, the exact threshold) is missing, which the report
    says. Raising would lose the label file's batch for a monitoring gap.
    """
    reference = ServingReference()
    try:
        serving = find_serving_model(endpoint)
    except (ServingError, ClientError) as exc:
        reference.error = f"serving model unknown: {exc}"
        return reference
    if serving is None:
        reference.error = f"endpoint {endpoint!r} does not exist"
        return reference
    reference.model_name, reference.model_package_arn = serving.model_name, serving.model_package_arn
    try:
        baseline = parse_s3_uri(serving.baseline_uri)
        key = f"{baseline.key.rsplit('/', 1)[0]}/metrics.json" if "/" in baseline.key else "metrics.json"
        reference.metrics_uri = s3_uri(baseline.bucket, key)
        document = get_json(baseline.bucket, key)
    except (ValueError, ClientError) as exc:
        reference.error = f"metrics.json beside {serving.baseline_uri} cannot be read: {exc}"
        return reference
    challenger = document.get("challenger") if isinstance(document, dict) else None
    reference.registered = dict(challenger) if isinstance(challenger, dict) else {}
    threshold = _number(reference.registered.get("threshold"))
    if threshold is None and isinstance(document, dict) and isinstance(document.get("threshold"), dict):
        threshold = _number(document["threshold"].get("value"))
    if threshold is not None:
        reference.threshold, reference.threshold_source = threshold, "metrics.json"
    return reference


def _read_capture(
    settings: GroundTruthSettings, now: datetime, labels: LabelFile, schema: DatasetSchema
) -> CaptureIndex:
    """The captured rows labels may refer to, from objects modified within the lookback.

    A request served before the lookback is not found, so its late label is ``unknown``: the
    lookback bounds what one label file costs to join.
    """
    window = Window(now - timedelta(hours=settings.lookback_hours), now)
    prefix = f"{settings.capture_prefix}{settings.endpoint_name}/"
    index = CaptureIndex(schema.features, wanted=request_ids(labels.labels))
    s3 = client("s3")
    for obj in list_capture_objects(settings.artifacts_bucket, prefix, window):
        body = s3.get_object(Bucket=settings.artifacts_bucket, Key=obj.key)["Body"]
        fallback = obj.last_modified.astimezone(UTC).isoformat().replace("+00:00", "Z")
        try:
            index.add_lines(body.iter_lines(), obj.key[len(prefix) :], fallback)
        finally:
            body.close()
    return index


def _quality_drop(
    settings: GroundTruthSettings, quality: dict[str, Any], reference: ServingReference
) -> tuple[float | None, str | None, float | None]:
    """``(drop, why there is none, registered value)`` for QUALITY_METRIC."""
    registered = _number(reference.registered.get(settings.quality_metric))
    observed = quality.get(QUALITY_METRIC_KEYS[settings.quality_metric])
    if quality["labelledRecords"] < settings.min_labels:
        return None, f"{quality['labelledRecords']} labelled record(s), fewer than {settings.min_labels}", registered
    if observed is None:
        return None, f"{settings.quality_metric} is undefined on these labels (a single class?)", registered
    if registered is None:
        return None, reference.error or f"the serving model registered no {settings.quality_metric}", registered
    return registered - observed, None, registered


def _metric_data(quality: dict[str, Any], drop: float | None, model: str, when: datetime) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = []
    for key, name, unit in METRICS:
        value = quality.get(key)
        if value is not None:  # RocAuc with one class, every ratio with no labels: no datapoint
            data.append(_datum(name, value, unit, when, model))
    if drop is not None:
        data.append(_datum(QUALITY_DROP, drop, "None", when, model))
    return data


def _datum(name: str, value: float, unit: str, when: datetime, model: str) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": [{"Name": "Model", "Value": model}],
        "Timestamp": when,
        "Value": float(value),
        "Unit": unit,
    }


def _write_batch(
    joined: JoinResult,
    schema: DatasetSchema,
    settings: GroundTruthSettings,
    stamp: str,
    now: datetime,
    served_quality: dict[str, Any],
) -> dict[str, Any]:
    """Write the joined rows under the feedback prefix and validate them as a ground-truth batch."""
    if not joined.joined:
        return {"status": "none", "reason": "no label matched a captured row", "datasetVersion": None}
    body = feedback_csv(joined.joined, schema)
    key = f"{settings.feedback_prefix}{stamp}-{hashlib.sha256(body).hexdigest()[:12]}.csv"
    response = client("s3").put_object(Bucket=settings.incoming_bucket, Key=key, Body=body, ContentType="text/csv")
    state = {
        "reason": "ground_truth",
        "data": {
            "bucket": settings.incoming_bucket,
            "key": key,
            "versionId": response.get("VersionId"),
            "etag": str(response.get("ETag", "")).strip('"') or None,
        },
    }
    batch: dict[str, Any] = {"feedbackUri": s3_uri(settings.incoming_bucket, key), "rows": len(joined.joined)}
    try:
        validated = validate_upload(state, settings.validate, now, origin="ground_truth", served_quality=served_quality)
    except DataValidationError as exc:
        # The rows are kept (feedback file and quarantine copy with its report); the labels still
        # count for quality. Nothing to retry: the same rows would fail the same way.
        logger.warning("ground-truth batch quarantined", extra={"feedbackUri": batch["feedbackUri"]})
        return {**batch, "status": "quarantined", "datasetVersion": None, "error": str(exc)}
    return {
        **batch,
        "status": "curated",
        "datasetVersion": validated["datasetVersion"],
        "snapshot": validated["snapshot"],
        "validationReportUri": validated["reportUri"],
        "positives": validated["positives"],
    }


def _provenance(source: SourceObject, etag: str, data: bytes) -> dict[str, Any]:
    return {
        "bucket": source.bucket,
        "key": source.key,
        "versionId": source.version_id,
        "etag": etag.strip('"'),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }


def _read_label_object(source: SourceObject) -> tuple[bytes, str]:
    reader, etag = open_source(source)  # pinned by version id / ETag, as an upload is
    try:
        return reader.readall(), etag
    finally:
        reader.close()


def process_label_file(
    source: SourceObject, settings: GroundTruthSettings, now: datetime | None = None
) -> dict[str, Any]:
    """Run the steps of the module docstring for one label file; return the summary."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = now.strftime(STAMP_FORMAT)
    schema = code_schema(settings.schema_path)
    report_key = f"quality/{settings.endpoint_name}/{stamp}/report.json"
    data, etag = _read_label_object(source)
    report: dict[str, Any] = {
        "endpoint": settings.endpoint_name,
        "model": settings.model_name,
        "createdAt": now.isoformat(),
        "labelFile": _provenance(source, etag, data),
    }
    try:
        labels = parse_labels(data, schema.target_column, schema.time_column)
    except LabelFileError as exc:
        report.update(status="rejected", error=str(exc))
        report_uri = put_json(settings.artifacts_bucket, report_key, report)
        count("LabelFilesRejected")
        logger.error("label file rejected", extra={"labelFile": source.uri, "error": str(exc), "reportUri": report_uri})
        return {"status": "rejected", "labelFile": source.uri, "error": str(exc), "reportUri": report_uri}

    captured = _read_capture(settings, now, labels, schema)
    joined = join_labels(labels, captured)
    reference = serving_reference(settings.endpoint_name)
    quality = score(joined.joined, schema, reference.threshold)
    drop, no_drop_reason, registered = _quality_drop(settings, quality, reference)
    published = put_metrics(settings.metric_namespace, _metric_data(quality, drop, settings.model_name, now))
    served_quality = {
        "metric": settings.quality_metric,
        "observed": quality.get(QUALITY_METRIC_KEYS[settings.quality_metric]),
        "registered": registered,
        "drop": drop,
        "modelPackageArn": reference.model_package_arn,
    }
    batch = _write_batch(joined, schema, settings, stamp, now, served_quality)

    metrics = {**quality, "qualityDrop": drop}
    report.update(
        status="processed",
        lookback={
            "hours": settings.lookback_hours,
            "from": (now - timedelta(hours=settings.lookback_hours)).isoformat(),
            "to": now.isoformat(),
        },
        labels={**labels.to_dict(), "joined": len(joined.joined), "unknown": joined.unknown.to_dict()},
        capture=captured.to_dict(),
        servingModel=reference.to_dict(),
        quality=metrics,
        qualityMetric={
            "name": settings.quality_metric,
            "registered": registered,
            "observed": quality.get(QUALITY_METRIC_KEYS[settings.quality_metric]),
            "drop": drop,
            "minLabels": settings.min_labels,
            "reason": no_drop_reason,
        },
        metricsPublished={"namespace": settings.metric_namespace, "datapoints": published},
        batch=batch,
    )
    report_uri = put_json(settings.artifacts_bucket, report_key, report)
    summary = {
        "status": "processed",
        "labelFile": source.uri,
        "labels": labels.rows,
        "joined": len(joined.joined),
        "unknown": joined.unknown.count,
        "duplicates": labels.duplicates.count,
        "invalid": labels.invalid.count,
        "metrics": metrics,
        "datasetVersion": batch["datasetVersion"],
        "batch": {k: batch.get(k) for k in ("status", "datasetVersion", "feedbackUri", "error") if k in batch},
        "reportUri": report_uri,
    }
    logger.info("ground truth processed", extra={k: v for k, v in summary.items() if k != "metrics"})
    return summary
