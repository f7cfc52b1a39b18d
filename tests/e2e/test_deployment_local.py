"""Safe deployment through the local cloud: one deployment at a time, decided at deploy time.

The synthesized state machine runs in moto's interpreter, taking the DynamoDB lock natively; the
endpoint follows SageMaker's lifecycle (Creating, Failed, blue/green updates that roll back), so
what these tests see is what the same templates do in AWS — every run ends in a state named after
what happened, and the registry's serving mark agrees with the endpoint.
"""

from __future__ import annotations

import io
import itertools
import json
import random
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from mlops.demo import summary, traffic
from mlops.local.assembly import CloudAssembly, project_root
from mlops.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e

ROOT = project_root()
BURST = 20
ROWS_PER_UPLOAD = 500
# What a run may truly end in (docs/ARCHITECTURE.md "State machine"); a deployment failure is not one.
TRUE_END_STATES = {"Deployed", "Superseded", "AlreadyServing", "ModelRejected", "NotRetrained"}


@pytest.fixture(scope="module")
def dev_assembly(fixed_threshold_assembly: CloudAssembly) -> CloudAssembly:
    """The session's shared dev-stage assembly (tests/e2e/conftest.py): what is tested here is which
    run deploys and what serves, never the decision threshold, so the training jobs take a fixed one."""
    return fixed_threshold_assembly


def _rows(seed: int) -> list[dict[str, str]]:
    rows = traffic.read_rows(ROOT / "data" / "ai4i2020.csv")
    random.Random(seed).shuffle(rows)
    return rows


def _upload(cloud: LocalCloud, resources: summary.Resources, rows: list[dict[str, str]], name: str) -> None:
    path = cloud.work_dir / f"{name}.csv"
    traffic.write_csv(rows, path)
    cloud.client("s3").upload_file(str(path), resources.incoming_bucket, f"{resources.upload_prefix}{name}.csv")


def _train_batches(cloud: LocalCloud, package_arn: str) -> set[str]:
    described = cloud.client("sagemaker").describe_model_package(ModelPackageName=package_arn)
    uri = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    metrics = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return set(metrics["data"]["trainBatches"])


def _wait_for_status(cloud: LocalCloud, endpoint: str, wanted: str, timeout: float = 60.0) -> dict[str, Any]:
    sagemaker = cloud.client("sagemaker")
    deadline = time.monotonic() + timeout
    while True:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] == wanted:
            return described
        assert time.monotonic() < deadline, f"endpoint {endpoint} is {described['EndpointStatus']}, not {wanted}"
        time.sleep(0.2)


def test_twenty_concurrent_uploads_end_with_one_model_serving_and_every_run_in_a_true_state(
    dev_assembly: CloudAssembly, tmp_path: Path
) -> None:
    rows = _rows(seed=3)
    with LocalCloud(tmp_path) as cloud:
        resources = summary.Resources.from_outputs(cloud.deploy(dev_assembly).outputs, "uploads/")
        for i in range(BURST):
            _upload(cloud, resources, rows[i * ROWS_PER_UPLOAD : (i + 1) * ROWS_PER_UPLOAD], f"burst-{i:02d}")
        cloud.wait_for_runs(timeout=2400)

        runs = summary.executions(cloud, resources)
        versions = {v["version"]: v for v in summary.model_versions(cloud, resources)}
        served = summary.endpoint(cloud, resources)

        assert len(runs) == BURST
        failures = [(r["name"], r["error"], r["cause"]) for r in runs if r["status"] != "SUCCEEDED"]
        assert not failures, failures
        end_states = [r["endState"] for r in runs]
        assert set(end_states) <= TRUE_END_STATES, end_states
        deployed = [r for r in runs if r["endState"] == "Deployed"]
        assert deployed, "at least the first deployment must have happened"

        # Exactly one model serves, and the registry's serving mark says which.
        assert served is not None and served["status"] == "InService"
        marked = [v for v in versions.values() if v["serving"]]
        assert [v["arn"] for v in marked] == [served["modelPackageArn"]]

        # Every Deployed run really served: the replaced ones were unmarked after, in order.
        deployed_versions = sorted(
            (versions[r["deployment"]["version"]] for r in deployed), key=lambda v: v["servedSince"]
        )
        assert deployed_versions[-1]["serving"] and deployed_versions[-1]["arn"] == served["modelPackageArn"]
        for earlier, later in itertools.pairwise(deployed_versions):
            assert earlier["servedUntil"] is not None and earlier["servedUntil"] >= later["servedSince"]

        # Every Superseded run is true: the model serving at its decision was registered after it,
        # or was trained on every batch it was trained on.
        for run in (r for r in runs if r["endState"] == "Superseded"):
            decision = run["deployment"]
            challenger, serving = versions[decision["version"]], versions[decision["servingVersion"]]
            newer = serving["version"] > challenger["version"]
            superset = _train_batches(cloud, challenger["arn"]) <= _train_batches(cloud, serving["arn"])
            assert newer or superset, (run["name"], decision)

        # The endpoint answers with the model the registry says serves.
        body = traffic.csv_requests(_schema(), rows[:5], batch_size=5)[0]
        response = cloud.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=resources.endpoint_name, ContentType="text/csv", Accept="application/json", Body=body
        )
        assert len(json.loads(response["Body"].read())["predictions"]) == 5
        print(  # the measured burst, for the record
            f"\n{BURST} uploads: "
            + ", ".join(f"{state}={end_states.count(state)}" for state in sorted(set(end_states)))
            + f"; serving v{marked[0]['version']}"
        )


def _schema() -> Any:
    from pipelines.schema import load_schema

    return load_schema(ROOT / "schemas" / "ai4i2020.schema.json")


def _broken_endpoint(cloud: LocalCloud, resources: summary.Resources, role_arn: str, image: str) -> None:
    """An endpoint whose model cannot start (a corrupt artifact): SageMaker leaves it Failed."""
    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"not a model"
        info = tarfile.TarInfo("model.joblib")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=resources.artifacts_bucket, Key="broken/model.tar.gz", Body=buffer.getvalue())
    sagemaker.create_model(
        ModelName="model-broken",
        ExecutionRoleArn=role_arn,
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": f"s3://{resources.artifacts_bucket}/broken/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "MLOPS_MODEL_SHA256": "0" * 64},
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="config-broken",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "model-broken",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=resources.endpoint_name, EndpointConfigName="config-broken")


def test_a_failed_endpoint_is_deleted_and_recreated_by_the_next_run(
    dev_assembly: CloudAssembly, tmp_path: Path
) -> None:
    with LocalCloud(tmp_path) as cloud:
        deployment = cloud.deploy(dev_assembly)
        resources = summary.Resources.from_outputs(deployment.outputs, "uploads/")
        _broken_endpoint(
            cloud, resources, deployment.output("SageMakerRoleArn"), deployment.output("InferenceImageUri")
        )
        failed = _wait_for_status(cloud, resources.endpoint_name, "Failed")
        assert "did not pass the ping health check" in failed["FailureReason"]
        # SageMaker refuses every change of a Failed endpoint but its deletion.
        sagemaker = cloud.client("sagemaker")
        with pytest.raises(sagemaker.exceptions.ClientError, match="DeleteEndpoint is the only operation"):
            sagemaker.update_endpoint(EndpointName=resources.endpoint_name, EndpointConfigName="config-broken")

        _upload(cloud, resources, traffic.sample_rows(_rows(seed=5), 2000, seed=1), "after-failure")
        cloud.wait_for_runs(timeout=900)

        (run,) = summary.executions(cloud, resources)
        assert (run["status"], run["endState"]) == ("SUCCEEDED", "Deployed"), run
        history = cloud.client("stepfunctions").get_execution_history(
            executionArn=cloud.executions()[0]["executionArn"], maxResults=1000
        )["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        assert entered.index("DeleteFailedEndpoint") < entered.index("CreateEndpoint") < entered.index("Deployed")
        served = summary.endpoint(cloud, resources)
        (version,) = summary.model_versions(cloud, resources)
        assert served is not None and served["status"] == "InService"
        assert served["modelPackageArn"] == version["arn"] and version["serving"]

        # The endpoint started from its model archive alone: the serving code is inside it, and the
        # run trained from the artifacts bucket's copy of the source archive, not the CDK asset.
        model = cloud.client("sagemaker").describe_model(ModelName=served["model"])["PrimaryContainer"]
        assert model["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
        bucket, _, key = model["ModelDataUrl"].removeprefix("s3://").partition("/")
        body = io.BytesIO(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        with tarfile.open(fileobj=body) as archive:
            names = set(archive.getnames())
        assert {"model.joblib", "code/inference.py", "code/pipelines/inference.py", "code/schema.json"} <= names
        copy = deployment.output("PublishedSourceArchiveUrl")
        assert copy.startswith(f"s3://{resources.artifacts_bucket}/code/")
        copy_bucket, _, copy_key = copy.removeprefix("s3://").partition("/")
        cloud.client("s3").head_object(Bucket=copy_bucket, Key=copy_key)
