"""drift against moto (SageMaker endpoint lookup, S3 capture, CloudWatch metrics).

The baseline is the real one the training script builds (``pipelines.drift.build_baseline`` on the
first 3,000 AI4I rows, with the model's holdout predictions); capture files hold AI4I rows in
SageMaker's data-capture format, in every input encoding the endpoint accepts, with the real model's
predictions as outputs -- once as drawn, once with a one-standard-deviation torque shift.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from functions.drift.handler import lambda_handler
from functions.drift.logic import DriftSettings, run_drift_check
from functions.shared.errors import ConfigurationError, ServingError
from pipelines.inference import load_model, predict_fn
from pipelines.schema import load_schema

ARTIFACTS = "mlops-artifacts-123456789012"
ENDPOINT = "ai4i-failure"
JOB = "train-upload-0123456789abcdef0123456789abcdef"
BASELINE_URI = f"s3://{ARTIFACTS}/reports/{JOB}/baseline.json"
PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/ai4i-failure/1"
CAPTURE = f"datacapture/{ENDPOINT}/AllTraffic/"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"


@pytest.fixture
def env(aws, monkeypatch, schema_path):
    for name, value in {
        "ENDPOINT_NAME": ENDPOINT,
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "CAPTURE_PREFIX": "datacapture/",
        "DRIFT_WINDOW_MINUTES": "60",
        "DRIFT_SETTLE_SECONDS": "120",
        "DRIFT_MIN_RECORDS": "200",
        "DRIFT_ALPHA": "0.01",
        "DRIFT_MIN_PSI": "0.1",
        "DRIFT_MIN_KS": "0.1",
        "DRIFT_MIN_PREDICTION_PSI": "0.1",
        "METRIC_NAMESPACE": "MLOps/Drift",
        "MODEL_NAME": "ai4i-failure",
        "SCHEMA_PATH": str(schema_path),
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)


@pytest.fixture
def serving(env, training_run):
    """A deployed model whose environment points at the training run's baseline."""
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=ARTIFACTS,
        Key=f"reports/{JOB}/baseline.json",
        Body=(training_run.output_dir / "baseline.json").read_bytes(),
    )
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(
        ModelName=f"model-{JOB}",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/mlops-sagemaker",
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": f"s3://{ARTIFACTS}/training/{JOB}/output/model.tar.gz",
            "Environment": {"MLOPS_BASELINE_URI": BASELINE_URI, "MLOPS_MODEL_PACKAGE_ARN": PACKAGE_ARN},
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
    return sagemaker


@pytest.fixture(scope="module")
def traffic(training_run):
    """Builds capture JSONL for ``n`` AI4I rows (optionally shifted) with the real model's outputs."""
    schema = load_schema(training_run.model_dir / "schema.json")
    model = load_model(training_run.model_dir)
    features = list(schema.feature_names)
    with training_run.train_csv.open(newline="") as handle:
        table = [{k: row[k] for k in features} for row in csv.DictReader(handle)]
    # In-distribution traffic comes from the rows the model was trained on: the holdout is the newest
    # 20 %, and AI4I's temperatures drift for real in file order (data/README.md).
    metrics = json.loads((training_run.output_dir / "metrics.json").read_text())
    table = table[: metrics["data"]["trainRows"]]

    def build(n: int, seed: int, torque_shift: float = 0.0) -> bytes:
        rng = random.Random(seed)
        rows = [dict(r) for r in rng.sample(table, n)]
        for row in rows:
            row["Torque [Nm]"] = f"{float(row['Torque [Nm]']) + torque_shift:.1f}"
        lines, i = [], 0
        while i < n:
            size = rng.randint(1, 12)
            batch, i = rows[i : i + size], i + size
            lines.append(_capture_line(batch, features, model, style=len(lines) % 4))
        return ("\n".join(lines) + "\n").encode()

    return build


def _capture_line(batch: list[dict], features: list[str], model, style: int) -> str:
    values = [[row[f] for f in features] for row in batch]
    probabilities = predict_fn(values, model).probabilities
    if style == 0:  # header-less CSV in, JSON out
        data, ctype, enc = _csv(values), "text/csv", "CSV"
    elif style == 1:  # CSV with a header, base64-encoded as SageMaker does for binary-safe capture
        data, ctype, enc = base64.b64encode(_csv([features, *values]).encode()).decode(), "text/csv", "BASE64"
    elif style == 2:  # JSON instances (numbers as numbers)
        instances = [{f: (row[f] if f == "Type" else float(row[f])) for f in features} for row in batch]
        data, ctype, enc = json.dumps({"instances": instances}), "application/json", "JSON"
    else:  # JSON list of arrays
        data, ctype, enc = json.dumps(values), "application/json", "JSON"
    if style % 2:
        output = {
            "observedContentType": "text/csv",
            "mode": "OUTPUT",
            "encoding": "CSV",
            "data": "".join(f"{p!r}\n" for p in probabilities),
        }
    else:
        output = {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "encoding": "JSON",
            "data": json.dumps({"predictions": [{"probability": p, "label": int(p >= 0.5)} for p in probabilities]}),
        }
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": ctype, "mode": "INPUT", "data": data, "encoding": enc},
                "endpointOutput": output,
            },
            "eventMetadata": {
                "eventId": "00000000-0000-0000-0000-000000000000",
                "inferenceTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "eventVersion": "0",
        }
    )


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def put_capture(body: bytes, name: str) -> str:
    """Write a capture file where SageMaker would: <variant>/yyyy/mm/dd/hh/<name>.jsonl."""
    key = f"{CAPTURE}{datetime.now(UTC):%Y/%m/%d/%H}/{name}.jsonl"
    boto3.client("s3").put_object(Bucket=ARTIFACTS, Key=key, Body=body)
    return key


def explicit_window() -> dict:
    now = datetime.now(UTC)
    return {
        "windowStart": (now - timedelta(hours=1)).isoformat(),
        "windowEnd": (now + timedelta(minutes=1)).isoformat(),
    }


def statistics(metric: str, **dimensions: str) -> list[dict]:
    now = datetime.now(UTC)
    return boto3.client("cloudwatch").get_metric_statistics(
        Namespace="MLOps/Drift",
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(days=1),
        EndTime=now + timedelta(days=1),
        Period=60,
        Statistics=["Maximum", "Sum", "SampleCount"],
    )["Datapoints"]


def datapoints(metric: str, **dimensions: str) -> list[float]:
    """The maximum of each minute that has data (these tests publish one window per metric)."""
    return [d["Maximum"] for d in statistics(metric, **dimensions)]


def _assert_camel_case(document: object, where: str = "report") -> None:
    """Every key of report.json, at every depth, is camelCase (docs/ARCHITECTURE.md)."""
    if isinstance(document, dict):
        for key, value in document.items():
            assert "_" not in key and key[:1].islower(), f"{where}.{key} is not camelCase"
            _assert_camel_case(value, f"{where}.{key}")
    elif isinstance(document, list):
        for i, item in enumerate(document):
            _assert_camel_case(item, f"{where}[{i}]")


def report_keys() -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS, Prefix=f"drift/{ENDPOINT}/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_unshifted_traffic_is_no_drift_and_every_metric_is_published(serving, traffic, lambda_context):
    put_capture(traffic(400, seed=1), "part-1")

    result = lambda_handler(explicit_window(), lambda_context)

    assert result["verdict"] == "no_drift" and result["driftDetected"] is False
    assert result["records"] == 400 and result["skippedRequests"] == 0
    assert result["servingModel"] == f"model-{JOB}" and result["modelPackageArn"] == PACKAGE_ARN
    assert datapoints("DriftDetected", Model="ai4i-failure") == [0.0]
    assert datapoints("InsufficientData", Model="ai4i-failure") == [0.0]
    assert datapoints("WindowRecords", Model="ai4i-failure") == [400.0]
    assert len(datapoints("PredictionPSI", Model="ai4i-failure")) == 1
    assert len(datapoints("FeaturePSI", Model="ai4i-failure", Feature="Torque [Nm]")) == 1
    assert len(datapoints("FeatureKS", Model="ai4i-failure", Feature="Torque [Nm]")) == 1
    assert datapoints("FeatureKS", Model="ai4i-failure", Feature="Type") == []  # KS is numeric-only
    assert len(datapoints("FeaturePSI", Model="ai4i-failure", Feature="Type")) == 1
    (json_key,) = [k for k in report_keys() if k.endswith("/report.json")]
    (html_key,) = [k for k in report_keys() if k.endswith("/report.html")]
    report = json.loads(boto3.client("s3").get_object(Bucket=ARTIFACTS, Key=json_key)["Body"].read())
    assert report["verdict"] == "no_drift" and report["capture"]["rows"] == 400
    assert report["baselineUri"] == BASELINE_URI and report["explicitWindow"] is True
    _assert_camel_case(report)
    assert report["config"] == {"alpha": 0.01, "minPsi": 0.1, "minKs": 0.1, "minRecords": 200, "minPredictionPsi": 0.1}
    assert report["driftDetected"] is False and report["driftedFeatures"] == []
    assert report["predictionPsi"] == result["predictionPsi"] and report["driftShare"] == result["driftShare"]
    torque = next(f for f in report["features"] if f["name"] == "Torque [Nm]")
    assert torque["ksStatistic"] is not None and torque["ksPvalue"] is not None and torque["windowProportions"]
    html = boto3.client("s3").get_object(Bucket=ARTIFACTS, Key=html_key)["Body"].read().decode()
    assert "<html" in html.lower() and "Torque [Nm]" in html
    assert f"drift/{ENDPOINT}/state.json" not in report_keys()  # an explicit window never moves the state


def test_a_torque_shift_is_detected_and_reaches_the_predictions(serving, traffic, lambda_context):
    calm_key = put_capture(traffic(400, seed=1), "calm")
    calm = lambda_handler(explicit_window(), lambda_context)
    boto3.client("s3").delete_object(Bucket=ARTIFACTS, Key=calm_key)
    put_capture(traffic(400, seed=1, torque_shift=10.0), "shifted")

    shifted = lambda_handler(explicit_window(), lambda_context)

    assert shifted["verdict"] == "drift" and shifted["driftDetected"] is True
    assert "Torque [Nm]" in shifted["driftedFeatures"]
    assert "Air temperature [K]" not in shifted["driftedFeatures"]
    assert shifted["predictionPsi"] > calm["predictionPsi"]
    published = statistics("DriftDetected", Model="ai4i-failure")
    assert sum(d["SampleCount"] for d in published) == 2 and sum(d["Sum"] for d in published) == 1.0


def test_too_few_records_publish_no_verdict(serving, traffic, lambda_context):
    put_capture(traffic(50, seed=2), "sparse")

    result = lambda_handler(explicit_window(), lambda_context)

    assert result["verdict"] == "insufficient_data" and result["records"] == 50
    assert datapoints("InsufficientData", Model="ai4i-failure") == [1.0]
    assert datapoints("WindowRecords", Model="ai4i-failure") == [50.0]
    assert datapoints("DriftDetected", Model="ai4i-failure") == []
    assert datapoints("FeaturePSI", Model="ai4i-failure", Feature="Torque [Nm]") == []


def test_scheduled_runs_chain_windows_and_carry_sparse_windows_over(serving, traffic):
    settings = DriftSettings.from_env()
    put_capture(traffic(50, seed=3), "early")
    now = datetime.now(UTC) + timedelta(minutes=3)  # past the settle lag of the files just written

    first = run_drift_check({"source": "aws.events"}, settings, now=now)
    assert first["verdict"] == "insufficient_data"
    state = json.loads(
        boto3.client("s3").get_object(Bucket=ARTIFACTS, Key=f"drift/{ENDPOINT}/state.json")["Body"].read()
    )
    assert state["windowEnd"] == first["windowStart"]  # not consumed: carried over

    put_capture(traffic(400, seed=4), "later")
    second = run_drift_check({"source": "aws.events"}, settings, now=now + timedelta(seconds=1))
    assert second["records"] == 450 and second["verdict"] in {"drift", "no_drift"}
    assert second["windowStart"] == first["windowStart"]

    third = run_drift_check({"source": "aws.events"}, settings, now=now + timedelta(minutes=60))
    assert third["windowStart"] == second["windowEnd"]
    assert third["records"] == 0 and third["captureFiles"] == 0  # nothing is read twice


def test_no_endpoint_is_a_verdict_not_an_error(env, lambda_context):
    assert lambda_handler({"source": "aws.events"}, lambda_context) == {
        "verdict": "no_endpoint",
        "endpoint": ENDPOINT,
        "driftDetected": False,
    }
    assert datapoints("WindowRecords", Model="ai4i-failure") == []


def test_a_model_without_a_baseline_is_a_clear_error(env, lambda_context):
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(
        ModelName="hand-made",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{ARTIFACTS}/m.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="hand-made",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "hand-made",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="hand-made")
    with pytest.raises(ServingError, match="no MLOPS_BASELINE_URI"):
        lambda_handler({}, lambda_context)


@pytest.mark.parametrize(
    "name", ["DRIFT_MIN_PREDICTION_PSI", "DRIFT_SETTLE_SECONDS", "SCHEMA_PATH", "DRIFT_ALPHA", "DRIFT_MIN_RECORDS"]
)
def test_every_setting_is_required_and_a_missing_one_is_named(env, monkeypatch, name):
    """CDK sets each of these from cdk.json; the function has no defaults of its own."""
    monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError, match=name):
        DriftSettings.from_env()
