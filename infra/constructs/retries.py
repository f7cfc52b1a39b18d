"""The one retry policy of the pipeline's tasks: transient service errors only, with jitter.

Shared by the state machine and its deployment phase so that both retry exactly the same errors;
function errors (``DataValidationError``, a bug) are never among them.
"""

from __future__ import annotations

from typing import TypeVar

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn

__all__ = ["TRANSIENT_ERRORS", "retry_transient"]

TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ThrottlingException",
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
    "ThrottlingException",
    # A function's own AWS call still throttled (or 5xx) past the SDK's retries
    # (functions.shared.aws.name_transient_errors).
    "TransientServiceError",
]

_TaskT = TypeVar("_TaskT", bound=sfn.TaskStateBase | sfn.CustomState)


def retry_transient(task: _TaskT) -> _TaskT:
    """Add the transient-error retry to ``task`` and return it."""
    task.add_retry(
        errors=TRANSIENT_ERRORS,
        interval=cdk.Duration.seconds(5),
        max_attempts=4,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task
