"""register against moto's Model Registry, fed by the evaluate Lambda on a real training run."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from functions.evaluate.handler import lambda_handler as evaluate
from functions.register.handler import lambda_handler as register
from functions.shared.errors import ConfigurationError, RegistryError

ARTIFACTS = "mlops-artifacts-123456789012"
GROUP = "ai4i-failure"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:mlops-pipeline:upload-0123456789abcdef0123456789abcdef"
JOB = "train-upload-0123456789abcdef0123456789abcdef"


@pytest.fixture
def registry(aws, monkeypatch):
    for name, value in {
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "GATE_PRIMARY_METRIC": "roc_auc",
        # The fixture's holdout is its newest 600 rows (13 failures): PR-AUC is low there.
        "GATE_THRESHOLDS": json.dumps({"roc_auc": 0.8, "pr_auc": 0.2}),
        "GATE_MIN_IMPROVEMENT": "0.002",
        "MODEL_PACKAGE_GROUP": GROUP,
        "INFERENCE_IMAGE_URI": IMAGE,
        "CODE_VERSION": "git-3f2a1c9",
        "APPROVAL_MODE": "auto",
        "INFERENCE_PROGRAM": "inference.py",
        "STAGE": "default",
        # The function reads the schema shipped with its code (the model card's intended use).
        "SCHEMA_PATH": str(Path(__file__).resolve().parents[3] / "schemas" / "ai4i2020.schema.json"),
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    return sagemaker


@pytest.fixture
def pipeline_state(registry, training_run, lambda_context) -> dict:
    """The execution state as it reaches Register: trigger input + validate + training + evaluate."""
    s3 = boto3.client("s3")
    prefix = f"training/{JOB}/output/"
    s3.put_object(Bucket=ARTIFACTS, Key=prefix + "model.tar.gz", Body=training_run.model_tar())
    s3.put_object(Bucket=ARTIFACTS, Key=prefix + "output.tar.gz", Body=training_run.output_tar())
    training = {"jobName": JOB, "modelArtifacts": f"s3://{ARTIFACTS}/{prefix}model.tar.gz"}
    data = {
        "bucket": "mlops-incoming-123456789012",
        "key": "uploads/ai4i2020.csv",
        "versionId": "v-1",
        "etag": "b1946ac92492d2347c6235b4d2611184",
    }
    return {
        "executionArn": EXECUTION,
        "executionInput": {"reason": "upload", "data": data},
        "reason": "upload",
        "data": data,
        "validation": {
            "dataset": "ai4i2020",
            "datasetVersion": "20261112T000000Z-0123456789ab",
            "snapshot": {
                "bucket": "mlops-curated-123456789012",
                "key": "snapshots/ai4i2020/20261112T000000Z-0123456789ab/data.csv",
                "prefixUri": "s3://mlops-curated-123456789012/snapshots/ai4i2020/20261112T000000Z-0123456789ab/",
            },
            "reportUri": "s3://mlops-curated-123456789012/snapshots/ai4i2020/20261112T000000Z-0123456789ab/validation.json",
            "rows": 3000,
            "positives": 97,
            "sha256": "0123456789ab" + "0" * 52,
        },
        "champion": {"found": False},
        "training": training,
        "evaluation": evaluate(training, lambda_context),
    }


def test_an_approved_challenger_is_registered_with_metrics_and_lineage(registry, pipeline_state, lambda_context):
    result = register(pipeline_state, lambda_context)

    assert result["approvalStatus"] == "Approved" and result["version"] == 1
    package = registry.describe_model_package(ModelPackageName=result["modelPackageArn"])
    assert package["ModelPackageGroupName"] == GROUP
    assert package["ModelApprovalStatus"] == "Approved"
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == IMAGE
    assert container["ModelDataUrl"] == pipeline_state["training"]["modelArtifacts"]
    assert container["Environment"]["MLOPS_MODEL_SHA256"] == pipeline_state["evaluation"]["artifactSha256"]
    assert container["Environment"]["MLOPS_BASELINE_URI"] == f"s3://{ARTIFACTS}/reports/{JOB}/baseline.json"
    assert set(package["InferenceSpecification"]["SupportedContentTypes"]) == {"text/csv", "application/json"}
    metrics = package["ModelMetrics"]
    assert metrics["ModelQuality"]["Statistics"]["S3Uri"] == f"s3://{ARTIFACTS}/reports/{JOB}/metrics.json"
    assert metrics["ModelDataQuality"]["Statistics"]["S3Uri"] == f"s3://{ARTIFACTS}/reports/{JOB}/baseline.json"
    assert metrics["ModelQuality"]["Statistics"]["ContentType"] == "application/json"
    lineage = package["CustomerMetadataProperties"]
    assert lineage["executionArn"] == EXECUTION
    assert lineage["trainingJob"] == JOB
    assert lineage["datasetVersion"] == "20261112T000000Z-0123456789ab"
    assert lineage["dataVersionId"] == "v-1"
    assert lineage["codeVersion"] == "git-3f2a1c9"
    assert lineage["artifactSha256"] == pipeline_state["evaluation"]["artifactSha256"]
    assert "model-type=logistic_regression" in lineage["hyperparameters"]
    assert lineage["metrics"].startswith("accuracy=")
    assert all(len(v) <= 256 and len(k) <= 128 for k, v in lineage.items())
    assert package["MetadataProperties"]["GeneratedBy"] == EXECUTION

    # The model card: written beside the reports, linked from the package, computed in training.
    card_uri = lineage["modelCard"]
    assert card_uri == f"s3://{ARTIFACTS}/reports/{JOB}/model-card.json"
    s3 = boto3.client("s3")
    card = json.loads(s3.get_object(Bucket=ARTIFACTS, Key=f"reports/{JOB}/model-card.json")["Body"].read())
    assert card["model"]["version"] == 1 and card["model"]["modelPackageArn"] == result["modelPackageArn"]
    assert card["intendedUse"]["dataset"] == "ai4i2020" and "Machine failure" in card["intendedUse"]["task"]
    assert card["metrics"]["holdout"]["roc_auc"] == pipeline_state["evaluation"]["metrics"]["roc_auc"]
    assert set(card["metrics"]["bySegment"]) == {"Type"}  # the schema's one categorical feature
    assert set(card["metrics"]["bySegment"]["Type"]) <= {"L", "M", "H"}
    assert set(card["permutationImportance"]) == {
        "Type",
        "Air temperature [K]",
        "Process temperature [K]",
        "Rotational speed [rpm]",
        "Torque [Nm]",
        "Tool wear [min]",
    }
    assert card["threshold"]["mode"] and card["dataWindow"]["holdoutRule"]
    assert card["lineage"]["trainingJob"] == JOB
    page = s3.get_object(Bucket=ARTIFACTS, Key=f"reports/{JOB}/model-card.html")["Body"].read().decode()
    assert page.startswith("<!doctype html>") and "Permutation importance" in page and "Torque [Nm]" in page


def test_a_rejected_challenger_is_registered_as_rejected(registry, pipeline_state, lambda_context, monkeypatch):
    monkeypatch.setenv("GATE_THRESHOLDS", json.dumps({"roc_auc": 0.999}))
    pipeline_state["evaluation"] = evaluate(pipeline_state["training"], lambda_context)

    first = register(pipeline_state, lambda_context)

    assert first["approvalStatus"] == "Rejected"
    package = registry.describe_model_package(ModelPackageName=first["modelPackageArn"])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "FAIL threshold: roc_auc" in package["ModelPackageDescription"]


def test_where_approval_is_manual_a_gate_pass_waits_for_a_person(registry, pipeline_state, lambda_context, monkeypatch):
    monkeypatch.setenv("APPROVAL_MODE", "manual")
    monkeypatch.setenv("STAGE", "prod")

    result = register(pipeline_state, lambda_context)

    assert pipeline_state["evaluation"]["approvalStatus"] == "Approved"  # the gate passed it ...
    assert result["approvalStatus"] == "PendingManualApproval"  # ... the registry waits for a person
    package = registry.describe_model_package(ModelPackageName=result["modelPackageArn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"]["stage"] == "prod"
    # The package carries what a later deployment of it needs: the code is inside its model.tar.gz.
    environment = package["InferenceSpecification"]["Containers"][0]["Environment"]
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"


def test_a_gate_failure_is_rejected_whatever_the_approval_mode(registry, pipeline_state, lambda_context, monkeypatch):
    monkeypatch.setenv("APPROVAL_MODE", "manual")
    monkeypatch.setenv("GATE_THRESHOLDS", json.dumps({"roc_auc": 0.999}))
    pipeline_state["evaluation"] = evaluate(pipeline_state["training"], lambda_context)
    assert register(pipeline_state, lambda_context)["approvalStatus"] == "Rejected"
    monkeypatch.setenv("APPROVAL_MODE", "sometimes")
    with pytest.raises(ConfigurationError, match="APPROVAL_MODE"):
        register(pipeline_state, lambda_context)


def test_versions_increase_with_each_registration(registry, pipeline_state, lambda_context):
    first = register(pipeline_state, lambda_context)
    second = register({**pipeline_state, "executionArn": EXECUTION.replace("upload-0", "upload-1")}, lambda_context)
    assert (first["version"], second["version"]) == (1, 2)


def test_a_missing_group_is_a_clear_error(registry, pipeline_state, lambda_context, monkeypatch):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", "no-such-group")
    with pytest.raises(RegistryError, match="model package group 'no-such-group' does not exist"):
        register(pipeline_state, lambda_context)


def test_incomplete_input_and_configuration(registry, pipeline_state, lambda_context, monkeypatch):
    with pytest.raises(ValueError, match=r"training\.jobName"):
        register({**pipeline_state, "training": {}}, lambda_context)
    monkeypatch.delenv("INFERENCE_IMAGE_URI")
    with pytest.raises(ConfigurationError, match="INFERENCE_IMAGE_URI"):
        register(pipeline_state, lambda_context)
