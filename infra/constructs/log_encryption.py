"""The customer-managed KMS key that encrypts the CloudWatch log groups of one stack.

One key per stack (``LogEncryptionKey.of``), shared by its log groups (the functions' and the state
machine's), with rotation on and retained like the log groups it protects. CloudWatch Logs
encrypts and decrypts as its regional service principal; the key policy admits that principal only
for log groups of this account and region, through the encryption context CloudWatch Logs sends
(AWS docs, CloudWatch Logs User Guide: "Encrypt log data in CloudWatch Logs using AWS Key
Management Service"). Writers (the functions, Step Functions' log delivery) and readers need no
KMS permission of their own: CloudWatch Logs does the cryptography.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

__all__ = ["LOGS_KEY_ACTIONS", "LogEncryptionKey"]

# The documented statement grants kms:Encrypt*, Decrypt*, ReEncrypt*, GenerateDataKey* and
# Describe*: here are exactly the key actions those wildcards match, so none can grow unseen.
LOGS_KEY_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)


class LogEncryptionKey(Construct):
    """A stack's log-group key: rotating, retained, usable by CloudWatch Logs for this account only."""

    CONSTRUCT_ID = "LogEncryptionKey"

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the CloudWatch log groups of the {stack.stack_name} stack",
            enable_key_rotation=True,
            # Log groups are retained with their data when the stack goes: so is the key to read them.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        log_groups = stack.format_arn(
            service="logs", resource="log-group", resource_name="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccountAndRegion",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=list(LOGS_KEY_ACTIONS),
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )

    @classmethod
    def of(cls, scope: Construct) -> kms.IKey:
        """The key of the stack that holds ``scope``, created on first use."""
        stack = cdk.Stack.of(scope)
        existing = stack.node.try_find_child(cls.CONSTRUCT_ID)
        if isinstance(existing, LogEncryptionKey):
            return existing.key
        return cls(stack, cls.CONSTRUCT_ID).key
