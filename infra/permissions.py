"""Least-privilege IAM statements with explicit actions, scoped to the S3 prefixes of the layout.

The CDK's ``bucket.grant_read``/``grant_write`` give ``s3:GetObject*``, ``s3:List*`` and
``s3:DeleteObject*`` on whole buckets. These helpers write out exactly the actions a reader or
writer of one prefix needs, and acknowledge the one wildcard that remains (the object keys below
the prefix, which are decided at run time) on the role that receives it.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from infra.compliance import UNSCOPED_ACTIONS_REASON, acknowledge
from infra.naming import BucketRef, nag_arn

__all__ = ["put_metric_data", "read_serving_model", "s3_list", "s3_read", "s3_write"]


def _acknowledge_objects(role: iam.IRole, bucket: BucketRef, prefixes: Sequence[str]) -> None:
    for prefix in prefixes:
        where = f"under '{prefix}'" if prefix else "(keys start with a run-time timestamp)"
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{bucket.nag_objects_arn(prefix)}]",
            f"Object keys in the {bucket.kind} bucket {where} are created at run time; access stays there.",
        )


def s3_read(
    role: iam.IRole, bucket: BucketRef, prefixes: Sequence[str], *, versions: bool = False, tags: bool = False
) -> None:
    """Read objects under ``prefixes`` and list them.

    ``versions``: read a given version too; ``tags``: read tags, which CopyObject copies along.
    """
    actions = ["s3:GetObject"]
    if versions:
        actions.append("s3:GetObjectVersion")
    if tags:
        actions.extend(["s3:GetObjectTagging", *(["s3:GetObjectVersionTagging"] if versions else [])])
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=actions, resources=[bucket.objects_arn(p) for p in prefixes])
    )
    _acknowledge_objects(role, bucket, prefixes)
    s3_list(role, bucket, prefixes)


def s3_list(role: iam.IRole, bucket: BucketRef, prefixes: Sequence[str]) -> None:
    """List keys under ``prefixes`` only (``ListBucket`` is a bucket action scoped by condition).

    Listing also lets a reader tell a missing key (404) from a forbidden one (403).
    """
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.arn],
            conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
        )
    )


def s3_write(role: iam.IRole, bucket: BucketRef, prefixes: Sequence[str], *, tags: bool = False) -> None:
    """Create objects under ``prefixes`` (``tags``: with the tags CopyObject carries over).

    No delete: the versioned buckets keep every write.
    """
    actions = ["s3:PutObject", *(["s3:PutObjectTagging"] if tags else [])]
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=actions, resources=[bucket.objects_arn(p) for p in prefixes])
    )
    _acknowledge_objects(role, bucket, prefixes)


def put_metric_data(role: iam.IRole, namespace: str) -> None:
    """CloudWatch has no metric ARNs: PutMetricData is scoped to one namespace by condition."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
        )
    )
    acknowledge(role, "AwsSolutions-IAM5[Resource::*]", UNSCOPED_ACTIONS_REASON)


def read_serving_model(role: iam.IRole, stack: cdk.Stack, endpoint_name: str) -> None:
    """Follow the endpoint to the model it serves (endpoint -> endpoint config -> model).

    Endpoint configs and models are named per pipeline execution (``config-*``, ``model-*``), so
    those two are wildcards, acknowledged here once for every role that needs them.
    """
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["sagemaker:DescribeEndpoint"],
            resources=[stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower())],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
            resources=[
                stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="config-*"),
                stack.format_arn(service="sagemaker", resource="model", resource_name="model-*"),
            ],
        )
    )
    for resource in ("endpoint-config/config-*", "model/model-*"):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_arn('sagemaker', resource)}]",
            "The serving endpoint config and model are named per pipeline execution; only those are readable.",
        )
