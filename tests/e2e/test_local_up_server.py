"""`mlops local up` driven from outside, as a user would: boto3 with `AWS_ENDPOINT_URL`, and the tick.

The server is its own process (`python -m mlops.cli local up --port 0`: cdk.json as it is, the real
clock, schedules and alarms running by themselves). This test talks to it only through the AWS APIs
and `POST /_mlops/tick` (the call `mlops local tick` makes); it never reaches into the local cloud:

1. the first rows of data/ai4i2020.csv are uploaded -> the pipeline trains, registers and deploys v1;
2. in-distribution traffic (each request with an InferenceId) and its true labels, a labelled batch;
3. a tick to the next hourly drift check: no drift; CloudWatch evaluates the alarms on the way;
4. shifted traffic (`mlops.demo.traffic`: the two features the model leans on most, +1 SD);
5. a tick to the next drift check: the verdict is drift, `DriftDetected` is 1; a minute's tick to
   CloudWatch's next evaluation: the drift alarm goes to ALARM (its SNS notification reaches a queue
   this test subscribed), and the trigger holds the retraining until labels of the drifted traffic
   exist (`retraining/pending.json`);
6. those labels arrive; they follow a changed relationship (`mlops.demo.traffic.ConceptChange`);
7. a two-minute tick: the quality alarm goes to ALARM, the retraining runs (the tick returns once it
   has finished), v2 beats v1 on the newest labelled rows and serves the endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlops.cli import main
from mlops.demo import traffic
from mlops.local.assembly import project_root
from mlops.local.context import base_context, mlops_context
from mlops.local.outputs import StackOutputs
from mlops.local.server import call
from pipelines.schema import DatasetSchema, load_schema

pytestmark = pytest.mark.e2e

ROOT = project_root()
UPLOAD_ROWS = 3000
IN_DISTRIBUTION_ROWS = 300
SHIFTED_ROWS = 1000  # a quality retraining trains from the change point, which needs 500 labelled rows
BATCH = 50
STARTUP_SECONDS = 300
RUN_SECONDS = 600
_SERVING = re.compile(r"^local cloud serving on (http://127\.0\.0\.1:\d+) ")
# Step Functions' Wait states and the endpoint's blue/green bake take real seconds (the clock never
# jumps under a run): as in the demo, the test asks for a one-second poll and bake, explicitly.
OVERRIDES = {
    "serving.endpointPollSeconds": 1,
    "serving.deployment.waitSeconds": 1,
    "serving.deployment.terminationWaitSeconds": 0,
}


class LocalUp:
    """`mlops local up` in a child process; its output is kept for the failure message."""

    def __init__(self, log_dir: Path) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        environment["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
        self._stderr = (log_dir / "local-up.stderr").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "mlops.cli", "local", "up", "--port", "0"),
                *(arg for key, value in OVERRIDES.items() for arg in ("-c", f"{key}={value}")),
            ],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            match = _SERVING.match(line)
            if match:
                self.url = match.group(1)
            if line.startswith("Ctrl-C stops it."):
                self._ready.set()
        self._ready.set()

    def wait_ready(self) -> str:
        if not self._ready.wait(STARTUP_SECONDS) or not self.url:
            raise AssertionError(f"mlops local up did not come up:\n{self.output()}")
        return self.url

    def output(self) -> str:
        self._stderr.flush()
        stderr = Path(self._stderr.name).read_text()[-4000:]
        return "\n".join(self.lines[-60:]) + f"\n--- stderr ---\n{stderr}"

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=30)
        self._stderr.close()
        return code


@pytest.fixture
def local_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalUp]:
    server = LocalUp(tmp_path)
    try:
        url = server.wait_ready()
        for name in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield server
    finally:
        code = server.stop()
    assert code == 0, f"mlops local up exited with {code}:\n{server.output()}"


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1")


def _tick(url: str, minutes: float | None) -> dict[str, Any]:
    """Move the server's clock `minutes` on (None: to its next scheduled rule); what happened."""
    return call(url, "POST", "tick", {} if minutes is None else {"minutes": minutes}, timeout=RUN_SECONDS)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _stack_outputs() -> dict[str, str]:
    return {
        output["OutputKey"]: output["OutputValue"]
        for stack in _client("cloudformation").describe_stacks()["Stacks"]
        for output in stack.get("Outputs", [])
    }


def _wait_for_executions(names: StackOutputs, count: int, server: LocalUp) -> list[dict[str, Any]]:
    """The state machine's executions once `count` exist and none is running."""
    sfn = _client("stepfunctions")
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=names.state_machine_arn)["executions"]
        if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
            return sorted(executions, key=lambda e: e["startDate"])
        time.sleep(1)
    raise AssertionError(f"no {count} finished executions after {RUN_SECONDS} s:\n{server.output()}")


def _send(names: StackOutputs, schema: DatasetSchema, rows: list[dict[str, str]], phase: str) -> list[str]:
    """Rows to the endpoint, `BATCH` a request, each request with an InferenceId; the row ids."""
    ids, predictions = traffic.predict(_client("sagemaker-runtime"), names.endpoint_name, schema, rows, BATCH, phase)
    assert len(predictions) == len(rows) and all(p["label"] in (0, 1) for p in predictions)
    return ids


def _serving_model(names: StackOutputs) -> dict[str, Any]:
    sagemaker = _client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=names.endpoint_name)
    assert endpoint["EndpointStatus"] == "InService", endpoint
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    return dict(model["PrimaryContainer"]["Environment"])


def _read_json(bucket: str, key: str) -> dict[str, Any]:
    return json.loads(_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _s3_json(uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return _read_json(bucket, key)


def _drift_reports(names: StackOutputs) -> list[dict[str, Any]]:
    listed = _client("s3").list_objects_v2(Bucket=names.artifacts_bucket, Prefix=f"drift/{names.endpoint_name}/")
    keys = sorted(o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith("/report.json"))
    return [_read_json(names.artifacts_bucket, key) for key in keys]


def _alarm_notifications(queue_url: str) -> list[tuple[str, str]]:
    """(alarm name, new state) of every alarm notification the topic delivered to the queue."""
    sqs = _client("sqs")
    seen = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                alarm = json.loads(json.loads(message["Body"])["Message"])
                seen.append((alarm["AlarmName"], alarm["NewStateValue"]))
    return seen


def test_upload_drift_alarm_and_retraining_driven_with_aws_clients_and_the_tick(local_up: LocalUp) -> None:
    started = time.perf_counter()
    url = local_up.url
    config = mlops_context(ROOT, OVERRIDES)
    outputs = _stack_outputs()
    names = StackOutputs.from_outputs(outputs, config["uploadPrefix"])
    drift_function = _client("lambda").get_function_configuration(FunctionName=outputs["DriftFunctionName"])
    settle = drift_function["Environment"]["Variables"]["DRIFT_SETTLE_SECONDS"]
    assert settle == str(base_context(ROOT)["drift"]["settleSeconds"]), "local up deploys cdk.json's settle lag"
    schema = load_schema(ROOT / config["schemaFile"])
    rows = traffic.read_rows(ROOT / "data" / "ai4i2020.csv")[:UPLOAD_ROWS]
    # The model trains on all but the newest rows (the holdout), and its drift baseline describes
    # those: the air temperature in this data is a random walk over the rows, so traffic drawn from
    # the holdout rows would be (real) drift.
    holdout = float(config["training"]["hyperparameters"]["holdout-fraction"])
    trained = rows[: len(rows) - round(holdout * len(rows))]

    sqs, sns = _client("sqs"), _client("sns")
    queue_url = sqs.create_queue(QueueName="alarm-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":mlops-notifications"))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    # 1. upload -> the pipeline -> v1 serves
    header = list(rows[0])
    body = "\n".join([",".join(header), *(",".join(row[c] for c in header) for row in rows)]) + "\n"
    _client("s3").put_object(Bucket=names.incoming_bucket, Key=f"{names.upload_prefix}ai4i2020.csv", Body=body)
    [first] = _wait_for_executions(names, 1, local_up)
    assert first["status"] == "SUCCEEDED", local_up.output()
    v1 = _serving_model(names)["MLOPS_MODEL_PACKAGE_ARN"]

    # 2. labelled in-distribution traffic
    in_distribution = traffic.sample_rows(trained, IN_DISTRIBUTION_ROWS, seed=2)
    ids = _send(names, schema, in_distribution, "in-distribution")
    labels = [row[schema.target] for row in in_distribution]
    _client("s3").put_object(
        Bucket=names.incoming_bucket,
        Key=f"{names.ground_truth_prefix}in-distribution.csv",
        Body=traffic.ground_truth_csv(ids, labels),
    )

    # 3. the clock moves to the next hourly drift check, which sees nothing unusual
    quiet = _tick(url, None)
    assert [r for r in quiet["fired"] if r["rule"] == names.drift_schedule_rule], quiet
    assert _drift_reports(names)[-1]["verdict"] == "no_drift", json.dumps(_drift_reports(names)[-1], indent=1)[:3000]

    # 4. + 5. shifted traffic, an hour later the drift alarm
    importance = _s3_json(_serving_model(names)["MLOPS_BASELINE_URI"]).get("importance")
    shift = traffic.plan_shift(schema, trained, importance)
    concept = traffic.plan_concept_change(schema, trained, importance, exclude=shift.features)
    shifted = traffic.apply_shift(schema, traffic.sample_rows(trained, SHIFTED_ROWS, seed=3), shift)
    shifted_ids = _send(names, schema, shifted, "shifted")
    drifting = _tick(url, None)  # the next drift check
    assert [r for r in drifting["fired"] if r["rule"] == names.drift_schedule_rule], drifting
    report = _drift_reports(names)[-1]
    assert report["verdict"] == "drift", json.dumps(report, indent=1)[:2000]
    assert set(shift.features) & {f["name"] for f in report["features"] if f.get("drifted")}
    detected = _client("cloudwatch").get_metric_statistics(
        Namespace=config["drift"]["metricNamespace"],
        MetricName="DriftDetected",
        Dimensions=[{"Name": "Model", "Value": config["modelName"]}],
        StartTime=_time(drifting["from"]) - timedelta(minutes=5),
        EndTime=_time(drifting["to"]) + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert max(point["Maximum"] for point in detected) == 1.0, detected
    evaluated = _tick(url, 1)  # CloudWatch's next evaluation, on the minute
    assert (names.drift_alarm_name, "ALARM") in _alarm_notifications(queue_url), (drifting, evaluated)
    pending = _read_json(names.artifacts_bucket, "retraining/pending.json")
    assert pending["reason"] == "drift" and pending["alarm"]["name"] == names.drift_alarm_name
    assert len(_client("stepfunctions").list_executions(stateMachineArn=names.state_machine_arn)["executions"]) == 1

    # 6. + 7. the labels of the drifted traffic arrive; the next evaluations retrain
    _client("s3").put_object(
        Bucket=names.incoming_bucket,
        Key=f"{names.ground_truth_prefix}shifted.csv",
        Body=traffic.ground_truth_csv(shifted_ids, concept.labels(schema, shifted)),
    )
    retrained = _tick(url, 2)
    executions = _wait_for_executions(names, 2, local_up)
    assert [e["status"] for e in executions] == ["SUCCEEDED", "SUCCEEDED"], local_up.output()
    second = executions[1]
    assert second["name"].split("-", 1)[0] in {"drift", "quality"}, executions
    assert (names.quality_alarm_name, "ALARM") in _alarm_notifications(queue_url), retrained

    packages = _client("sagemaker").list_model_packages(ModelPackageGroupName=names.model_package_group)[
        "ModelPackageSummaryList"
    ]
    by_version = sorted(packages, key=lambda p: p["ModelPackageVersion"])
    assert [p["ModelApprovalStatus"] for p in by_version] == ["Approved", "Approved"], by_version
    assert by_version[0]["ModelPackageArn"] == v1
    v2 = by_version[1]["ModelPackageArn"]
    assert _serving_model(names)["MLOPS_MODEL_PACKAGE_ARN"] == v2, "the endpoint must serve the new version"
    assert len(_send(names, schema, rows[:BATCH], "after-retraining")) == BATCH

    # the same tick through the command line (the clock moves, nothing is due)
    assert main(["local", "tick", "--endpoint-url", url, "--minutes", "0"]) == 0
    # hundreds of requests later, the server's console holds its banner and the clock's reports only
    access = [line for line in local_up.lines if re.search(r'"(GET|POST|PUT|HEAD|DELETE) /', line)]
    assert access == [], access[:5]
    assert any("alarm " + names.quality_alarm_name + ": OK -> ALARM" in line for line in local_up.lines)
    seconds = time.perf_counter() - started
    print(f"local up loop: {seconds:.0f} s after startup")
