"""The local Model Registry: updates change only what they name, and approvals emit SageMaker's event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops.local.cloud import LocalCloud

GROUP = "churn"


@pytest.fixture
def cloud(tmp_path: Path) -> Any:
    with LocalCloud(tmp_path) as local:
        yield local


def _package(cloud: LocalCloud, status: str) -> str:
    sagemaker = cloud.client("sagemaker")
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            InferenceSpecification={
                "Containers": [{"Image": "sklearn", "ModelDataUrl": "s3://models/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelApprovalStatus=status,
            CustomerMetadataProperties={"reason": "upload", "trainingJob": "train-1"},
        )["ModelPackageArn"]
    )


def _events_queue(cloud: LocalCloud) -> str:
    """An SQS queue that receives every model package state change of the group."""
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName="registry-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [GROUP]},
    }
    events.put_rule(Name="registry", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="registry", Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _received(cloud: LocalCloud, url: str) -> list[dict[str, Any]]:
    messages = cloud.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_registration_and_approval_changes_emit_the_state_change_event(cloud: LocalCloud) -> None:
    cloud.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    url = _events_queue(cloud)
    arn = _package(cloud, "PendingManualApproval")
    (created,) = _received(cloud, url)
    assert created["detail"]["ModelApprovalStatus"] == "PendingManualApproval"
    assert created["detail"]["ModelPackageArn"] == arn and created["resources"] == [arn]

    sagemaker = cloud.client("sagemaker")
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok")
    (approved,) = _received(cloud, url)
    assert approved["detail"]["ModelApprovalStatus"] == "Approved"
    assert approved["detail"]["ModelPackageVersion"] == 1
    # A metadata-only update changes no approval: no event.
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"serving": "true"})
    assert _received(cloud, url) == []


def test_an_update_changes_only_what_it_names(cloud: LocalCloud) -> None:
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = _package(cloud, "Approved")
    sagemaker.update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"serving": "true", "reason": "drift"}
    )
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataPropertiesToRemove=["trainingJob"])
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"  # moto alone would have erased it
    assert described["CustomerMetadataProperties"] == {"reason": "drift", "serving": "true"}
