"""The stateful buckets: incoming uploads, curated snapshots, quarantine, artifacts, access logs.

Every bucket is versioned (nothing is lost, not even to an overwrite), encrypted, closed to the
public, TLS-only and logs its access to a dedicated bucket. They are retained when the stack is
deleted: data outlives the infrastructure that processes it.

Names are deterministic (``infra.naming``) so the other stacks address the buckets by name.
The incoming bucket announces new objects to EventBridge through the native CloudFormation
property; the CDK's ``event_bridge_enabled`` would instead deploy a Lambda-backed custom resource.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.compliance import acknowledge, skip_checkov
from infra.naming import BucketRef, DataBucketNames

__all__ = ["DataBuckets"]


class DataBuckets(Construct):
    """The four data buckets of docs/ARCHITECTURE.md "S3 layout" and their access-log bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: DataBucketNames,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        noncurrent_version_days: int = 90,
    ) -> None:
        super().__init__(scope, construct_id)
        self._removal_policy = removal_policy
        self._noncurrent_version_days = noncurrent_version_days

        self.names = names
        self.access_logs = self._bucket("AccessLogs", names.access_logs, logs_bucket=None)
        no_self_logging = "This is the server-access-log destination; logging it into itself would loop."
        acknowledge(self.access_logs, "AwsSolutions-S1", no_self_logging)
        skip_checkov(self.access_logs, "CKV_AWS_18", no_self_logging)
        self.incoming = self._bucket("Incoming", names.incoming, logs_bucket=self.access_logs)
        self.curated = self._bucket("Curated", names.curated, logs_bucket=self.access_logs)
        self.quarantine = self._bucket("Quarantine", names.quarantine, logs_bucket=self.access_logs)
        self.artifacts = self._bucket("Artifacts", names.artifacts, logs_bucket=self.access_logs)

        incoming = self.incoming.node.default_child
        assert isinstance(incoming, s3.CfnBucket)
        incoming.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)

    def _bucket(self, construct_id: str, ref: BucketRef, *, logs_bucket: s3.IBucket | None) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=ref.name,
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=logs_bucket,
            server_access_logs_prefix=f"{ref.kind}/" if logs_bucket else None,
            removal_policy=self._removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=cdk.Duration.days(self._noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                )
            ],
        )
