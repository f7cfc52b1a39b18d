"""One drift run: find the serving model, read the window's capture, judge it, publish, report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.drift.capture import CaptureWindow
from functions.drift.publish import drift_metrics, put_metrics
from functions.drift.serving import find_serving_model
from functions.drift.window import list_capture_objects, load_state, resolve_window, save_state
from functions.shared.aws import client
from functions.shared.config import code_path, code_schema, env_float, env_int, env_str
from functions.shared.errors import ConfigurationError, ServingError
from functions.shared.observability import logger
from functions.shared.s3 import get_json, parse_s3_uri, put_bytes, put_json, utc_stamp
from pipelines.drift import VerdictThresholds, assess_drift
from pipelines.drift.report import render_html
from pipelines.schema import DatasetSchema

__all__ = ["DriftSettings", "run_drift_check"]


@dataclass(frozen=True)
class DriftSettings:
    endpoint_name: str
    artifacts_bucket: str
    capture_prefix: str
    metric_namespace: str
    model_name: str
    window_minutes: int
    settle_seconds: int
    schema_path: str
    config: VerdictThresholds

    @classmethod
    def from_env(cls) -> DriftSettings:
        # Every variable is set by CDK from cdk.json's mlops.drift (infra/constructs/drift_monitoring.py,
        # SCHEMA_PATH on every function): no defaults here, a missing one is a ConfigurationError.
        try:
            config = VerdictThresholds(
                alpha=env_float("DRIFT_ALPHA"),
                min_psi=env_float("DRIFT_MIN_PSI"),
                min_ks=env_float("DRIFT_MIN_KS"),
                min_prediction_psi=env_float("DRIFT_MIN_PREDICTION_PSI"),
                min_records=env_int("DRIFT_MIN_RECORDS"),
            )
        except ValueError as exc:  # VerdictThresholds' own range checks
            raise ConfigurationError(f"DRIFT_* environment variables: {exc}") from exc
        return cls(
            endpoint_name=env_str("ENDPOINT_NAME"),
            artifacts_bucket=env_str("ARTIFACTS_BUCKET"),
            capture_prefix=env_str("CAPTURE_PREFIX"),
            metric_namespace=env_str("METRIC_NAMESPACE"),
            model_name=env_str("MODEL_NAME"),
            window_minutes=env_int("DRIFT_WINDOW_MINUTES", minimum=1),
            settle_seconds=env_int("DRIFT_SETTLE_SECONDS", minimum=0),
            # docs: SCHEMA_PATH = schema.json relative to the code root, set on every function.
            schema_path=code_path(env_str("SCHEMA_PATH")),
            config=config,
        )


def _read_window(settings: DriftSettings, prefix: str, objects: list[Any], schema: DatasetSchema) -> CaptureWindow:
    window = CaptureWindow(schema.features)
    s3 = client("s3")
    for obj in objects:
        body = s3.get_object(Bucket=settings.artifacts_bucket, Key=obj.key)["Body"]
        try:
            window.add_lines(body.iter_lines(), obj.key[len(prefix) :])
        finally:
            body.close()
    return window


def run_drift_check(event: dict[str, Any], settings: DriftSettings, now: datetime | None = None) -> dict[str, Any]:
    """See docs/ARCHITECTURE.md (drift); returns the verdict summary."""
    now = now or datetime.now(UTC)
    endpoint = settings.endpoint_name
    serving = find_serving_model(endpoint)
    if serving is None:
        logger.info("no endpoint to monitor", extra={"endpoint": endpoint})
        return {"verdict": "no_endpoint", "endpoint": endpoint, "driftDetected": False}

    baseline_location = parse_s3_uri(serving.baseline_uri)
    try:
        baseline = get_json(baseline_location.bucket, baseline_location.key)
    except client("s3").exceptions.NoSuchKey as exc:
        raise ServingError(f"baseline {serving.baseline_uri} of model {serving.model_name!r} does not exist") from exc

    bucket = settings.artifacts_bucket
    state = load_state(bucket, endpoint)
    window = resolve_window(event, state, now, settings.window_minutes, timedelta(seconds=settings.settle_seconds))
    prefix = f"{settings.capture_prefix}{endpoint}/"
    objects = list_capture_objects(bucket, prefix, window)
    schema = code_schema(settings.schema_path)
    capture = _read_window(settings, prefix, objects, schema)

    report = assess_drift(baseline, capture.columns, capture.predictions or None, config=settings.config)
    document = report.to_dict()
    document.update(
        endpoint=endpoint,
        model=settings.model_name,
        servingModel=serving.model_name,
        modelPackageArn=serving.model_package_arn,
        baselineUri=serving.baseline_uri,
        windowStart=window.start.isoformat(),
        windowEnd=window.end.isoformat(),
        explicitWindow=window.explicit,
        capture={
            "files": len(objects),
            "bytes": sum(o.size for o in objects),
            "requests": capture.requests,
            "rows": capture.rows,
            "predictions": len(capture.predictions),
            "skippedRequests": capture.skipped,
            "requestsWithUnmatchedPredictions": capture.unmatched_predictions,
            "problems": capture.problems,
        },
        generatedAt=now.isoformat(),
    )

    published = put_metrics(settings.metric_namespace, drift_metrics(document, settings.model_name, window.end))
    folder = f"drift/{endpoint}/{utc_stamp(window.end)}/"
    report_uri = put_json(bucket, folder + "report.json", document)
    html_uri = put_bytes(
        bucket, folder + "report.html", render_html(document, baseline).encode("utf-8"), "text/html; charset=utf-8"
    )

    if not window.explicit:
        # Insufficient data keeps the window's start, so its records count towards the next verdict.
        consumed = window.end if report.verdict != "insufficient_data" else window.start
        save_state(
            bucket,
            endpoint,
            {
                "windowEnd": consumed.isoformat(),
                "lastRun": now.isoformat(),
                "lastVerdict": report.verdict,
                "lastReport": report_uri,
            },
        )

    summary = {
        "verdict": report.verdict,
        "endpoint": endpoint,
        "servingModel": serving.model_name,
        "modelPackageArn": serving.model_package_arn,
        "windowStart": window.start.isoformat(),
        "windowEnd": window.end.isoformat(),
        "records": report.records,
        "captureFiles": len(objects),
        "skippedRequests": capture.skipped,
        "driftDetected": report.drift_detected,
        "driftShare": report.drift_share,
        "driftedFeatures": list(report.drifted_features),
        "predictionPsi": report.prediction_psi,
        "impact": report.impact,
        "metricsPublished": published,
        "report": {"json": report_uri, "html": html_uri},
    }
    logger.info("drift check finished", extra=summary)
    return summary
