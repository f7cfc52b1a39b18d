"""The door from the Model Registry into the deployment: approving a version deploys it.

Where approval is manual, a challenger that passes the gate is registered
``PendingManualApproval``. Approving it (in SageMaker Studio, ``aws sagemaker
update-model-package`` or ``mlops approve``) makes SageMaker emit a "SageMaker Model Package State
Change" event; this rule matches the ones of this model package group whose status is
``Approved`` and hands them to `trigger`, which starts a deploy-only run of the pipeline (named
after the package and the moment of its approval, so SageMaker's repeated events start one run).
Rejecting emits the same event with ``Rejected``: it matches nothing here, and the champion keeps
serving.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

__all__ = ["APPROVAL_DETAIL_TYPE", "ApprovalTriggerRule"]

APPROVAL_DETAIL_TYPE = "SageMaker Model Package State Change"


class ApprovalTriggerRule(Construct):
    """EventBridge rule: a package of ``group_name`` became Approved -> trigger."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group_name: str,
        trigger: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        retry_attempts: int = 8,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Deploys a model version when it is approved in the Model Registry",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[APPROVAL_DETAIL_TYPE],
                detail={"ModelPackageGroupName": [group_name], "ModelApprovalStatus": ["Approved"]},
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                trigger,
                dead_letter_queue=dead_letter_queue,
                retry_attempts=retry_attempts,
                max_event_age=cdk.Duration.hours(24),
            )
        )
