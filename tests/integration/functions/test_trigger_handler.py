"""The trigger against moto's Step Functions and S3: the one door into the pipeline."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest

from functions.shared.errors import ConfigurationError, NoCuratedDataError, UnsupportedEventError
from functions.trigger.handler import lambda_handler

CURATED = "mlops-curated-123456789012"
DATASET = "ai4i2020"
OLD_SNAPSHOT = f"snapshots/{DATASET}/20261101T000000Z-aaaaaaaaaaaa/data.csv"
NEW_SNAPSHOT = f"snapshots/{DATASET}/20261112T000000Z-bbbbbbbbbbbb/data.csv"


@pytest.fixture
def pipeline(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="mlops-pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/mlops-pipeline-role",
    )["stateMachineArn"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=CURATED)
    for key in (OLD_SNAPSHOT, NEW_SNAPSHOT):  # older first, so LastModified and version order agree
        s3.put_object(Bucket=CURATED, Key=key, Body=b"a,b\n1,2\n")
        s3.put_object(Bucket=CURATED, Key=key.replace("data.csv", "validation.json"), Body=b"{}")
    env = {
        "STATE_MACHINE_ARN": arn,
        "UPLOAD_PREFIX": "uploads/",
        "CURATED_BUCKET": CURATED,
        "DATASET_NAME": DATASET,
        "RETRAIN_COOLDOWN_SECONDS": "3600",
        "ALARM_NAME_PREFIX": "mlops-drift",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {"sfn": sfn, "arn": arn}


def executions(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return pipeline["sfn"].list_executions(stateMachineArn=pipeline["arn"])["executions"]


def execution_input(pipeline: dict[str, Any], arn: str) -> dict[str, Any]:
    return json.loads(pipeline["sfn"].describe_execution(executionArn=arn)["input"])


def alarm_at(event: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """The same alarm entering ALARM at another moment: a new transition, not a re-delivery."""
    other = copy.deepcopy(event)
    other["detail"]["state"]["timestamp"] = timestamp
    return other


# --- uploads -------------------------------------------------------------------------------


def test_upload_starts_one_execution_with_the_object_identity(pipeline, load_event, lambda_context, read_metrics):
    event = load_event("s3_object_created.json")

    result = lambda_handler(event, lambda_context)

    assert result["started"] is True
    assert result["executionName"].startswith("upload-") and len(result["executionName"]) <= 56
    assert "skipped" not in result
    payload = execution_input(pipeline, result["executionArn"])
    assert payload == {
        "reason": "upload",
        "data": {
            "bucket": "mlops-incoming-123456789012",
            "key": "uploads/ai4i2020.csv",
            "versionId": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
            "etag": "b1946ac92492d2347c6235b4d2611184",
        },
    }
    started = [m for m in read_metrics() if m["name"] == "ExecutionsStarted"]
    assert started == [
        {
            "name": "ExecutionsStarted",
            "value": 1.0,
            "namespace": "MLOps/Pipeline",
            "dimensions": {"Trigger": "upload"},
        }
    ]


def test_redelivered_upload_event_is_a_duplicate_not_a_second_run(pipeline, load_event, lambda_context, read_metrics):
    event = load_event("s3_object_created.json")
    first = lambda_handler(event, lambda_context)
    second = lambda_handler(event, lambda_context)

    assert second == {
        "started": False,
        "reason": "upload",
        "executionName": first["executionName"],
        "executionArn": first["executionArn"],
        "skipped": "duplicate",
    }
    assert len(executions(pipeline)) == 1
    skipped = [m for m in read_metrics() if m["name"] == "RetrainingSkipped"]
    assert [m["dimensions"] for m in skipped] == [{"Reason": "duplicate"}]


def test_new_version_of_the_same_key_is_a_new_run(pipeline, load_event, lambda_context):
    event = load_event("s3_object_created.json")
    newer = copy.deepcopy(event)
    newer["detail"]["object"]["version-id"] = "another-version"

    a = lambda_handler(event, lambda_context)
    b = lambda_handler(newer, lambda_context)

    assert a["started"] and b["started"] and a["executionName"] != b["executionName"]
    assert len(executions(pipeline)) == 2


@pytest.mark.parametrize("key", ["curated/elsewhere.csv", "uploads/", "uploadsX/a.csv"])
def test_keys_outside_the_upload_prefix_are_ignored(pipeline, load_event, lambda_context, read_metrics, key):
    event = load_event("s3_object_created.json")
    event["detail"]["object"]["key"] = key

    result = lambda_handler(event, lambda_context)

    assert result["started"] is False and result["skipped"] == "ignored_key"
    assert executions(pipeline) == []
    assert [m["dimensions"] for m in read_metrics() if m["name"] == "RetrainingSkipped"] == [{"Reason": "ignored_key"}]


def test_uploads_are_not_rate_limited_by_a_running_execution(pipeline, load_event, lambda_context):
    first = load_event("s3_object_created.json")
    second = copy.deepcopy(first)
    second["detail"]["object"]["key"] = "uploads/second.csv"

    assert lambda_handler(first, lambda_context)["started"]
    assert lambda_handler(second, lambda_context)["started"]


# --- drift alarms --------------------------------------------------------------------------


def test_the_same_alarm_event_ten_times_starts_exactly_one_execution(
    pipeline, load_event, lambda_context, read_metrics
):
    event = load_event("cloudwatch_alarm_state_change.json")

    results = [lambda_handler(event, lambda_context) for _ in range(10)]

    assert [r["started"] for r in results] == [True] + [False] * 9
    assert {r["skipped"] for r in results[1:]} == {"duplicate"}
    runs = executions(pipeline)
    assert len(runs) == 1 and runs[0]["name"] == results[0]["executionName"]
    assert runs[0]["name"].startswith("drift-")
    emitted = read_metrics()
    assert sum(m["value"] for m in emitted if m["name"] == "ExecutionsStarted") == 1
    assert sum(m["value"] for m in emitted if m["name"] == "RetrainingSkipped") == 9


def test_drift_retraining_uses_the_newest_curated_snapshot_and_records_the_alarm(pipeline, load_event, lambda_context):
    event = load_event("cloudwatch_alarm_state_change.json")

    result = lambda_handler(event, lambda_context)

    payload = execution_input(pipeline, result["executionArn"])
    assert payload["reason"] == "drift"
    assert payload["data"]["bucket"] == CURATED
    assert payload["data"]["key"] == NEW_SNAPSHOT
    assert payload["data"]["etag"] and '"' not in payload["data"]["etag"]
    assert payload["alarm"] == {
        "name": "mlops-drift-ai4i-failure",
        "arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlops-drift-ai4i-failure",
        "stateChangeTime": "2026-11-12T17:04:40.989+0000",
    }


def test_a_new_alarm_transition_while_a_run_is_in_flight_is_refused(pipeline, load_event, lambda_context):
    event = load_event("cloudwatch_alarm_state_change.json")
    assert lambda_handler(event, lambda_context)["started"]  # moto leaves it RUNNING

    again = lambda_handler(alarm_at(event, "2026-11-12T18:04:40.989+0000"), lambda_context)

    assert again["started"] is False and again["skipped"] == "in_flight"
    assert len(executions(pipeline)) == 1


def test_a_running_upload_also_blocks_drift_retraining(pipeline, load_event, lambda_context):
    assert lambda_handler(load_event("s3_object_created.json"), lambda_context)["started"]

    result = lambda_handler(load_event("cloudwatch_alarm_state_change.json"), lambda_context)

    assert result["skipped"] == "in_flight"


def test_cooldown_after_the_last_drift_run_then_released(pipeline, load_event, lambda_context, monkeypatch):
    event = load_event("cloudwatch_alarm_state_change.json")
    first = lambda_handler(event, lambda_context)
    pipeline["sfn"].stop_execution(executionArn=first["executionArn"])  # no longer in flight

    flapped = lambda_handler(alarm_at(event, "2026-11-12T17:10:40.989+0000"), lambda_context)
    assert flapped["started"] is False and flapped["skipped"] == "cooldown"

    monkeypatch.setenv("RETRAIN_COOLDOWN_SECONDS", "0")
    released = lambda_handler(alarm_at(event, "2026-11-12T17:15:40.989+0000"), lambda_context)
    assert released["started"] is True
    assert len(executions(pipeline)) == 2


def test_a_finished_upload_run_does_not_start_the_drift_cooldown(pipeline, load_event, lambda_context):
    upload = lambda_handler(load_event("s3_object_created.json"), lambda_context)
    pipeline["sfn"].stop_execution(executionArn=upload["executionArn"])

    result = lambda_handler(load_event("cloudwatch_alarm_state_change.json"), lambda_context)

    assert result["started"] is True


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_alarm_states_other_than_alarm_are_skipped(pipeline, load_event, lambda_context, state):
    event = load_event("cloudwatch_alarm_state_change.json")
    event["detail"]["state"]["value"] = state

    result = lambda_handler(event, lambda_context)

    assert result["started"] is False and result["skipped"] == "not_alarm"
    assert executions(pipeline) == []


def test_alarms_outside_the_prefix_are_not_ours(pipeline, load_event, lambda_context):
    event = load_event("cloudwatch_alarm_state_change.json")
    event["detail"]["alarmName"] = "someone-elses-cpu-alarm"

    result = lambda_handler(event, lambda_context)

    assert result["skipped"] == "not_alarm"
    assert executions(pipeline) == []


def test_drift_without_curated_data_is_a_clear_error(pipeline, load_event, lambda_context):
    s3 = boto3.client("s3")
    for obj in s3.list_objects_v2(Bucket=CURATED)["Contents"]:
        s3.delete_object(Bucket=CURATED, Key=obj["Key"])

    with pytest.raises(NoCuratedDataError, match=r"no curated snapshot of dataset 'ai4i2020'"):
        lambda_handler(load_event("cloudwatch_alarm_state_change.json"), lambda_context)
    assert executions(pipeline) == []


# --- manual requests and bad input ---------------------------------------------------------


def test_manual_request_starts_a_run_and_its_retry_is_a_duplicate(pipeline, load_event, lambda_context):
    event = load_event("manual_request.json")

    first = lambda_handler(event, lambda_context)
    retried = lambda_handler(event, lambda_context)  # same Lambda request id: an automatic retry

    assert first["started"] and first["executionName"].startswith("manual-")
    assert retried["skipped"] == "duplicate"
    assert execution_input(pipeline, first["executionArn"]) == {
        "reason": "manual",
        "data": {
            "bucket": "mlops-incoming-123456789012",
            "key": "uploads/ai4i2020.csv",
            "versionId": None,
            "etag": None,
        },
    }


def test_manual_requests_with_distinct_request_ids_are_distinct_runs(pipeline, load_event, lambda_context):
    a = dict(load_event("manual_request.json"), requestId="operator-run-1")
    b = dict(load_event("manual_request.json"), requestId="operator-run-2")

    assert lambda_handler(a, lambda_context)["started"]
    assert lambda_handler(b, lambda_context)["started"]
    assert len(executions(pipeline)) == 2


def test_unknown_events_are_refused(pipeline, load_event, lambda_context):
    with pytest.raises(UnsupportedEventError, match="unsupported event"):
        lambda_handler(load_event("scheduled_event.json"), lambda_context)


def test_missing_configuration_names_the_variable(pipeline, load_event, lambda_context, monkeypatch):
    monkeypatch.delenv("STATE_MACHINE_ARN")
    with pytest.raises(ConfigurationError, match="STATE_MACHINE_ARN"):
        lambda_handler(load_event("s3_object_created.json"), lambda_context)
