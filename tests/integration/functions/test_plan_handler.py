"""PlanTraining against moto's S3: the window over the curated batches, and when a run is skipped."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from functions.plan.handler import lambda_handler
from functions.shared.errors import ConfigurationError, NoCuratedDataError, UnsupportedEventError

CURATED = "mlops-curated-123456789012"
ARTIFACTS = "mlops-artifacts-123456789012"
DATASET = "ai4i2020"
EXECUTION = "drift-0123456789abcdef0123456789abcdef"
# Three batches, oldest first (validated long before any test runs: a legacy champion is judged by
# its metrics.json's LastModified); the first in the stamp format before microseconds.
V1 = "20201101T000000Z-aaaaaaaaaaaa"
V2 = "20201105T000000000000Z-bbbbbbbbbbbb"
V3 = "20201110T000000000000Z-cccccccccccc"
ROWS = {V1: 1000, V2: 300, V3: 200}
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/ai4i-failure/3"


@pytest.fixture
def buckets(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=CURATED)
    s3.create_bucket(Bucket=ARTIFACTS)
    for version in (V3, V1, V2):  # written out of order: the version decides
        add_batch(version, ROWS[version])
    for name, value in {
        "CURATED_BUCKET": CURATED,
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "DATASET_NAME": DATASET,
        "TRAINING_WINDOW_MODE": "all",
        "TRAINING_WINDOW_VALUE": "0",
        "RETRAIN_ON_UPLOAD": "true",
        "QUALITY_TOLERANCE": "0.05",
    }.items():
        monkeypatch.setenv(name, value)
    return s3


def add_batch(version: str, rows: int, *, origin: str | None = None, with_report: bool = True) -> None:
    s3 = boto3.client("s3")
    prefix = f"snapshots/{DATASET}/{version}/"
    s3.put_object(Bucket=CURATED, Key=f"{prefix}data.csv", Body=b"a,b\n1,2\n")
    if with_report:
        report: dict[str, Any] = {"valid": True, "rows": rows, "positives": rows // 20}
        if origin:  # reports written before the learning loop carry neither origin nor timeRange
            report.update(origin=origin, timeRange={"min": "2026-01-01T00:00:00Z", "max": "2026-01-02T00:00:00Z"})
        s3.put_object(Bucket=CURATED, Key=f"{prefix}validation.json", Body=json.dumps(report))


def champion_with(metrics: dict[str, Any] | None, job: str = "train-upload-1") -> dict[str, Any]:
    """The ResolveChampion output for a champion whose metrics.json holds ``metrics`` (None: no file)."""
    key = f"reports/{job}/metrics.json"
    if metrics is not None:
        boto3.client("s3").put_object(Bucket=ARTIFACTS, Key=key, Body=json.dumps(metrics))
    return {
        "found": True,
        "modelPackageArn": PACKAGE,
        "version": 3,
        "modelDataUrl": f"s3://{ARTIFACTS}/training/{job}/output/model.tar.gz",
        "artifactSha256": "0" * 64,
        "metricsUri": f"s3://{ARTIFACTS}/{key}",
        "endpointExists": True,
    }


NO_CHAMPION = {"found": False, "modelPackageArn": None, "version": None, "metricsUri": None, "endpointExists": False}


def event(reason: str = "drift", champion: dict[str, Any] | None = None, name: str = EXECUTION) -> dict[str, Any]:
    return {
        "reason": reason,
        "executionName": name,
        "champion": NO_CHAMPION if champion is None else champion,
        "validation": {"datasetVersion": V3, "rows": ROWS[V3]},
    }


def read_json(key: str) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=ARTIFACTS, Key=key)["Body"].read())


def artifact_keys() -> list[str]:
    return sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS).get("Contents", []))


def skipped(read_metrics) -> list[str]:
    return [m["dimensions"]["Reason"] for m in read_metrics() if m["name"] == "RetrainingSkipped"]


# --- training ----------------------------------------------------------------------------------


def test_without_a_champion_every_batch_is_new_and_the_plan_is_written(buckets, lambda_context):
    result = lambda_handler(event(), lambda_context)

    prefix = f"s3://{ARTIFACTS}/training/plans/{EXECUTION}/"
    assert result == {
        "train": True,
        "skipped": None,
        "planPrefixUri": prefix,
        "manifestUri": f"{prefix}train.manifest",
        "window": {"mode": "all", "value": 0, "batches": 3, "rows": 1500, "first": V1, "last": V3},
        "newBatches": 3,
        "newRows": 1500,
    }
    assert read_json(f"training/plans/{EXECUTION}/train.manifest") == [
        {"prefix": f"s3://{CURATED}/snapshots/{DATASET}/"},
        f"{V1}/data.csv",
        f"{V2}/data.csv",
        f"{V3}/data.csv",
    ]
    plan = read_json(f"training/plans/{EXECUTION}/plan.json")
    assert plan["dataset"] == DATASET and plan["createdAt"]
    assert plan["window"] == result["window"] and plan["champion"] is None
    assert plan["batches"][0] == {
        "datasetVersion": V1,
        "key": f"snapshots/{DATASET}/{V1}/data.csv",
        "rows": 1000,
        "positives": 50,
        "timeRange": None,
        "origin": "upload",
        "seenByChampion": False,
    }
    assert [b["datasetVersion"] for b in plan["batches"]] == [V1, V2, V3]
    state = read_json("retraining/state.json")
    assert state["lastTrainedBatch"] == V3 and state["executionName"] == EXECUTION and state["at"]


def test_the_champion_has_seen_its_train_batches_and_the_rest_is_new(buckets, lambda_context):
    champion = champion_with({"data": {"batches": [V1, V2], "trainBatches": [V1], "holdoutBatches": [V2]}})

    result = lambda_handler(event(champion=champion), lambda_context)

    assert result["train"] is True
    assert (result["newBatches"], result["newRows"]) == (2, 500)
    plan = read_json(f"training/plans/{EXECUTION}/plan.json")
    assert [b["seenByChampion"] for b in plan["batches"]] == [True, False, False]
    assert plan["champion"] == {"modelPackageArn": PACKAGE, "version": 3, "trainBatches": [V1]}


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("batches", "2", [V2, V3]), ("rows", "201", [V2, V3]), ("rows", "200", [V3]), ("days", "5", [V2, V3])],
)
def test_the_window_decides_what_is_listed_in_the_manifest(buckets, lambda_context, monkeypatch, mode, value, expected):
    monkeypatch.setenv("TRAINING_WINDOW_MODE", mode)
    monkeypatch.setenv("TRAINING_WINDOW_VALUE", value)

    result = lambda_handler(event(), lambda_context)

    manifest = read_json(f"training/plans/{EXECUTION}/train.manifest")
    assert manifest[1:] == [f"{v}/data.csv" for v in expected]
    assert result["window"]["first"] == expected[0] and result["window"]["last"] == V3
    assert result["window"]["mode"] == mode and result["window"]["value"] == int(value)


def test_only_window_batches_count_as_new(buckets, lambda_context, monkeypatch):
    monkeypatch.setenv("TRAINING_WINDOW_MODE", "batches")
    monkeypatch.setenv("TRAINING_WINDOW_VALUE", "1")
    champion = champion_with({"data": {"trainBatches": [V3]}})

    result = lambda_handler(event(champion=champion), lambda_context)

    # V1 and V2 were never trained on, but they are outside the window: nothing new to learn from
    assert result["skipped"] == "no_new_data" and result["newRows"] == 0


def test_batches_without_a_usable_report_are_left_out(buckets, lambda_context):
    add_batch("20201111T000000000000Z-dddddddddddd", 50, with_report=False)
    boto3.client("s3").put_object(
        Bucket=CURATED,
        Key=f"snapshots/{DATASET}/20201112T000000000000Z-eeeeeeeeeeee/validation.json",
        Body=b"{}",
    )  # a report without its data.csv is no batch either
    add_batch("20201113T000000000000Z-ffffffffffff", 70, origin="ground_truth")

    result = lambda_handler(event(), lambda_context)

    assert result["window"]["batches"] == 4 and result["window"]["last"] == "20201113T000000000000Z-ffffffffffff"
    newest = read_json(f"training/plans/{EXECUTION}/plan.json")["batches"][-1]
    assert newest["origin"] == "ground_truth" and newest["timeRange"]["max"] == "2026-01-02T00:00:00Z"


# --- skipping ----------------------------------------------------------------------------------


def test_retraining_with_no_new_labels_is_skipped(buckets, lambda_context, read_metrics):
    champion = champion_with({"data": {"batches": [V1, V2, V3], "trainBatches": [V1, V2, V3]}})

    result = lambda_handler(event(champion=champion), lambda_context)

    assert result == {
        "train": False,
        "skipped": "no_new_data",
        "planPrefixUri": None,
        "manifestUri": None,
        "window": {"mode": "all", "value": 0, "batches": 3, "rows": 1500, "first": V1, "last": V3},
        "newBatches": 0,
        "newRows": 0,
    }
    assert skipped(read_metrics) == ["no_new_data"]
    # no plan; the state records that the newest batch is covered, so alarms stop re-triggering
    assert not [k for k in artifact_keys() if k.startswith("training/plans/")]
    assert read_json("retraining/state.json")["lastTrainedBatch"] == V3


def test_uploads_do_not_retrain_a_champion_when_switched_off(buckets, lambda_context, read_metrics, monkeypatch):
    monkeypatch.setenv("RETRAIN_ON_UPLOAD", "false")
    champion = champion_with({"data": {"trainBatches": [V1]}})

    result = lambda_handler(event("upload", champion), lambda_context)

    assert result["train"] is False and result["skipped"] == "upload_not_retraining"
    assert result["newRows"] == 500  # reported: the batches wait for the next alarm-driven run
    assert skipped(read_metrics) == ["upload_not_retraining"]
    assert "retraining/state.json" not in artifact_keys()  # not trained: the trigger still sees them as new

    assert lambda_handler(event("drift", champion), lambda_context)["train"] is True
    assert lambda_handler(event("upload", NO_CHAMPION), lambda_context)["train"] is True  # first model


# --- champions that predate the batch record ---------------------------------------------------


def test_a_champion_naming_only_its_batches_has_seen_everything_up_to_the_newest(buckets, lambda_context):
    champion = champion_with({"data": {"batches": [V1, V2]}})

    result = lambda_handler(event(champion=champion), lambda_context)

    assert (result["train"], result["newBatches"], result["newRows"]) == (True, 1, 200)


def test_a_legacy_champion_has_seen_what_was_validated_before_its_metrics(buckets, lambda_context):
    champion = champion_with({"challenger": {"roc_auc": 0.9}, "rows": {"total": 1500}})  # no "data" block

    assert lambda_handler(event(champion=champion), lambda_context)["skipped"] == "no_new_data"

    add_batch("29991231T000000000000Z-999999999999", 10)  # validated after the champion's metrics.json
    result = lambda_handler(event(champion=champion), lambda_context)
    assert (result["train"], result["newRows"]) == (True, 10)


def test_a_champion_whose_metrics_are_gone_is_taken_to_have_seen_everything(buckets, lambda_context):
    result = lambda_handler(event(champion=champion_with(None)), lambda_context)

    assert result["skipped"] == "no_new_data"


# --- bad configuration and input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRAINING_WINDOW_MODE", "weeks", "TRAINING_WINDOW_MODE must be one of all, rows, batches, days"),
        ("TRAINING_WINDOW_VALUE", "x", "TRAINING_WINDOW_VALUE must be an integer"),
        ("RETRAIN_ON_UPLOAD", "yes", "RETRAIN_ON_UPLOAD must be 'true' or 'false'"),
    ],
)
def test_bad_configuration_names_the_variable(buckets, lambda_context, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        lambda_handler(event(), lambda_context)


@pytest.mark.parametrize("mode", ["rows", "batches", "days"])
def test_a_bounded_window_needs_a_positive_value(buckets, lambda_context, monkeypatch, mode):
    monkeypatch.setenv("TRAINING_WINDOW_MODE", mode)
    monkeypatch.setenv("TRAINING_WINDOW_VALUE", "0")
    with pytest.raises(ConfigurationError, match=f"TRAINING_WINDOW_VALUE must be >= 1 for window mode '{mode}'"):
        lambda_handler(event(), lambda_context)


@pytest.mark.parametrize(
    "bad",
    [
        {"executionName": EXECUTION, "champion": NO_CHAMPION},
        {"reason": "drift", "champion": NO_CHAMPION},
        {"reason": "drift", "executionName": "../../retraining", "champion": NO_CHAMPION},
        {"reason": "drift", "executionName": EXECUTION},
    ],
)
def test_malformed_input_is_refused(buckets, lambda_context, bad):
    with pytest.raises(UnsupportedEventError):
        lambda_handler(bad, lambda_context)
    assert artifact_keys() == []


def test_no_batches_is_a_clear_error(buckets, lambda_context):
    for obj in buckets.list_objects_v2(Bucket=CURATED)["Contents"]:
        buckets.delete_object(Bucket=CURATED, Key=obj["Key"])
    with pytest.raises(NoCuratedDataError, match="no curated batch of dataset 'ai4i2020'"):
        lambda_handler(event(), lambda_context)
