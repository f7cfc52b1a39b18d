"""The trigger against moto's Step Functions, S3 and CloudWatch: the one door into the pipeline."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.shared.errors import (
    ConfigurationError,
    NoCuratedDataError,
    TransientServiceError,
    UnsupportedEventError,
)
from functions.trigger.handler import lambda_handler, route
from functions.trigger.logic import TriggerSettings
from functions.trigger.naming import alarm_name

INCOMING = "mlops-incoming-123456789012"  # the bucket in the event fixture
CURATED = "mlops-curated-123456789012"
ARTIFACTS = "mlops-artifacts-123456789012"
DATASET = "ai4i2020"
DRIFT_ALARM = "mlops-drift-ai4i-failure"  # the name in the event fixture
QUALITY_ALARM = "mlops-ai4i-failure-quality"
DRIFT_ARN = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{DRIFT_ALARM}"
OLD_VERSION = "20261101T000000Z-aaaaaaaaaaaa"  # the stamp format before microseconds: still ordered
NEW_VERSION = "20261112T200000000000Z-bbbbbbbbbbbb"  # validated after the fixtures' alarm transitions
OLD_SNAPSHOT = f"snapshots/{DATASET}/{OLD_VERSION}/data.csv"
NEW_SNAPSHOT = f"snapshots/{DATASET}/{NEW_VERSION}/data.csv"
COOLDOWN = 3600


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
    s3.create_bucket(Bucket=ARTIFACTS)
    for version in (NEW_VERSION, OLD_VERSION):  # written newest first: the version decides, not LastModified
        add_batch(version)
    env = {
        "STATE_MACHINE_ARN": arn,
        "UPLOAD_PREFIX": "uploads/",
        "INCOMING_BUCKET": INCOMING,
        "CURATED_BUCKET": CURATED,
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "DATASET_NAME": DATASET,
        "RETRAIN_COOLDOWN_SECONDS": str(COOLDOWN),
        "DRIFT_ALARM_NAME": DRIFT_ALARM,
        "QUALITY_ALARM_NAME": QUALITY_ALARM,
        "RETRAIN_ON_ALARM": "true",
        "MODEL_PACKAGE_GROUP": "ai4i-failure",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {"sfn": sfn, "arn": arn, "s3": s3}


def add_batch(version: str, report: dict[str, Any] | None = None, *, with_report: bool = True) -> str:
    """A curated batch as the validate function writes it: data.csv and validation.json beside it."""
    s3 = boto3.client("s3")
    key = f"snapshots/{DATASET}/{version}/data.csv"
    s3.put_object(Bucket=CURATED, Key=key, Body=f"a,b\n1,{version}\n".encode())
    if with_report:
        document = report or {"valid": True, "rows": 1, "positives": 0, "origin": "upload", "timeRange": None}
        s3.put_object(Bucket=CURATED, Key=key.replace("data.csv", "validation.json"), Body=json.dumps(document))
    return key


def invoke(event: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The handler's routing with an injected clock (moto stamps executions with the real time)."""
    return route(event, TriggerSettings.from_env(), "request-1", now).to_dict()


def later(seconds: int = COOLDOWN + 1) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def stop_all(pipeline: dict[str, Any]) -> None:
    for run in executions(pipeline):
        if run["status"] == "RUNNING":
            pipeline["sfn"].stop_execution(executionArn=run["executionArn"])


def write_state(last_trained: str) -> None:
    """What the plan function writes when a run trains (or finds the champion has seen everything)."""
    boto3.client("s3").put_object(
        Bucket=ARTIFACTS,
        Key="retraining/state.json",
        Body=json.dumps({"lastTrainedBatch": last_trained, "executionName": "x", "at": "2026-11-12T00:00:00+00:00"}),
    )


def pending() -> dict[str, Any] | None:
    try:
        body = boto3.client("s3").get_object(Bucket=ARTIFACTS, Key="retraining/pending.json")["Body"].read()
    except boto3.client("s3").exceptions.NoSuchKey:
        return None
    return json.loads(body)


def put_alarm(name: str, state: str = "ALARM") -> str:
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="DriftDetected",
        Namespace="MLOps/Drift",
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    if state != "OK":
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
    return cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]


def skipped_reasons(read_metrics) -> list[str]:
    return [m["dimensions"]["Reason"] for m in read_metrics() if m["name"] == "RetrainingSkipped"]


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


def test_a_new_alarm_transition_while_a_run_is_in_flight_is_deferred(pipeline, load_event, lambda_context):
    event = load_event("cloudwatch_alarm_state_change.json")
    assert lambda_handler(event, lambda_context)["started"]  # moto leaves it RUNNING

    again = lambda_handler(alarm_at(event, "2026-11-12T18:04:40.989+0000"), lambda_context)

    assert again["started"] is False and again["skipped"] == "deferred"
    assert len(executions(pipeline)) == 1
    assert pending()["alarm"]["stateChangeTime"] == "2026-11-12T18:04:40.989+0000"


def test_a_running_upload_also_defers_drift_retraining(pipeline, load_event, lambda_context):
    assert lambda_handler(load_event("s3_object_created.json"), lambda_context)["started"]

    result = lambda_handler(load_event("cloudwatch_alarm_state_change.json"), lambda_context)

    assert result["skipped"] == "deferred"


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


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}},
        {"reason": "drift"},  # alarms come as CloudWatch events, not as hand-made requests
        {},
    ],
)
def test_unknown_events_are_refused(pipeline, lambda_context, event):
    with pytest.raises(UnsupportedEventError, match="unsupported event"):
        lambda_handler(event, lambda_context)


def test_an_object_of_another_bucket_is_ignored_with_a_log_line(pipeline, load_event, lambda_context, caplog):
    event = load_event("s3_object_created.json")
    event["detail"]["bucket"]["name"] = "someone-elses-bucket"

    result = lambda_handler(event, lambda_context)

    assert result["started"] is False and result["skipped"] == "ignored_key"
    assert executions(pipeline) == []
    assert "is not the incoming bucket" in caplog.text


@pytest.mark.parametrize(
    ("mangle", "named"),
    [
        (lambda e: e["detail"]["object"].pop("key"), "detail.object.key: Field required"),
        (lambda e: e["detail"]["object"].update(key={"a": 1}), "detail.object.key"),
        (lambda e: e["detail"]["object"].update(size="large"), "detail.object.size"),
        (lambda e: e.update(detail="not an object"), "detail"),
    ],
)
def test_a_malformed_upload_event_is_a_named_error_naming_the_field(
    pipeline, load_event, lambda_context, mangle, named
):
    event = load_event("s3_object_created.json")
    mangle(event)
    with pytest.raises(UnsupportedEventError, match="malformed S3EventNotificationEventBridgeModel event") as raised:
        lambda_handler(event, lambda_context)
    assert named in str(raised.value)
    assert executions(pipeline) == []


def test_a_manual_request_with_a_non_string_key_is_a_named_error(pipeline, lambda_context):
    with pytest.raises(UnsupportedEventError, match="malformed ManualRequest event: key"):
        lambda_handler({"reason": "manual", "bucket": INCOMING, "key": 42}, lambda_context)


def test_throttling_past_the_sdk_is_a_transient_error_for_lambda_to_retry(
    pipeline, load_event, lambda_context, monkeypatch
):
    import botocore.endpoint

    from mlops.local.adapters import faults

    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda seconds: None)
    injector = faults.FaultInjector()
    injector.inject("stepfunctions", "StartExecution", "ThrottlingException", times=6)
    faults.install(injector)
    try:
        with pytest.raises(TransientServiceError, match="StartExecution failed with ThrottlingException"):
            lambda_handler(load_event("s3_object_created.json"), lambda_context)
    finally:
        faults.uninstall(injector)
    assert lambda_handler(load_event("s3_object_created.json"), lambda_context)["started"] is True


@pytest.mark.parametrize("event", [["not", "an", "object"], "recheck", None, 42])
def test_a_payload_that_is_not_an_object_is_refused_clearly(pipeline, lambda_context, event):
    with pytest.raises(UnsupportedEventError, match="a JSON object is required"):
        lambda_handler(event, lambda_context)


@pytest.mark.parametrize(
    "name", ["STATE_MACHINE_ARN", "ARTIFACTS_BUCKET", "DRIFT_ALARM_NAME", "QUALITY_ALARM_NAME", "RETRAIN_ON_ALARM"]
)
def test_missing_configuration_names_the_variable(pipeline, load_event, lambda_context, monkeypatch, name):
    monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError, match=name):
        lambda_handler(load_event("s3_object_created.json"), lambda_context)


def test_a_malformed_flag_names_the_variable(pipeline, load_event, lambda_context, monkeypatch):
    monkeypatch.setenv("RETRAIN_ON_ALARM", "yes")
    with pytest.raises(ConfigurationError, match="RETRAIN_ON_ALARM must be 'true' or 'false'"):
        lambda_handler(load_event("s3_object_created.json"), lambda_context)


# --- which alarms are ours -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arn"),
    [
        # another account's alarm of the same name on a shared bus
        (DRIFT_ALARM, f"arn:aws:cloudwatch:us-east-1:999999999999:alarm:{DRIFT_ALARM}"),
        # the same name in another region
        (DRIFT_ALARM, f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{DRIFT_ALARM}"),
        # a name that merely starts like ours
        (f"{DRIFT_ALARM}-canary", f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{DRIFT_ALARM}-canary"),
        ("mlops-drift", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlops-drift"),
        # the ARN names another alarm than the event's detail
        (DRIFT_ALARM, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-else"),
        # not an alarm ARN at all
        (DRIFT_ALARM, f"arn:aws:sns:us-east-1:123456789012:{DRIFT_ALARM}"),
        (DRIFT_ALARM, None),
    ],
)
def test_foreign_alarms_start_nothing(pipeline, load_event, lambda_context, read_metrics, name, arn):
    event = load_event("cloudwatch_alarm_state_change.json")
    event["detail"]["alarmName"] = name
    event["resources"] = [arn] if arn else []

    result = lambda_handler(event, lambda_context)

    assert result["started"] is False and result["skipped"] == "not_alarm"
    assert executions(pipeline) == [] and pending() is None
    assert skipped_reasons(read_metrics) == ["not_alarm"]


def test_the_quality_alarm_retrains_with_reason_quality(pipeline, load_event, lambda_context, read_metrics):
    event = load_event("cloudwatch_alarm_state_change.json")
    arn = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{QUALITY_ALARM}"
    event["detail"]["alarmName"], event["resources"] = QUALITY_ALARM, [arn]

    result = lambda_handler(event, lambda_context)

    assert result["started"] is True and result["reason"] == "quality"
    assert result["executionName"] == alarm_name("quality", arn, "2026-11-12T17:04:40.989+0000")
    payload = execution_input(pipeline, result["executionArn"])
    assert payload["reason"] == "quality"
    assert payload["data"] == {
        "bucket": CURATED,
        "key": NEW_SNAPSHOT,
        "versionId": None,
        "etag": payload["data"]["etag"],
        "datasetVersion": NEW_VERSION,
    }
    assert payload["alarm"]["name"] == QUALITY_ALARM
    started = [m["dimensions"] for m in read_metrics() if m["name"] == "ExecutionsStarted"]
    assert started == [{"Trigger": "quality"}]


def test_alarm_retraining_can_be_switched_off(pipeline, load_event, lambda_context, read_metrics, monkeypatch):
    monkeypatch.setenv("RETRAIN_ON_ALARM", "false")

    result = lambda_handler(load_event("cloudwatch_alarm_state_change.json"), lambda_context)

    assert result["skipped"] == "disabled" and executions(pipeline) == []
    assert skipped_reasons(read_metrics) == ["disabled"]


# --- guards on data and time -----------------------------------------------------------------


def test_an_alarm_with_no_batch_newer_than_the_last_training_is_skipped(
    pipeline, load_event, lambda_context, read_metrics
):
    write_state(NEW_VERSION)

    result = lambda_handler(load_event("cloudwatch_alarm_state_change.json"), lambda_context)

    assert result["started"] is False and result["skipped"] == "no_new_data"
    assert executions(pipeline) == []
    assert skipped_reasons(read_metrics) == ["no_new_data"]


def test_an_alarm_retrains_when_a_batch_is_newer_than_the_last_training(pipeline, load_event, lambda_context):
    write_state(OLD_VERSION)

    result = lambda_handler(load_event("cloudwatch_alarm_state_change.json"), lambda_context)

    assert result["started"] is True
    assert execution_input(pipeline, result["executionArn"])["data"]["datasetVersion"] == NEW_VERSION


def test_batches_without_a_usable_validation_report_are_not_retrained_on(pipeline, load_event, lambda_context):
    add_batch("20261120T000000000000Z-cccccccccccc", with_report=False)
    add_batch("20261121T000000000000Z-dddddddddddd", {"valid": False, "rows": 3, "positives": 0})

    result = lambda_handler(load_event("cloudwatch_alarm_state_change.json"), lambda_context)

    assert execution_input(pipeline, result["executionArn"])["data"]["key"] == NEW_SNAPSHOT


def test_the_cooldown_counts_quality_and_drift_runs_alike(pipeline, load_event, lambda_context):
    event = load_event("cloudwatch_alarm_state_change.json")
    quality = copy.deepcopy(event)
    quality["detail"]["alarmName"] = QUALITY_ALARM
    quality["resources"] = [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{QUALITY_ALARM}"]
    assert invoke(quality)["started"]
    stop_all(pipeline)

    assert invoke(event)["skipped"] == "cooldown"
    assert invoke(event, now=later())["started"] is True


def test_many_executions_are_paged_through_until_the_cooldown_boundary(pipeline, load_event, monkeypatch):
    sfn = pipeline["sfn"]
    first = invoke(load_event("cloudwatch_alarm_state_change.json"))
    sfn.stop_execution(executionArn=first["executionArn"])
    for i in range(120):  # newer upload runs push the drift run off the first page (100)
        run = sfn.start_execution(stateMachineArn=pipeline["arn"], name=f"upload-{i:04d}", input="{}")
        sfn.stop_execution(executionArn=run["executionArn"])
    event = alarm_at(load_event("cloudwatch_alarm_state_change.json"), "2026-11-12T19:04:40.989+0000")

    assert invoke(event)["skipped"] == "cooldown"


# --- deferral and recheck --------------------------------------------------------------------


def test_a_trigger_during_a_run_is_deferred_and_the_next_recheck_starts_it(
    pipeline, load_event, lambda_context, read_metrics
):
    upload = lambda_handler(load_event("s3_object_created.json"), lambda_context)  # stays RUNNING
    event = load_event("cloudwatch_alarm_state_change.json")

    deferred = lambda_handler(event, lambda_context)
    assert deferred["skipped"] == "deferred"
    recorded = pending()
    assert recorded is not None and recorded["reason"] == "drift"
    transition = "2026-11-12T17:04:40.989+0000"
    assert recorded["alarm"] == {"name": DRIFT_ALARM, "arn": DRIFT_ARN, "stateChangeTime": transition}
    assert datetime.fromisoformat(recorded["deferredAt"])

    # still in flight: the recheck defers again and keeps the first deferral as it was
    assert lambda_handler({"reason": "recheck"}, lambda_context)["skipped"] == "deferred"
    assert pending() == recorded

    pipeline["sfn"].stop_execution(executionArn=upload["executionArn"])
    started = lambda_handler(load_event("scheduled_event.json"), lambda_context)

    assert started["started"] is True and started["reason"] == "drift"
    # a recheck names the transition it acts on and the newest batch
    assert started["executionName"] == alarm_name("drift", DRIFT_ARN, transition, NEW_VERSION)
    payload = execution_input(pipeline, started["executionArn"])
    assert payload["reason"] == "drift" and payload["alarm"] == recorded["alarm"]
    assert payload["data"]["datasetVersion"] == NEW_VERSION
    assert pending() is None
    assert skipped_reasons(read_metrics)[:2] == ["deferred", "deferred"]

    # a late re-delivery of the transition the recheck started does not start a second run
    assert lambda_handler(event, lambda_context)["skipped"] == "deferred"  # the started run is in flight
    assert lambda_handler({"reason": "recheck"}, lambda_context)["skipped"] == "duplicate"
    assert pending() is None  # ... which the recheck recognises as started, and forgets
    stop_all(pipeline)
    assert lambda_handler(event, lambda_context)["skipped"] == "cooldown"
    assert lambda_handler({"reason": "recheck"}, lambda_context)["skipped"] == "nothing_pending"


def test_a_pending_quality_retraining_is_not_replaced_by_a_drift_one(pipeline, load_event, lambda_context):
    lambda_handler(load_event("s3_object_created.json"), lambda_context)
    quality = load_event("cloudwatch_alarm_state_change.json")
    quality["detail"]["alarmName"] = QUALITY_ALARM
    quality["resources"] = [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{QUALITY_ALARM}"]
    drift = load_event("cloudwatch_alarm_state_change.json")

    assert lambda_handler(drift, lambda_context)["skipped"] == "deferred"
    assert lambda_handler(quality, lambda_context)["skipped"] == "deferred"  # quality outranks drift
    assert lambda_handler(alarm_at(drift, "2026-11-12T18:00:00.000+0000"), lambda_context)["skipped"] == "deferred"

    assert pending()["reason"] == "quality"
    stop_all(pipeline)
    assert lambda_handler({"reason": "recheck"}, lambda_context)["reason"] == "quality"


def test_a_recheck_with_nothing_pending_does_nothing_and_counts_nothing(pipeline, lambda_context, read_metrics):
    put_alarm(DRIFT_ALARM, "OK")
    put_alarm(QUALITY_ALARM, "INSUFFICIENT_DATA")

    result = lambda_handler({"reason": "recheck"}, lambda_context)

    assert result == {"started": False, "reason": "recheck", "executionName": None, "skipped": "nothing_pending"}
    assert executions(pipeline) == []
    assert skipped_reasons(read_metrics) == []


def test_a_persisting_alarm_retrains_again_after_the_cooldown_once_a_new_batch_exists(pipeline, read_metrics):
    arn = put_alarm(QUALITY_ALARM)

    first = invoke({"reason": "recheck"})
    assert first["started"] is True and first["reason"] == "quality"
    first_input = execution_input(pipeline, first["executionArn"])
    assert first_input["alarm"]["arn"] == arn and first_input["data"]["datasetVersion"] == NEW_VERSION
    stop_all(pipeline)
    write_state(NEW_VERSION)  # what the run's plan step records

    assert invoke({"reason": "recheck"})["skipped"] == "duplicate"  # the same transition, the same batch
    assert invoke({"reason": "recheck"}, now=later())["skipped"] == "duplicate"

    newer = "20261113T000000000000Z-eeeeeeeeeeee"
    add_batch(newer)
    assert invoke({"reason": "recheck"})["skipped"] == "cooldown"  # new data, but within the cooldown

    second = invoke({"reason": "recheck"}, now=later())
    assert second["started"] is True and second["executionName"] != first["executionName"]
    assert execution_input(pipeline, second["executionArn"])["data"]["datasetVersion"] == newer
    assert len(executions(pipeline)) == 2
    assert skipped_reasons(read_metrics) == ["duplicate", "duplicate", "cooldown"]


def test_a_drift_alarm_waits_for_labels_of_the_drifted_traffic(pipeline):
    """Drift is an early warning: with no batch labelled since the alarm, a retraining could only
    learn the old data again, so it is deferred; labels arriving later release it at the recheck."""
    put_alarm(DRIFT_ALARM)  # goes into ALARM now, after every batch of the fixture
    waiting = invoke({"reason": "recheck"})
    assert waiting["started"] is False and waiting["skipped"] == "awaiting_labels"
    assert pending()["reason"] == "drift"
    assert executions(pipeline) == []

    add_batch(f"{(datetime.now(UTC) + timedelta(minutes=1)).strftime('%Y%m%dT%H%M%S%f')}Z-ffffffffffff")
    released = invoke({"reason": "recheck"})
    assert released["started"] is True and released["reason"] == "drift"
    assert len(executions(pipeline)) == 1


def test_a_persisting_alarm_without_new_data_is_skipped_as_no_new_data(pipeline):
    put_alarm(DRIFT_ALARM)
    write_state(NEW_VERSION)  # e.g. an upload run trained on the newest batch since the alarm began

    assert invoke({"reason": "recheck"}, now=later())["skipped"] == "no_new_data"
    assert executions(pipeline) == []


def test_a_recheck_prefers_the_quality_alarm(pipeline):
    put_alarm(DRIFT_ALARM)
    put_alarm(QUALITY_ALARM)

    result = invoke(json.loads('{"reason": "recheck"}'))

    assert result["started"] is True and result["reason"] == "quality"
    assert result["executionName"].startswith("quality-")
