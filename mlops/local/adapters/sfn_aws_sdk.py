"""Step Functions' AWS SDK integrations (``arn:aws:states:::aws-sdk:<service>:<action>``) as AWS casts them.

In AWS, an aws-sdk task takes its parameters in PascalCase whatever the service's own casing
(``sfn:describeExecution`` takes ``ExecutionArn``; the Step Functions API itself says
``executionArn``) and returns the response with PascalCase keys (``Status``). moto's interpreter
ships that normalisation as stubs, so a request in the service's other casing loses its parameters
and a ResultSelector on ``$.Status`` finds nothing. This adapter maps both ways through the
service's botocore model, as the interpreter it is ported from does (services whose API is
PascalCase already, such as SageMaker, are unchanged).
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)

from mlops.local.adapters.patches import PatchPoint, PatchSet

__all__ = ["PATCH_POINTS", "install", "uninstall"]


@functools.cache
def _operation(service: str, action: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    for name in model.operation_names:
        if name.lower() == action.replace("_", "").lower():
            return model.operation_model(name)
    raise KeyError(f"{service} has no operation {action!r}")


def _normalise_parameters(
    self: StateTaskServiceAwsSdk,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    operation = _operation(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    if operation.input_shape is not None:
        self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(
    self: StateTaskServiceAwsSdk,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    operation = _operation(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    if operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)


# Both are inherited stubs (StateTaskService's): installing adds them to the aws-sdk task's class,
# uninstalling deletes them again, so the other integrations keep their own normalisation.
NORMALISE_PARAMETERS = PatchPoint(
    StateTaskServiceAwsSdk, "_normalise_parameters", "moto's stub leaves the request in the service's casing"
)
NORMALISE_RESPONSE = PatchPoint(
    StateTaskServiceAwsSdk, "_normalise_response", "moto's stub leaves the response in the service's casing"
)
PATCH_POINTS = (NORMALISE_PARAMETERS, NORMALISE_RESPONSE)
_PATCHES = PatchSet([(NORMALISE_PARAMETERS, _normalise_parameters), (NORMALISE_RESPONSE, _normalise_response)])


def install() -> None:
    _PATCHES.install()


def uninstall() -> None:
    _PATCHES.uninstall()
