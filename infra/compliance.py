"""cdk-nag acknowledgements in one shape: a rule (or one finding of it) and the reason it is accepted.

cdk-nag 3 runs as a CDK policy-validation plugin, so synthesis fails on any finding that is not
acknowledged. Acknowledgements are attached to the narrowest construct that produces the finding
and always carry a one-line reason, which lands in the validation report as the audit trail.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

__all__ = ["UNSCOPED_ACTIONS_REASON", "acknowledge", "logical_id"]

# The one reason a Lambda or SageMaker role may hold `Resource: *`.
UNSCOPED_ACTIONS_REASON = (
    "Only actions without resource-level permissions use *: X-Ray writes, ECR auth tokens, "
    "sagemaker:ListModelPackages and cloudwatch:PutMetricData (limited to one namespace by condition)."
)


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope`` with ``reason``."""
    if not reason.strip() or "\n" in reason:
        raise ValueError(f"an acknowledgement of {rule} needs a one-line reason")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def logical_id(construct: IConstruct) -> str:
    """The logical ID of a construct's CloudFormation resource, as cdk-nag prints it (``<Id.Arn>``)."""
    resource = construct.node.default_child if not isinstance(construct, cdk.CfnElement) else construct
    if not isinstance(resource, cdk.CfnElement):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return cdk.Stack.of(resource).get_logical_id(resource)
