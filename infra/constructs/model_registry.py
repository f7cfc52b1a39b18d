"""The SageMaker Model Registry group every trained model is registered into, approved or not.

Registering rejected challengers too keeps the record of what was tried and why it lost; the
champion is the latest *Approved* package of the group.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

__all__ = ["ModelRegistry"]


class ModelRegistry(Construct):
    """An ``AWS::SageMaker::ModelPackageGroup`` named after the model."""

    def __init__(self, scope: Construct, construct_id: str, *, group_name: str, description: str) -> None:
        super().__init__(scope, construct_id)
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "Group",
            model_package_group_name=group_name,
            model_package_group_description=description,
        )
        # Registered versions are the audit trail of every training run: keep them.
        self.group.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.group_name = group_name
        # ARNs are spelled out rather than read from the resource (SageMaker lower-cases names in
        # them), so policies can name them before the group exists; dependents declare the order.
        stack = cdk.Stack.of(self)
        self.group_arn = stack.format_arn(
            service="sagemaker", resource="model-package-group", resource_name=group_name.lower()
        )
        self.package_arn_pattern = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{group_name.lower()}/*"
        )
