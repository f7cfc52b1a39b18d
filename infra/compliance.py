"""cdk-nag acknowledgements and checkov skips in one shape: a rule and the reason it is accepted.

cdk-nag 3 runs as a CDK policy-validation plugin, so synthesis fails on any finding that is not
acknowledged. Acknowledgements are attached to the narrowest construct that produces the finding
and always carry a one-line reason, which lands in the validation report as the audit trail.

checkov (tests/infra/test_infra_checkov.py) scans the synthesized templates; a check that does not
apply is skipped on the one resource it concerns through that resource's CloudFormation metadata
(``checkov: {skip: [{id, comment}]}``), which checkov reads and reports with the reason.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from constructs import IConstruct

__all__ = [
    "ON_FAILURE_DESTINATION_REASON",
    "SYNCHRONOUS_INVOCATION_REASON",
    "UNSCOPED_ACTIONS_REASON",
    "acknowledge",
    "logical_id",
    "skip_checkov",
]

_CHECKOV_ID = re.compile(r"CKV2?_[A-Z0-9]+_[0-9]+")

# The one reason a Lambda or SageMaker role may hold `Resource: *`.
UNSCOPED_ACTIONS_REASON = (
    "Only actions without resource-level permissions use *: X-Ray writes, ECR auth tokens, "
    "sagemaker:ListModelPackages and cloudwatch:PutMetricData (limited to one namespace by condition)."
)
# Why a function has no DeadLetterConfig (checkov CKV_AWS_116): one of these two, never neither.
ON_FAILURE_DESTINATION_REASON = (
    "Invoked asynchronously; failed invocations go to an on-failure destination (an SQS dead-letter queue), "
    "which supersedes DeadLetterConfig."
)
SYNCHRONOUS_INVOCATION_REASON = (
    "Invoked synchronously by the state machine, which retries and catches its errors; "
    "a dead-letter queue only receives failed asynchronous invocations."
)


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope`` with ``reason``."""
    if not reason.strip() or "\n" in reason:
        raise ValueError(f"an acknowledgement of {rule} needs a one-line reason")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def skip_checkov(scope: IConstruct, check_id: str, reason: str) -> None:
    """Skip checkov's ``check_id`` (e.g. ``CKV_AWS_117``) on the resource of ``scope``, with ``reason``.

    ``scope`` is a CloudFormation resource or a construct whose default child is one (a function, a
    queue, a bucket): the skip lands on that one resource, never on a whole stack.
    """
    if not _CHECKOV_ID.fullmatch(check_id):
        raise ValueError(f"{check_id!r} is not a checkov check ID (CKV_AWS_123, CKV2_AWS_12)")
    if not reason.strip() or "\n" in reason:
        raise ValueError(f"a checkov skip of {check_id} needs a one-line reason")
    resource = scope if isinstance(scope, cdk.CfnResource) else scope.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource to skip {check_id} on")
    metadata = resource.get_metadata("checkov") or {}
    skips = [dict(skip) for skip in metadata.get("skip", [])]
    for skip in skips:
        if skip["id"] == check_id:
            if skip["comment"] != reason:
                raise ValueError(f"{resource.node.path}: {check_id} is skipped already, for another reason")
            return
    resource.add_metadata("checkov", {**metadata, "skip": [*skips, {"id": check_id, "comment": reason}]})


def logical_id(construct: IConstruct) -> str:
    """The logical ID of a construct's CloudFormation resource, as cdk-nag prints it (``<Id.Arn>``)."""
    resource = construct.node.default_child if not isinstance(construct, cdk.CfnElement) else construct
    if not isinstance(resource, cdk.CfnElement):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return cdk.Stack.of(resource).get_logical_id(resource)
