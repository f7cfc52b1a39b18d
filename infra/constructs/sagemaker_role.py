"""The role SageMaker assumes to train and to host: exactly the data, code and image it needs.

Statements are written out rather than taken from ``grant_read``/``grant_write`` so that actions
stay explicit (no ``s3:GetObject*``/``s3:List*``) and object permissions stay on the prefixes the
S3 layout assigns: curated snapshots (read), ``training/`` (read the champion, write the model),
``datacapture/`` (write). Wildcards remain only where a name is decided at run time and each of
them is acknowledged with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from infra.compliance import UNSCOPED_ACTIONS_REASON, acknowledge
from infra.naming import BucketRef, nag_arn

__all__ = ["SageMakerExecutionRole"]


class SageMakerExecutionRole(Construct):
    """Execution role for the training jobs, the models and the endpoint of one pipeline."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        curated: BucketRef,
        snapshots_prefix: str,
        artifacts: BucketRef,
        training_prefix: str,
        capture_prefix: str,
        source_archive: s3_assets.Asset,
        image_repository_arns: Sequence[str],
        published_source_archive_arn: str | None = None,
        endpoint_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker training jobs and endpoint of the MLOps pipeline",
        )
        self.policy = iam.Policy(
            self,
            "Policy",
            statements=self._statements(
                curated=curated,
                snapshots_prefix=snapshots_prefix,
                artifacts=artifacts,
                training_prefix=training_prefix,
                capture_prefix=capture_prefix,
                source_archive=source_archive,
                image_repository_arns=image_repository_arns,
                published_source_archive_arn=published_source_archive_arn,
                endpoint_name=endpoint_name,
            ),
        )
        self.policy.attach_to_role(self.role)
        self._acknowledge(curated, snapshots_prefix, artifacts, training_prefix, capture_prefix, endpoint_name)

    def _statements(
        self,
        *,
        curated: BucketRef,
        snapshots_prefix: str,
        artifacts: BucketRef,
        training_prefix: str,
        capture_prefix: str,
        source_archive: s3_assets.Asset,
        image_repository_arns: Sequence[str],
        published_source_archive_arn: str | None,
        endpoint_name: str,
    ) -> list[iam.PolicyStatement]:
        stack = cdk.Stack.of(self)
        log_groups = {
            group: stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"/aws/sagemaker/{group}:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            for group in ("TrainingJobs", f"Endpoints/{endpoint_name}")
        }
        return [
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[curated.objects_arn(snapshots_prefix)]),
            _list_prefix(curated, snapshots_prefix),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"], resources=[artifacts.objects_arn(training_prefix)]
            ),
            _list_prefix(artifacts, training_prefix),
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[artifacts.objects_arn(capture_prefix)]),
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:s3:::{source_archive.s3_bucket_name}/{source_archive.s3_object_key}",
                    # the training jobs' copy in the artifacts bucket (TrainingCodeAsset.copy_to)
                    *([published_source_archive_arn] if published_source_archive_arn else []),
                ],
            ),
            iam.PolicyStatement(
                actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=list(image_repository_arns),
            ),
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                resources=list(log_groups.values()),
            ),
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            ),
        ]

    def _acknowledge(
        self,
        curated: BucketRef,
        snapshots_prefix: str,
        artifacts: BucketRef,
        training_prefix: str,
        capture_prefix: str,
        endpoint_name: str,
    ) -> None:
        """The wildcards of the policy, each forced by a name SageMaker decides at run time."""
        findings = {
            "*": UNSCOPED_ACTIONS_REASON,
            curated.nag_objects_arn(snapshots_prefix): "Snapshot keys carry the dataset version decided at "
            "upload time; reads stay under the snapshots prefix.",
            artifacts.nag_objects_arn(training_prefix): "Training job names are per execution; model "
            "artifacts stay under the training prefix.",
            artifacts.nag_objects_arn(capture_prefix): "SageMaker names data-capture files per hour; writes "
            "stay under the capture prefix.",
            nag_arn("logs", "log-group:/aws/sagemaker/TrainingJobs:*"): "Training log streams are created per "
            "job at run time in SageMaker's own log group.",
            nag_arn("logs", f"log-group:/aws/sagemaker/Endpoints/{endpoint_name}:*"): "Endpoint log streams "
            "are created per instance at run time.",
        }
        for resource, reason in findings.items():
            acknowledge(self.policy, f"AwsSolutions-IAM5[Resource::{resource}]", reason)


def _list_prefix(bucket: BucketRef, prefix: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=["s3:ListBucket"],
        resources=[bucket.arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
    )
