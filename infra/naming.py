"""Names derived from the configuration, shared by the stacks without cross-stack references.

The data buckets have deterministic names (``<prefix>-<kind>-<account>-<region>``), so the
pipeline and monitoring stacks address them by name: their IAM statements name exact ARNs, the
local cloud knows where to upload, and the stacks need no exports for buckets.

``nag_*`` renderings are the way cdk-nag prints those ARNs in finding IDs (pseudo parameters as
``<AWS::Region>``), so an acknowledgement can name exactly the wildcard it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk

__all__ = ["BucketRef", "DataBucketNames", "nag_arn"]


def nag_arn(service: str, resource: str) -> str:
    """An account-and-region-scoped ARN as cdk-nag renders it in a finding ID."""
    return f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"


@dataclass(frozen=True)
class BucketRef:
    """One data bucket, known by its deterministic name."""

    kind: str
    prefix: str

    @property
    def name(self) -> str:
        return f"{self.prefix}-{self.kind}-{cdk.Aws.ACCOUNT_ID}-{cdk.Aws.REGION}"

    @property
    def arn(self) -> str:
        return f"arn:{cdk.Aws.PARTITION}:s3:::{self.name}"

    def objects_arn(self, key_prefix: str) -> str:
        return f"{self.arn}/{key_prefix}*"

    def s3_uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def nag_objects_arn(self, key_prefix: str) -> str:
        return f"arn:<AWS::Partition>:s3:::{self.prefix}-{self.kind}-<AWS::AccountId>-<AWS::Region>/{key_prefix}*"


@dataclass(frozen=True)
class DataBucketNames:
    """The buckets of docs/ARCHITECTURE.md "S3 layout" and the access-log bucket."""

    prefix: str

    @property
    def incoming(self) -> BucketRef:
        return BucketRef("incoming", self.prefix)

    @property
    def curated(self) -> BucketRef:
        return BucketRef("curated", self.prefix)

    @property
    def quarantine(self) -> BucketRef:
        return BucketRef("quarantine", self.prefix)

    @property
    def artifacts(self) -> BucketRef:
        return BucketRef("artifacts", self.prefix)

    @property
    def access_logs(self) -> BucketRef:
        return BucketRef("access-logs", self.prefix)
