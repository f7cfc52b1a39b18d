"""The local cloud's endpoint lifecycle: blue/green updates that shift traffic and roll back on alarms.

Through the public SageMaker API only, on hand-made models, so each behaviour is pinned down in
seconds: a canary takes its share of the requests while the update bakes, a model error in that
share sets off the rollback alarm and the endpoint returns to its previous config, a healthy update
completes, and CreateEndpoint refuses a name that exists.
"""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from endpoint_waits import settled

from mlops.local.adapters.endpoint_deployments import traffic_steps
from mlops.local.cloud import LocalCloud

BUCKET = "models"
ROLE = "arn:aws:iam::123456789012:role/sm"
INFERENCE = textwrap.dedent(
    """
    import json, os
    def model_fn(model_dir):
        return json.load(open(os.path.join(model_dir, "model.json")))
    def input_fn(body, content_type):
        return [float(line) for line in body.split()]
    def predict_fn(data, model):
        if model.get("broken"):
            raise RuntimeError("this model fails every request")
        return [x * model["factor"] for x in data]
    def output_fn(prediction, accept):
        return json.dumps({"predictions": prediction}), "application/json"
    """
)


def _tar(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def cloud(tmp_path: Path) -> Any:
    with LocalCloud(tmp_path) as local:
        s3 = local.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        # The code travels inside model.tar.gz (code/), as the pipeline packs it.
        for name, model in {"good": {"factor": 2}, "better": {"factor": 3}, "broken": {"broken": True}}.items():
            body = _tar({"model.json": json.dumps(model), "code/inference.py": INFERENCE})
            s3.put_object(Bucket=BUCKET, Key=f"{name}/model.tar.gz", Body=body)
        yield local


def _model(sagemaker: Any, name: str) -> str:
    sagemaker.create_model(
        ModelName=f"model-{name}",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "sklearn",
            "ModelDataUrl": f"s3://{BUCKET}/{name}/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"config-{name}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"model-{name}",
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    return f"config-{name}"


def _alarm(cloud: LocalCloud, endpoint: str) -> str:
    name = f"{endpoint}-model-errors"
    cloud.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="InvocationModelErrors",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    return name


def _canary(alarm: str, wait: int = 3) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": wait,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            },
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
    }


def _traffic_while_updating(cloud: LocalCloud, endpoint: str) -> list[Any]:
    """Requests sent for as long as the endpoint is Updating: answers, or the ModelError raised."""
    runtime, sagemaker = cloud.client("sagemaker-runtime"), cloud.client("sagemaker")
    seen: list[Any] = []
    while sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating":
        try:
            response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1\n")
            seen.append(json.loads(response["Body"].read())["predictions"][0])
        except runtime.exceptions.ModelError as error:
            seen.append(error)
        time.sleep(0.05)
    return seen


def test_a_canary_whose_model_errors_trips_the_alarm_and_rolls_back(cloud: LocalCloud) -> None:
    sagemaker = cloud.client("sagemaker")
    good, broken = _model(sagemaker, "good"), _model(sagemaker, "broken")
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName=good)
    assert settled(sagemaker, "ep")["EndpointStatus"] == "InService"
    alarm = _alarm(cloud, "ep")

    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName=broken, DeploymentConfig=_canary(alarm))
    seen = _traffic_while_updating(cloud, "ep")
    described = settled(sagemaker, "ep")

    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == good
    assert f"Alarm {alarm} went into ALARM" in described["FailureReason"]
    # The canary took part of the traffic (its requests failed) while the old fleet answered the rest.
    assert any(isinstance(s, Exception) for s in seen) and 2.0 in seen
    assert cloud.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "ALARM"
    response = cloud.client("sagemaker-runtime").invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body=b"1\n")
    assert json.loads(response["Body"].read())["predictions"] == [2.0]


def test_a_healthy_canary_completes_the_update(cloud: LocalCloud) -> None:
    sagemaker = cloud.client("sagemaker")
    good, better = _model(sagemaker, "good"), _model(sagemaker, "better")
    sagemaker.create_endpoint(EndpointName="ep2", EndpointConfigName=good)
    settled(sagemaker, "ep2")
    alarm = _alarm(cloud, "ep2")

    sagemaker.update_endpoint(EndpointName="ep2", EndpointConfigName=better, DeploymentConfig=_canary(alarm, wait=2))
    seen = _traffic_while_updating(cloud, "ep2")
    described = settled(sagemaker, "ep2")

    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", better)
    assert "FailureReason" not in described
    assert set(seen) <= {2.0, 3.0} and 3.0 in seen  # both fleets answered while the canary baked


def test_a_model_that_does_not_load_fails_the_endpoint_which_then_takes_only_deletion(cloud: LocalCloud) -> None:
    sagemaker = cloud.client("sagemaker")
    cloud.client("s3").put_object(Bucket=BUCKET, Key="bad/model.tar.gz", Body=b"not a tar archive")
    sagemaker.create_model(
        ModelName="model-bad",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "sklearn", "ModelDataUrl": f"s3://{BUCKET}/bad/model.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="config-bad",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "model-bad",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="ep3", EndpointConfigName="config-bad")
    assert settled(sagemaker, "ep3")["EndpointStatus"] == "Failed"
    with pytest.raises(sagemaker.exceptions.ClientError, match="Cannot create already existing endpoint"):
        sagemaker.create_endpoint(EndpointName="ep3", EndpointConfigName="config-bad")
    with pytest.raises(sagemaker.exceptions.ClientError, match="DeleteEndpoint is the only operation"):
        sagemaker.update_endpoint(EndpointName="ep3", EndpointConfigName="config-bad")
    sagemaker.delete_endpoint(EndpointName="ep3")
    with pytest.raises(sagemaker.exceptions.ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName="ep3")


def test_an_endpoint_being_created_cannot_be_updated(cloud: LocalCloud) -> None:
    sagemaker = cloud.client("sagemaker")
    good = _model(sagemaker, "good")
    gate = threading.Event()
    original = cloud.endpoints.lifecycle._start_model

    def slow_start(*args: Any) -> None:
        gate.wait(10)
        original(*args)

    cloud.endpoints.lifecycle._start_model = slow_start
    sagemaker.create_endpoint(EndpointName="ep4", EndpointConfigName=good)
    assert sagemaker.describe_endpoint(EndpointName="ep4")["EndpointStatus"] == "Creating"
    with pytest.raises(sagemaker.exceptions.ClientError, match="in status Creating"):
        sagemaker.update_endpoint(EndpointName="ep4", EndpointConfigName=good)
    gate.set()
    assert settled(sagemaker, "ep4")["EndpointStatus"] == "InService"


@pytest.mark.parametrize(
    ("routing", "fleet", "weights"),
    [
        ({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 5}, 1, [1.0]),
        (
            {"Type": "CANARY", "WaitIntervalInSeconds": 5, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}},
            4,
            [0.25, 1.0],
        ),
        (
            {"Type": "CANARY", "WaitIntervalInSeconds": 5, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
            4,
            [0.25, 1.0],
        ),
        (
            {"Type": "LINEAR", "WaitIntervalInSeconds": 5, "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 40}},
            5,
            [0.4, 0.8, 1.0],
        ),
    ],
)
def test_traffic_steps_follow_the_routing_configuration(
    routing: dict[str, Any], fleet: int, weights: list[float]
) -> None:
    config = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": 7}}
    steps, bake, termination, alarms = traffic_steps(config, fleet)
    assert steps == pytest.approx(weights) and (bake, termination, alarms) == (5.0, 7.0, [])
