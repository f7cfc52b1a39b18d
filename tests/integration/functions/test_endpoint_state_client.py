"""functions.shared.endpoint.endpoint_state on a caller's client: the one endpoint -> config -> model lookup
of the Lambdas, the demo, the backtest and `mlops models`."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from functions.shared.endpoint import endpoint_state

REGION = "us-east-1"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/group/3"


@pytest.fixture
def sagemaker(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION)


def test_follows_the_endpoint_to_its_model_and_environment(sagemaker):
    sagemaker.create_model(
        ModelName="model-a",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
        PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/image:1",
            "ModelDataUrl": "s3://bucket/model.tar.gz",
            "Environment": {"MLOPS_MODEL_PACKAGE_ARN": ARN, "MLOPS_BASELINE_URI": "s3://bucket/baseline.json"},
        },
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
    sagemaker.create_endpoint(EndpointName="endpoint", EndpointConfigName="config-a")

    served = endpoint_state("endpoint", sagemaker)

    assert served is not None
    assert (served.name, served.config_name, served.model_name) == ("endpoint", "config-a", "model-a")
    assert served.model_package_arn == ARN and served.baseline_uri == "s3://bucket/baseline.json"
    assert served.variant["InstanceType"] == "ml.m5.large" and served.status


def test_no_endpoint_is_none(sagemaker):
    assert endpoint_state("nothing-here", sagemaker) is None
