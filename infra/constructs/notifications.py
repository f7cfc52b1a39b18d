"""The notifications topic: pipeline failures, rejected models and drift alarms land here.

Encrypted with a customer-managed key (rotation on) because messages carry error causes and model
lineage; TLS-only. CloudWatch alarm actions publish as the ``cloudwatch.amazonaws.com`` service, so
both the key policy and the topic policy admit that service, scoped to alarms of this account.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

__all__ = ["NotificationsTopic"]


class NotificationsTopic(Construct):
    """A KMS-encrypted SNS topic that the state machine and the drift alarm publish to."""

    def __init__(self, scope: Construct, construct_id: str, *, topic_name: str, display_name: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the {topic_name} SNS topic",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=topic_name,
            display_name=display_name,
            master_key=self.key,
            enforce_ssl=True,
        )
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        alarms = cdk.Stack.of(self).format_arn(
            service="cloudwatch", resource="alarm", resource_name="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
        )
        alarms_of_this_account = {
            "StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID},
            "ArnLike": {"aws:SourceArn": alarms},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=alarms_of_this_account,
            )
        )
        # SNS encrypts on the publisher's behalf: the alarm service needs the data key. SNS asks for
        # GenerateDataKey only (the state machine publishes with exactly these two), not the pair or
        # plaintext-free variants the documented kms:GenerateDataKey* would also allow.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            )
        )
