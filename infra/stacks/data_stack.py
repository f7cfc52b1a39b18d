"""The stateful stack: the data buckets. Deployed first, changed rarely, never deleted with data."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.data_buckets import DataBuckets
from infra.naming import DataBucketNames

__all__ = ["DataStack"]


class DataStack(cdk.Stack):
    """Incoming, curated, quarantine and artifacts buckets (plus their access-log bucket)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: MlopsConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=config.stack_name("data"),
            description="MLOps data: incoming uploads, curated snapshots, quarantine, artifacts",
            **kwargs,
        )
        self.buckets = DataBuckets(self, "Buckets", names=DataBucketNames(config.prefix))
        for output_id, bucket in (
            ("IncomingBucketName", self.buckets.incoming),
            ("CuratedBucketName", self.buckets.curated),
            ("QuarantineBucketName", self.buckets.quarantine),
            ("ArtifactsBucketName", self.buckets.artifacts),
            ("AccessLogsBucketName", self.buckets.access_logs),
        ):
            cdk.CfnOutput(self, output_id, value=bucket.bucket_name)
