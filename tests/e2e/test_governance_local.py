"""Production governance through the local cloud: approval, rejection, a failed update, a rollback.

The prod stage (``-c stage=prod``, approval ``manual``) is synthesized and deployed as is: a
challenger that passes the gate waits in the Model Registry; ``mlops approve`` approves it, the
registry's state-change event reaches the trigger, and the pipeline's deployment phase deploys it
(blue/green, canary). A version whose model cannot load is rolled back and the previous one keeps
answering; ``mlops rollback`` puts the version that served before back.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mlops.cli import main
from mlops.demo import summary, traffic
from mlops.local.assembly import CloudAssembly, project_root
from mlops.local.cloud import LocalCloud
from pipelines.schema import load_schema

pytestmark = pytest.mark.e2e

ROOT = project_root()
STAGE = ["--stage", "prod"]


# prod_assembly: the demo's context, `-c stage=prod` (tests/e2e/conftest.py).


def _upload_and_wait(cloud: LocalCloud, resources: summary.Resources, rows: list[dict[str, str]], name: str) -> None:
    path = cloud.work_dir / f"{name}.csv"
    traffic.write_csv(rows, path)
    cloud.client("s3").upload_file(str(path), resources.incoming_bucket, f"{resources.upload_prefix}{name}.csv")
    cloud.wait_for_runs(timeout=900)


def _versions(cloud: LocalCloud, resources: summary.Resources) -> dict[int, dict[str, Any]]:
    return {v["version"]: v for v in summary.model_versions(cloud, resources)}


def _predict(cloud: LocalCloud, resources: summary.Resources, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    schema = load_schema(ROOT / "schemas" / "ai4i2020.schema.json")
    body = traffic.csv_requests(schema, rows, batch_size=len(rows))[0]
    response = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=resources.endpoint_name, ContentType="text/csv", Accept="application/json", Body=body
    )
    predictions: list[dict[str, Any]] = json.loads(response["Body"].read())["predictions"]
    return predictions


def _corrupt_model(cloud: LocalCloud, model_data_url: str) -> None:
    """Change one byte of model.joblib inside model.tar.gz: the digest the registry recorded no
    longer matches, so the serving code refuses to load it (as bit rot or tampering would)."""
    s3 = cloud.client("s3")
    bucket, _, key = model_data_url.removeprefix("s3://").partition("/")
    body = io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    rewritten = io.BytesIO()
    with tarfile.open(fileobj=body) as original, tarfile.open(fileobj=rewritten, mode="w:gz") as archive:
        for member in original.getmembers():
            data = original.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name.endswith("model.joblib"):
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    s3.put_object(Bucket=bucket, Key=key, Body=rewritten.getvalue())


def _cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    """Run `mlops ARGS --stage prod`; the output, with what went to stderr after it."""
    code = main([*arguments, *STAGE])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_prod_waits_for_approval_and_every_decision_deploys_through_one_path(
    prod_assembly: CloudAssembly, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = traffic.read_rows(ROOT / "data" / "ai4i2020.csv")
    random.Random(11).shuffle(rows)
    with LocalCloud(tmp_path) as cloud:
        deployment = cloud.deploy(prod_assembly)
        resources = summary.Resources.from_outputs(deployment.outputs, "uploads/")
        topic = deployment.output("NotificationsTopicArn")

        # 1. Three uploads, one after the other: each challenger passes the gate and waits.
        for number in range(3):
            _upload_and_wait(cloud, resources, rows[number * 1500 : (number + 1) * 1500], f"batch-{number}")
        runs = summary.executions(cloud, resources)
        assert [(r["status"], r["endState"]) for r in runs] == [("SUCCEEDED", "AwaitingApproval")] * 3
        versions = _versions(cloud, resources)
        assert [versions[n]["approval"] for n in (1, 2, 3)] == ["PendingManualApproval"] * 3
        assert summary.endpoint(cloud, resources) is None  # nothing deploys without a person
        waiting = [n for n in cloud.notifications(topic) if "ModelAwaitingApproval" in n["message"]]
        assert len(waiting) == 3

        # 2. Approving v1 in the registry deploys it: the state-change event, the trigger, the deployment.
        code, out = _cli(capsys, "approve", "1", "--wait", "--timeout", "300")
        assert code == 0 and "Deployed" in out, out
        served = summary.endpoint(cloud, resources)
        assert served is not None and served["modelPackageArn"] == versions[1]["arn"]
        v1_config = served["endpointConfig"]
        before = _predict(cloud, resources, rows[-20:])

        # 3. Rejecting v2 starts nothing: v1 keeps serving.
        code, out = _cli(capsys, "reject", "2")
        assert code == 0 and "serving version is unchanged" in out, out
        cloud.wait_for_runs(timeout=60)
        assert len(summary.executions(cloud, resources)) == 4
        assert summary.endpoint(cloud, resources)["endpointConfig"] == v1_config  # type: ignore[index]

        # 4. v3's artifact is damaged after registration; approving it starts an update whose new
        #    fleet cannot load the model: the update rolls back, v1 still answers, people are told.
        _corrupt_model(cloud, _model_data_url(cloud, versions[3]["arn"]))
        code, out = _cli(capsys, "approve", "3", "--wait", "--timeout", "300")
        assert code == 1 and "DeploymentRolledBack" in out, out
        served = summary.endpoint(cloud, resources)
        assert served is not None and served["endpointConfig"] == v1_config and served["status"] == "InService"
        assert _predict(cloud, resources, rows[-20:]) == before
        assert any("DeploymentRolledBack" in n["message"] for n in cloud.notifications(topic))
        versions = _versions(cloud, resources)
        assert versions[1]["serving"] and not versions[3]["serving"]

        # 5. Approving v2 after all: it replaces v1 (registered later, trained on more batches).
        code, out = _cli(capsys, "approve", "2", "--wait", "--timeout", "300")
        assert code == 0 and "Deployed" in out, out
        assert summary.endpoint(cloud, resources)["modelPackageArn"] == versions[2]["arn"]  # type: ignore[index]

        # 6. `mlops models` shows who serves; `mlops rollback` puts the one that served before back.
        code, out = _cli(capsys, "models", "--json")
        listed = {v["version"]: v for v in json.loads(out)["versions"]}  # nothing on stderr here
        assert code == 0 and listed[2]["serving"] and listed[2]["endpointServes"]
        assert [listed[n]["approval"] for n in (1, 2, 3)] == ["Approved", "Approved", "Approved"]
        code, out = _cli(capsys, "rollback")
        assert code == 0 and "rolling back to v1" in out and "Deployed" in out, out
        served = summary.endpoint(cloud, resources)
        assert served is not None and served["modelPackageArn"] == versions[1]["arn"]
        assert _predict(cloud, resources, rows[-20:]) == before
        versions = _versions(cloud, resources)
        assert versions[1]["serving"] and not versions[2]["serving"] and versions[2]["servedUntil"]

        # Every run ended in a state named after what happened.
        ends = [
            (r["reason"], r["status"], r["endState"] if r["status"] == "SUCCEEDED" else r["error"])
            for r in summary.executions(cloud, resources)
        ]
        assert ends == [
            ("upload", "SUCCEEDED", "AwaitingApproval"),
            ("upload", "SUCCEEDED", "AwaitingApproval"),
            ("upload", "SUCCEEDED", "AwaitingApproval"),
            ("approval", "SUCCEEDED", "Deployed"),
            ("approval", "FAILED", "DeploymentRolledBack"),
            ("approval", "SUCCEEDED", "Deployed"),
            ("rollback", "SUCCEEDED", "Deployed"),
        ], ends


def _model_data_url(cloud: LocalCloud, package_arn: str) -> str:
    described = cloud.client("sagemaker").describe_model_package(ModelPackageName=package_arn)
    return str(described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])
