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

__all__ = ["install", "uninstall"]


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


_ORIGINAL = {
    name: StateTaskServiceAwsSdk.__dict__.get(name) for name in ("_normalise_parameters", "_normalise_response")
}


def install() -> None:
    setattr(StateTaskServiceAwsSdk, "_normalise_parameters", _normalise_parameters)  # noqa: B010
    setattr(StateTaskServiceAwsSdk, "_normalise_response", _normalise_response)  # noqa: B010


def uninstall() -> None:
    for name, original in _ORIGINAL.items():
        if original is None:
            if name in StateTaskServiceAwsSdk.__dict__:
                delattr(StateTaskServiceAwsSdk, name)
        else:
            setattr(StateTaskServiceAwsSdk, name, original)
