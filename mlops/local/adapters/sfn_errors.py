"""Step Functions error names as AWS reports them, where moto's interpreter names them otherwise.

- A Lambda task whose resource is the function's ARN (CDK's ``LambdaInvoke`` with
  ``payload_response_only``) fails with ``Lambda.<Code>`` when the Invoke call itself fails
  (``Lambda.TooManyRequestsException``, ``Lambda.ServiceException``, ...), as in AWS, so the
  state's Retry on those names works. moto names every such failure ``Exception``.
- A ``Fail`` state whose ``ErrorPath`` yields a ``States.`` name (re-raising ``States.TaskFailed``
  caught from a failed job, say) fails the execution with that name, as in AWS. moto refuses the
  name at run time (custom error names must not start with ``States.``, which holds for names
  written in the definition, not for ones read from the state) and fails with ``States.Runtime``.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.fail.state_fail import StateFail
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from mlops.local.adapters.patches import PatchPoint, PatchSet

__all__ = ["PATCH_POINTS", "install", "uninstall"]

LAMBDA_ERROR = PatchPoint(StateTaskLambda, "_from_error", "moto names a failed Invoke 'Exception', not Lambda.<Code>")
FAIL_STATE = PatchPoint(StateFail, "_eval_state", "moto refuses a States. error name read from the state")
PATCH_POINTS = (LAMBDA_ERROR, FAIL_STATE)
# Taken before any install: errors other than a failed Invoke call keep moto's naming.
_ORIGINAL_LAMBDA_ERROR: Any = LAMBDA_ERROR.original()


class _PropagatedErrorName(ErrorName):
    """An error name read from the state at run time (any name, ``States.`` ones included)."""


def _lambda_task_error(self: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
    if not isinstance(ex, ClientError):
        return _ORIGINAL_LAMBDA_ERROR(self, env, ex)
    code = ex.response.get("Error", {}).get("Code", "ServiceException")
    metadata = ex.response.get("ResponseMetadata", {})
    error = f"Lambda.{code}"
    cause = (
        f"{ex.response.get('Error', {}).get('Message', '')} (Service: Lambda, Status Code: "
        f"{metadata.get('HTTPStatusCode', '?')}, Request ID: {metadata.get('RequestId', '?')})"
    )
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(error),
        event_type=HistoryEventType.LambdaFunctionFailed,
        event_details=EventDetails(  # type: ignore[typeddict-item]
            lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
        ),
    )


def _fail_state(self: StateFail, env: Any) -> None:
    """moto's ``StateFail._eval_state``, with the error name taken as the state gives it."""
    details = TaskFailedEventDetails()
    error_value = None
    if self.error:
        self.error.eval(env=env)
        error_value = env.stack.pop()
        details["error"] = error_value
    if self.cause:
        self.cause.eval(env=env)
        details["cause"] = env.stack.pop()
    error_name = _PropagatedErrorName(error_value) if error_value else None
    raise FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=details),  # type: ignore[typeddict-item]
        )
    )


_PATCHES = PatchSet([(LAMBDA_ERROR, _lambda_task_error), (FAIL_STATE, _fail_state)])


def install() -> None:
    _PATCHES.install()


def uninstall() -> None:
    _PATCHES.uninstall()
