"""champion against moto's SageMaker Model Registry and endpoints."""

from __future__ import annotations

import hashlib

import boto3
import pytest

from functions.champion.handler import lambda_handler

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


def test_no_group_means_no_champion_and_no_endpoint(sagemaker, lambda_context):
    assert lambda_handler({}, lambda_context) == {
        "found": False,
        "modelPackageArn": None,
        "version": None,
        "modelDataUrl": None,
        "artifactSha256": None,
        "metricsUri": None,
        "endpointExists": False,
    }


def test_an_empty_or_all_rejected_group_has_no_champion(sagemaker, lambda_context):
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    assert lambda_handler({}, lambda_context)["found"] is False
    register(sagemaker, "train-a", "Rejected")
    assert lambda_handler({}, lambda_context)["found"] is False


def test_the_latest_approved_package_is_the_champion_not_the_latest_package(sagemaker, lambda_context):
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register(sagemaker, "train-a", "Approved")
    second = register(sagemaker, "train-b", "Approved")
    register(sagemaker, "train-c", "Rejected")
    register(sagemaker, "train-d", "PendingManualApproval")

    result = lambda_handler({}, lambda_context)

    assert result == {
        "found": True,
        "modelPackageArn": second,
        "version": 2,
        "modelDataUrl": "s3://artifacts/training/train-b/output/model.tar.gz",
        "artifactSha256": sha_of("train-b"),
        "metricsUri": metrics_uri("train-b"),
        "endpointExists": False,
    }


def test_a_champion_registered_without_model_metrics_has_no_metrics_uri(sagemaker, lambda_context):
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register(sagemaker, "train-a", "Approved", with_metrics=False)

    result = lambda_handler({}, lambda_context)

    assert result["found"] is True and result["metricsUri"] is None


def test_an_existing_endpoint_is_reported(sagemaker, lambda_context):
    sagemaker.create_model(
        ModelName="model-a",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://artifacts/model.tar.gz"},
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

    assert lambda_handler({}, lambda_context)["endpointExists"] is True
