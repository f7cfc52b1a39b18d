"""Where undeliverable events and failed asynchronous invocations wait, and the alarm that says so.

EventBridge retries a target, Lambda retries an asynchronous invocation; past those retries an
event would be dropped. It lands here instead (encrypted, TLS-only, kept two weeks), and the first
message in the queue raises an alarm on the notifications topic: nothing is lost silently.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.compliance import acknowledge, skip_checkov

__all__ = ["DeadLetterQueue"]


class DeadLetterQueue(Construct):
    """An encrypted SQS dead-letter queue with an alarm on its first message."""

    def __init__(self, scope: Construct, construct_id: str, *, purpose: str, alarm_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(self.queue, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue.")
        # EventBridge cannot send to a queue under the AWS managed aws/sqs key; SSE-SQS it can.
        skip_checkov(
            self.queue,
            "CKV_AWS_27",
            "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled); the check knows only KmsMasterKeyId.",
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "NotEmpty",
            alarm_description=f"Events were not delivered: {purpose}. Inspect and redrive the dead-letter queue.",
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
