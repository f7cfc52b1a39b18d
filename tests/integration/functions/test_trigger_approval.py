"""The trigger on "SageMaker Model Package State Change": an approval starts one deploy-only run."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from functions.shared.errors import UnsupportedEventError
from functions.trigger.handler import route
from functions.trigger.logic import TriggerSettings

GROUP = "ai4i-failure-prod"
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/3"


@pytest.fixture
def machine(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="mlops-prod-pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/mlops-pipeline-role",
    )["stateMachineArn"]
    for name, value in {
        "STATE_MACHINE_ARN": arn,
        "UPLOAD_PREFIX": "uploads/",
        "INCOMING_BUCKET": "incoming",
        "CURATED_BUCKET": "curated",
        "ARTIFACTS_BUCKET": "artifacts",
        "DATASET_NAME": "ai4i2020",
        "RETRAIN_COOLDOWN_SECONDS": "0",
        "DRIFT_ALARM_NAME": "drift",
        "QUALITY_ALARM_NAME": "quality",
        "RETRAIN_ON_ALARM": "true",
        "MODEL_PACKAGE_GROUP": GROUP,
    }.items():
        monkeypatch.setenv(name, value)
    return {"sfn": sfn, "arn": arn}


def state_change(
    status: str = "Approved", group: str = GROUP, modified: str = "2026-12-01T10:00:00Z"
) -> dict[str, Any]:
    """The event as SageMaker sends it: the detail is the package's description."""
    return {
        "version": "0",
        "id": "5b2f3c3a-0000-4000-8000-000000000000",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-12-01T10:00:01Z",
        "region": "us-east-1",
        "resources": [ARN],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": 3,
            "ModelPackageArn": ARN,
            "ModelApprovalStatus": status,
            "ModelPackageStatus": "Completed",
            "CreationTime": "2026-12-01T09:00:00Z",
            "LastModifiedTime": modified,
        },
    }


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return route(event, TriggerSettings.from_env(), "request-1").to_dict()


def test_an_approval_starts_a_deploy_only_run_once(machine: dict[str, Any]) -> None:
    first = invoke(state_change())
    assert first["started"] is True and first["executionName"].startswith("approval-")
    execution = machine["sfn"].describe_execution(executionArn=first["executionArn"])
    assert json.loads(execution["input"]) == {"reason": "approval", "deploy": {"modelPackageArn": ARN, "version": 3}}
    # SageMaker may send the same state change more than once: one run.
    again = invoke(state_change())
    assert (again["started"], again["skipped"], again["executionName"]) == (False, "duplicate", first["executionName"])
    # A later approval of the same package (rejected, then approved again) is a new run.
    later = invoke(state_change(modified="2026-12-02T10:00:00Z"))
    assert later["started"] is True and later["executionName"] != first["executionName"]


@pytest.mark.parametrize("status", ["Rejected", "PendingManualApproval"])
def test_anything_but_an_approval_deploys_nothing(machine: dict[str, Any], status: str) -> None:
    result = invoke(state_change(status))
    assert (result["started"], result["skipped"]) == (False, "not_approved")
    assert machine["sfn"].list_executions(stateMachineArn=machine["arn"])["executions"] == []


def test_another_group_s_approval_is_not_ours(machine: dict[str, Any]) -> None:
    result = invoke(state_change(group="ai4i-failure-dev"))
    assert (result["started"], result["skipped"]) == (False, "other_group")


def test_a_malformed_state_change_is_named(machine: dict[str, Any]) -> None:
    event = state_change()
    del event["detail"]["ModelPackageArn"]
    with pytest.raises(UnsupportedEventError, match="ModelPackageArn"):
        invoke(event)
