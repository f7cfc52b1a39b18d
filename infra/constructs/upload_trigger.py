"""The door from the incoming bucket into the pipeline: an upload under the prefix wakes `trigger`.

EventBridge delivers S3 "Object Created" events (the bucket has EventBridge notifications on);
the rule matches one bucket and one key prefix. Delivery failures are retried and, past the
retries, parked in the dead-letter queue the stack provides, so no upload is silently dropped.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

__all__ = ["UploadTriggerRule"]


class UploadTriggerRule(Construct):
    """EventBridge rule: Object Created in the incoming bucket under ``upload_prefix`` -> trigger."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        upload_prefix: str,
        trigger: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        retry_attempts: int = 8,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Starts the pipeline when a CSV lands under the upload prefix",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [bucket_name]},
                    "object": {"key": [{"prefix": upload_prefix}]},
                },
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
