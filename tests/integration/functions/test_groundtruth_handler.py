"""groundtruth against moto: capture in S3, a serving model, CloudWatch metrics, a curated batch.

Capture objects are written as the local endpoint writes them (one JSON line per request, the
caller's InferenceId in ``eventMetadata.inferenceId``), with real AI4I rows as inputs, in several
encodings, one or many rows per request, JSON and CSV responses. Probabilities are synthetic but
tied to the true label so that the ROC AUC is known to be high and not perfect.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from functions.groundtruth.handler import lambda_handler
from functions.groundtruth.logic import GroundTruthSettings, process_label_file
from functions.shared.errors import ConfigurationError, UnsupportedEventError
from functions.validate.source import SourceObject
from pipelines.quality import classification_quality
from pipelines.schema import load_schema

ROOT = Path(__file__).resolve().parents[3]
INCOMING = "mlops-incoming-123456789012"
CURATED = "mlops-curated-123456789012"
QUARANTINE = "mlops-quarantine-123456789012"
ARTIFACTS = "mlops-artifacts-123456789012"
ENDPOINT = "ai4i-failure"
JOB = "train-upload-0123456789abcdef0123456789abcdef"
NAMESPACE = "MLOps/Quality"
REGISTERED = {"roc_auc": 0.99, "pr_auc": 0.8, "f1": 0.7, "precision": 0.7, "recall": 0.7, "accuracy": 0.98}
THRESHOLD = 0.45


@pytest.fixture
def env(aws, monkeypatch, schema_path):
    for name, value in {
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "CAPTURE_PREFIX": "datacapture/",
        "ENDPOINT_NAME": ENDPOINT,
        "INCOMING_BUCKET": INCOMING,
        "FEEDBACK_PREFIX": "feedback/",
        "CURATED_BUCKET": CURATED,
        "QUARANTINE_BUCKET": QUARANTINE,
        "DATASET_NAME": "ai4i2020",
        "SCHEMA_PATH": str(schema_path),
        "GROUND_TRUTH_LOOKBACK_HOURS": "168",
        "QUALITY_METRIC": "roc_auc",
        "QUALITY_MIN_LABELS": "100",
        "QUALITY_METRIC_NAMESPACE": NAMESPACE,
        "MODEL_NAME": "ai4i-failure",
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3")
    for bucket in (INCOMING, CURATED, QUARANTINE, ARTIFACTS):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=INCOMING, VersioningConfiguration={"Status": "Enabled"})
    return s3


@pytest.fixture
def serving(env):
    """The endpoint serves a model whose baseline sits beside its metrics.json (threshold, holdout)."""
    env.put_object(Bucket=ARTIFACTS, Key=f"reports/{JOB}/baseline.json", Body=b"{}")
    metrics = {"challenger": {**REGISTERED, "threshold": THRESHOLD}, "champion": None}
    env.put_object(Bucket=ARTIFACTS, Key=f"reports/{JOB}/metrics.json", Body=json.dumps(metrics).encode())
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(
        ModelName=f"model-{JOB}",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/mlops-sagemaker",
        PrimaryContainer={
            "Image": "sklearn",
            "ModelDataUrl": f"s3://{ARTIFACTS}/training/{JOB}/output/model.tar.gz",
            "Environment": {"MLOPS_BASELINE_URI": f"s3://{ARTIFACTS}/reports/{JOB}/baseline.json"},
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"config-{JOB}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"model-{JOB}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"config-{JOB}")


@pytest.fixture(scope="module")
def table() -> list[dict]:
    with (ROOT / "data" / "ai4i2020.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _features() -> list[str]:
    return list(load_schema(ROOT / "schemas" / "ai4i2020.schema.json").feature_names)


def probability(row: dict, rng: random.Random) -> float:
    """High for failures, low otherwise, with overlap: a good but imperfect model."""
    base = 0.7 if row["Machine failure"] == "1" else 0.15
    return round(min(1.0, max(0.0, base + rng.gauss(0, 0.15))), 4)


def capture_records(rows: list[dict], seed: int = 0) -> tuple[list[str], dict[str, tuple[dict, float, int]]]:
    """Capture lines for ``rows`` and, per label id, (row, probability, predicted label)."""
    rng = random.Random(seed)
    features = _features()
    lines: list[str] = []
    truth: dict[str, tuple[dict, float, int]] = {}
    i = 0
    while i < len(rows):
        size = 1 if len(lines) % 3 else rng.randint(2, 6)
        batch, i = rows[i : i + size], i + size
        request = f"req-{len(lines)}"
        style = len(lines) % 4
        values = [[r[f] for f in features] for r in batch]
        probabilities = [probability(r, rng) for r in batch]
        if style == 0:
            data, ctype, enc = "\n".join(",".join(v) for v in values) + "\n", "text/csv", "CSV"
        elif style == 1:
            text = "\n".join(",".join(v) for v in [features, *values]) + "\n"
            data, ctype, enc = base64.b64encode(text.encode()).decode(), "text/csv", "BASE64"
        else:  # JSON instances, numbers as numbers (integral columns arrive as floats)
            instances = [{f: (r[f] if f == "Type" else float(r[f])) for f in features} for r in batch]
            data, ctype, enc = json.dumps({"instances": instances}), "application/json", "JSON"
        if style % 2:  # CSV response: probabilities only, the threshold decides the label
            output = {
                "observedContentType": "text/csv",
                "mode": "OUTPUT",
                "encoding": "CSV",
                "data": "".join(f"{p}\n" for p in probabilities),
            }
            predicted = [int(p >= THRESHOLD) for p in probabilities]
        else:  # JSON response: the endpoint's own label (here at 0.5, so it differs from the threshold)
            predicted = [int(p >= 0.5) for p in probabilities]
            pairs = zip(probabilities, predicted, strict=True)
            body = {"predictions": [{"probability": p, "label": y} for p, y in pairs]}
            output = {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "encoding": "JSON",
                "data": json.dumps(body),
            }
        record = {
            "captureData": {
                "endpointInput": {"observedContentType": ctype, "mode": "INPUT", "data": data, "encoding": enc},
                "endpointOutput": output,
            },
            "eventMetadata": {
                "eventId": f"e{len(lines)}",
                "inferenceId": request,
                "inferenceTime": "2026-11-12T17:00:00.123Z",
            },
            "eventVersion": "0",
        }
        lines.append(json.dumps(record))
        ids = [request] if len(batch) == 1 else [f"{request}:{k}" for k in range(len(batch))]
        for label_id, row, p, y in zip(ids, batch, probabilities, predicted, strict=True):
            truth[label_id] = (row, p, y)
    # and one request without an InferenceId, which nothing can be joined to
    lines.append(json.dumps({"captureData": json.loads(lines[0])["captureData"], "eventMetadata": {"eventId": "x"}}))
    return lines, truth


def put_capture(s3, lines: list[str], parts: int = 3) -> None:
    now = datetime.now(UTC)
    for n in range(parts):
        chunk = lines[n::parts]
        key = f"datacapture/{ENDPOINT}/AllTraffic/{now:%Y/%m/%d/%H}/{n:02d}-part.jsonl"
        s3.put_object(Bucket=ARTIFACTS, Key=key, Body=("\n".join(chunk) + "\n").encode())


def label_file(ids_and_labels: list[tuple[str, str]], extra: str = "") -> bytes:
    return ("inferenceId,label\n" + "".join(f"{i},{y}\n" for i, y in ids_and_labels) + extra).encode()


def event(s3, key: str, body: bytes) -> dict:
    response = s3.put_object(Bucket=INCOMING, Key=key, Body=body)
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-12T00:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{INCOMING}"],
        "detail": {
            "version": "0",
            "bucket": {"name": INCOMING},
            "object": {
                "key": key,
                "size": len(body),
                "etag": response["ETag"].strip('"'),
                "version-id": response["VersionId"],
                "sequencer": "617f08299329d189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject",
        },
    }


def metric_maximum(name: str) -> float | None:
    now = datetime.now(UTC)
    points = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "Model", "Value": "ai4i-failure"}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max(p["Maximum"] for p in points) if points else None


def read_json(s3, uri: str) -> dict:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_labels_join_capture_publish_quality_and_become_a_ground_truth_batch(env, serving, table, lambda_context):
    rows = table[:400]
    lines, truth = capture_records(rows)
    put_capture(env, lines)
    ids = list(truth)
    labels = [(i, truth[i][0]["Machine failure"]) for i in ids]
    extra = f"{ids[0]},0\nnobody-sent-this,1\nlost-too,0\n{ids[1]},7\n"  # a duplicate, 2 unknown, 1 invalid
    body = label_file([*labels[1:], labels[0]], extra)  # ids[1] is a good label first, then invalid

    summary = lambda_handler(event(env, "ground-truth/2026-11-12.csv", body), lambda_context)

    assert summary["status"] == "processed"
    assert (summary["joined"], summary["unknown"], summary["duplicates"], summary["invalid"]) == (400, 2, 1, 1)
    expected = classification_quality(
        [int(truth[i][0]["Machine failure"]) for i in ids],
        [truth[i][1] for i in ids],
        [truth[i][2] for i in ids],
    )
    metrics = summary["metrics"]
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key
    assert 0.8 < metrics["rocAuc"] < 1.0
    assert metrics["qualityDrop"] == pytest.approx(REGISTERED["roc_auc"] - metrics["rocAuc"])

    # CloudWatch has every figure under the quality namespace, dimension Model
    for name, key in [
        ("LabelledRecords", "labelledRecords"),
        ("RocAuc", "rocAuc"),
        ("Accuracy", "accuracy"),
        ("F1", "f1"),
        ("Precision", "precision"),
        ("Recall", "recall"),
        ("LabelPositiveRate", "labelPositiveRate"),
        ("QualityDrop", "qualityDrop"),
    ]:
        assert metric_maximum(name) == pytest.approx(metrics[key]), name

    report = read_json(env, summary["reportUri"])
    assert summary["reportUri"].startswith(f"s3://{ARTIFACTS}/quality/{ENDPOINT}/")
    assert report["labels"]["unknown"]["count"] == 2
    assert [e["inferenceId"] for e in report["labels"]["unknown"]["examples"]] == ["nobody-sent-this", "lost-too"]
    assert report["labels"]["duplicates"]["examples"][0]["inferenceId"] == ids[0]
    assert report["labels"]["invalid"]["examples"][0]["inferenceId"] == ids[1]
    assert report["capture"]["unidentifiedRequests"] == 1 and report["capture"]["objects"] == 3
    assert report["servingModel"]["threshold"] == THRESHOLD and report["servingModel"]["error"] is None
    assert report["quality"]["predictedByThreshold"] > 0
    assert report["qualityMetric"]["registered"] == REGISTERED["roc_auc"]

    # the joined rows are a new curated batch, validated like an upload, origin ground_truth
    assert report["batch"]["status"] == "curated"
    version = summary["datasetVersion"]
    assert version and summary["batch"]["feedbackUri"].startswith(f"s3://{INCOMING}/feedback/")
    validation = read_json(env, f"s3://{CURATED}/snapshots/ai4i2020/{version}/validation.json")
    assert validation["origin"] == "ground_truth" and validation["valid"] is True
    assert validation["rows"] == 400 and validation["positives"] == sum(r["Machine failure"] == "1" for r in rows)
    data = env.get_object(Bucket=CURATED, Key=f"snapshots/ai4i2020/{version}/data.csv")["Body"].read().decode()
    header = next(csv.reader(io.StringIO(data)))
    assert header == [*_features(), "Machine failure"]  # no UDI, Product ID or leak columns


def test_late_labels_outside_the_lookback_are_unknown_and_make_no_batch(env, serving, table):
    lines, truth = capture_records(table[:50])
    put_capture(env, lines, parts=1)
    env.put_object(Bucket=INCOMING, Key="ground-truth/late.csv", Body=label_file([(i, "0") for i in truth]))
    later = datetime.now(UTC) + timedelta(hours=169)  # the capture is now older than the 168 h lookback

    summary = process_label_file(SourceObject(INCOMING, "ground-truth/late.csv"), GroundTruthSettings.from_env(), later)

    assert summary["joined"] == 0 and summary["unknown"] == len(truth)
    assert summary["datasetVersion"] is None and summary["batch"]["status"] == "none"
    assert summary["metrics"]["labelledRecords"] == 0 and summary["metrics"]["qualityDrop"] is None
    assert "Contents" not in env.list_objects_v2(Bucket=CURATED)


def test_a_small_batch_is_quarantined_and_too_few_labels_publish_no_quality_drop(env, serving, table, lambda_context):
    lines, truth = capture_records(table[:60])
    put_capture(env, lines)
    body = label_file([(i, truth[i][0]["Machine failure"]) for i in truth])

    summary = lambda_handler(
        {
            "bucket": INCOMING,
            "key": "ground-truth/few.csv",
            "versionId": env.put_object(Bucket=INCOMING, Key="ground-truth/few.csv", Body=body)["VersionId"],
        },
        lambda_context,
    )

    assert summary["joined"] == 60
    assert summary["batch"]["status"] == "quarantined" and "min_rows" in summary["batch"]["error"]
    assert summary["datasetVersion"] is None
    assert summary["metrics"]["qualityDrop"] is None
    assert metric_maximum("LabelledRecords") == 60 and metric_maximum("QualityDrop") is None
    report = read_json(env, summary["reportUri"])
    assert "fewer than 100" in report["qualityMetric"]["reason"]
    assert len(env.list_objects_v2(Bucket=QUARANTINE)["Contents"]) == 2  # the file and its report
    assert "Contents" not in env.list_objects_v2(Bucket=CURATED)


def test_a_malformed_label_file_is_rejected_with_a_report_not_a_crash(env, serving, lambda_context):
    summary = lambda_handler(event(env, "ground-truth/bad.csv", b"id;label\nx;1\n"), lambda_context)

    assert summary["status"] == "rejected"
    assert "lacks ['inferenceId', 'label']" in summary["error"]
    report = read_json(env, summary["reportUri"])
    assert report["status"] == "rejected" and report["error"] == summary["error"]
    assert report["labelFile"]["key"] == "ground-truth/bad.csv"
    assert "Contents" not in env.list_objects_v2(Bucket=INCOMING, Prefix="feedback/")


def test_without_a_serving_model_quality_is_published_but_no_drop(env, table, lambda_context):
    lines, truth = capture_records(table[:300])
    put_capture(env, lines)
    body = label_file([(i, truth[i][0]["Machine failure"]) for i in truth])

    summary = lambda_handler(event(env, "ground-truth/orphan.csv", body), lambda_context)

    assert summary["joined"] == 300 and summary["metrics"]["qualityDrop"] is None
    report = read_json(env, summary["reportUri"])
    assert "does not exist" in report["servingModel"]["error"]
    assert report["servingModel"]["thresholdSource"] == "default"
    assert summary["batch"]["status"] == "curated"


def test_other_keys_events_and_configuration(env, lambda_context, monkeypatch):
    assert lambda_handler({"bucket": INCOMING, "key": "ground-truth/"}, lambda_context)["skipped"] == "ignored_key"
    with pytest.raises(UnsupportedEventError):
        lambda_handler({"source": "aws.events"}, lambda_context)
    monkeypatch.setenv("QUALITY_METRIC", "pr_auc")
    with pytest.raises(ConfigurationError, match="pr_auc is not computed"):
        GroundTruthSettings.from_env()
    monkeypatch.setenv("QUALITY_METRIC", "roc_auc")
    monkeypatch.delenv("QUARANTINE_BUCKET")
    with pytest.raises(ConfigurationError, match="QUARANTINE_BUCKET"):
        GroundTruthSettings.from_env()
