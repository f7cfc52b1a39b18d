"""deploy against moto: the decision's facts are read from the registry, S3 and the endpoint."""

from __future__ import annotations

import json

import boto3
import pytest

from functions.deploy.handler import lambda_handler
from functions.shared.errors import RegistryError

GROUP = "ai4i-failure"
ENDPOINT = "ai4i-failure"
BUCKET = "artifacts"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/mlops-sagemaker"
SOURCE = "s3://cdk-assets/sourcedir.tar.gz"


@pytest.fixture
def sagemaker(aws, monkeypatch):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", GROUP)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("INFERENCE_PROGRAM", "inference.py")
    monkeypatch.setenv("SOURCE_ARCHIVE_URL", SOURCE)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    client = boto3.client("sagemaker")
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    return client


def register(sagemaker, job: str, trained: list[str], *, group: str = GROUP, status: str = "Approved", env=None) -> str:
    key = f"reports/{job}/metrics.json"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"data": {"trainBatches": trained}}))
    return sagemaker.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [
                {
                    "Image": IMAGE,
                    "ModelDataUrl": f"s3://{BUCKET}/training/{job}/output/model.tar.gz",
                    "Environment": env
                    or {
                        "MLOPS_MODEL_SHA256": "ab" * 32,
                        "MLOPS_BASELINE_URI": f"s3://{BUCKET}/reports/{job}/baseline.json",
                    },
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
        },
        ModelApprovalStatus=status,
    )["ModelPackageArn"]


def serve(sagemaker, package_arn: str) -> None:
    sagemaker.create_model(
        ModelName="model-a",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "Environment": {"MLOPS_MODEL_PACKAGE_ARN": package_arn}},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="config-a",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "model-a",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="config-a")


def test_without_an_endpoint_the_challenger_is_created_from_its_registry_entry(sagemaker, lambda_context):
    arn = register(sagemaker, "train-a", ["b1"])
    result = lambda_handler({"modelPackageArn": arn, "reason": "upload"}, lambda_context)
    assert (result["action"], result["outcome"], result["endpointStatus"]) == ("create", None, None)
    challenger = result["challenger"]
    assert challenger["image"] == IMAGE and challenger["modelDataUrl"].endswith("train-a/output/model.tar.gz")
    environment = challenger["environment"]
    assert environment["MLOPS_MODEL_PACKAGE_ARN"] == arn and environment["MLOPS_MODEL_SHA256"] == "ab" * 32
    # An older package without its serving program recorded gets the function's defaults.
    assert (environment["SAGEMAKER_PROGRAM"], environment["SAGEMAKER_SUBMIT_DIRECTORY"]) == ("inference.py", SOURCE)
    assert result["hasServing"] is False


def test_the_serving_model_is_compared_inside_the_lock(sagemaker, lambda_context):
    first = register(sagemaker, "train-a", ["b1", "b2"])
    second = register(sagemaker, "train-b", ["b1"])
    serve(sagemaker, first)

    stale = lambda_handler({"modelPackageArn": second, "reason": "upload"}, lambda_context)
    assert (stale["action"], stale["outcome"]) == ("skip", "Superseded")
    assert stale["serving"] == {"modelPackageArn": first, "version": 1, "endpointConfig": "config-a"}
    assert "environment" not in stale["challenger"]  # nothing to create for a skipped run

    third = register(sagemaker, "train-c", ["b1", "b3"])
    newer = lambda_handler({"modelPackageArn": third, "reason": "upload"}, lambda_context)
    assert (newer["action"], newer["why"], newer["hasServing"]) == ("update", "v3 replaces v1", True)


def test_a_package_of_another_group_is_refused(sagemaker, lambda_context):
    sagemaker.create_model_package_group(ModelPackageGroupName="someone-else")
    foreign = register(sagemaker, "train-x", ["b1"], group="someone-else")
    with pytest.raises(RegistryError, match="deploys only its own models"):
        lambda_handler({"modelPackageArn": foreign, "reason": "approval"}, lambda_context)


def test_a_package_without_its_digest_cannot_be_deployed(sagemaker, lambda_context):
    arn = register(sagemaker, "train-a", ["b1"], env={"MLOPS_BASELINE_URI": "s3://x/baseline.json"})
    with pytest.raises(RegistryError, match="MLOPS_MODEL_SHA256"):
        lambda_handler({"modelPackageArn": arn, "reason": "upload"}, lambda_context)
