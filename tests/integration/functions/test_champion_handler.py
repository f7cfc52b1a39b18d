"""champion against moto's SageMaker Model Registry and endpoints."""

from __future__ import annotations

import hashlib

import boto3
import pytest
from moto.sagemaker.models import sagemaker_backends

from functions.champion.handler import lambda_handler

ACCOUNT, REGION = "123456789012", "us-east-1"

GROUP = "ai4i-failure"
ENDPOINT = "ai4i-failure"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/mlops-sagemaker"


@pytest.fixture
def sagemaker(aws, monkeypatch):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", GROUP)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    return boto3.client("sagemaker")


def sha_of(job: str) -> str:
    return hashlib.sha256(job.encode()).hexdigest()


def metrics_uri(job: str) -> str:
    return f"s3://artifacts/reports/{job}/metrics.json"


def register(sagemaker, job: str, status: str, *, with_metrics: bool = True) -> str:
    # As the register function records them: ModelQuality = metrics.json, ModelDataQuality = baseline.json.
    model_metrics = {
        "ModelMetrics": {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri(job)}},
            "ModelDataQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://artifacts/reports/{job}/baseline.json",
                }
            },
        }
    }
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        **(model_metrics if with_metrics else {}),
        InferenceSpecification={
            "Containers": [
                {
                    "Image": IMAGE,
                    "ModelDataUrl": f"s3://artifacts/training/{job}/output/model.tar.gz",
                    "Environment": {"MLOPS_MODEL_SHA256": sha_of(job)},
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus=status,
    )["ModelPackageArn"]


def serve(sagemaker, package_arn: str | None, name: str = "a") -> None:
    """Put the endpoint in front of a model that carries ``package_arn``, as the pipeline deploys it."""
    environment = {"MLOPS_MODEL_PACKAGE_ARN": package_arn} if package_arn else {}
    sagemaker.create_model(
        ModelName=f"model-{name}",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://artifacts/model.tar.gz", "Environment": environment},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"config-{name}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"model-{name}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"config-{name}")


NO_CHAMPION = {
    "found": False,
    "modelPackageArn": None,
    "version": None,
    "modelDataUrl": None,
    "artifactSha256": None,
    "metricsUri": None,
}


def test_no_endpoint_means_no_champion(sagemaker, lambda_context):
    assert lambda_handler({}, lambda_context) == NO_CHAMPION
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register(sagemaker, "train-a", "Approved")  # approved, but never deployed: not the champion
    assert lambda_handler({}, lambda_context) == NO_CHAMPION


def test_the_serving_package_is_the_champion_not_the_newest_approved_one(sagemaker, lambda_context):
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    first = register(sagemaker, "train-a", "Approved")
    register(sagemaker, "train-b", "Approved")  # approved later (e.g. rolled back since): not serving
    register(sagemaker, "train-c", "PendingManualApproval")
    serve(sagemaker, first)

    result = lambda_handler({}, lambda_context)

    assert result == {
        "found": True,
        "modelPackageArn": first,
        "version": 1,
        "modelDataUrl": "s3://artifacts/training/train-a/output/model.tar.gz",
        "artifactSha256": sha_of("train-a"),
        "metricsUri": metrics_uri("train-a"),
    }


def test_a_champion_registered_without_model_metrics_has_no_metrics_uri(sagemaker, lambda_context):
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    serve(sagemaker, register(sagemaker, "train-a", "Approved", with_metrics=False))

    result = lambda_handler({}, lambda_context)

    assert result["found"] is True and result["metricsUri"] is None


def test_a_model_deployed_outside_the_pipeline_is_no_champion(sagemaker, lambda_context):
    serve(sagemaker, None)
    assert lambda_handler({}, lambda_context) == NO_CHAMPION


def test_a_failed_endpoint_serves_nothing_so_there_is_no_champion(sagemaker, lambda_context):
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    serve(sagemaker, register(sagemaker, "train-a", "Approved"))
    # moto has no way to fail an endpoint; SageMaker sets Failed when its instances cannot start.
    sagemaker_backends[ACCOUNT][REGION].endpoints[ENDPOINT].endpoint_status = "Failed"
    assert lambda_handler({}, lambda_context) == NO_CHAMPION
