"""Step Functions' optimised SageMaker integration for moto's interpreter.

moto's interpreter knows the `sagemaker` service only as "unsupported" and fails every `.sync`
task with a runtime error that no Catch can see. This integration forwards each request to the
SageMaker API (moto) like Step Functions does, and for `createTrainingJob.sync` polls
DescribeTrainingJob until the job ends: Completed returns the description (as Step Functions does),
Failed or Stopped fails the task with `States.TaskFailed` and the description as the cause, so the
state machine's Retry/Catch behave as they do in AWS. API errors become `SageMaker.<Code>` errors.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, cast

import botocore.session
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from mlops.local.adapters.patches import PatchPoint, PatchSet

# The actions of the optimised integration (docs: "Create and manage Amazon SageMaker AI jobs").
SUPPORTED_ACTIONS: Final[set[str]] = {
    "createtrainingjob",
    "createmodel",
    "createendpointconfig",
    "createendpoint",
    "updateendpoint",
    "createtransformjob",
    "createprocessingjob",
    "createhyperparametertuningjob",
    "createlabelingjob",
}
_SYNC_ACTIONS: Final[dict[str, tuple[str, str, str]]] = {
    # action: (describe call, name parameter, status field)
    "createtrainingjob": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "createprocessingjob": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
    "createtransformjob": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
}
_POLL_SECONDS: Final[float] = 0.5
_FAILED: Final[set[str]] = {"Failed", "Stopped"}
_DONE: Final[set[str]] = {"Completed", *_FAILED}


@functools.cache
def _sagemaker_model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


def _jsonable(value: Any) -> Any:
    """Step Functions serialises timestamps as epoch milliseconds."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


class SageMakerIntegration(StateTaskServiceCallback):
    def __init__(self) -> None:
        # moto declares the patterns as ResourceCondition but its constants are plain strings.
        super().__init__(supported_integration_patterns={cast(Any, ResourceCondition.Sync)})

    def _get_supported_parameters(self) -> set[str] | None:
        """Every request member of the API operation (moto drops parameters not listed here)."""
        action = self.resource.api_action
        if action.lower() not in SUPPORTED_ACTIONS:
            return None
        return set(_sagemaker_model().operation_model(action[0].upper() + action[1:]).input_shape.members)

    def _client(self, region: str, credentials: Any) -> Any:
        return boto_client_for(service="sagemaker", region=region, state_credentials=credentials)

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            name = f"SageMaker.{ex.response['Error']['Code']}"
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(name),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict is total
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=name,
                        cause=ex.response["Error"].get("Message", ""),
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> None:
        client = self._client(resource_runtime_part.region, state_credentials)
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
        env.stack.append(_jsonable(response))

    def _eval_integration_pattern(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> None:
        """`.sync`: poll until the job ends (moto's generic version needs a task-token endpoint
        this integration does not have)."""
        resolve = self._build_sync_resolver(env, resource_runtime_part, normalised_parameters, state_credentials)
        assert resolve is not None, "this integration always builds a resolver"
        while env.is_running():
            outcome = resolve()
            if outcome is not None:
                env.stack.append(outcome)
                return
            time.sleep(_POLL_SECONDS)

    def _build_sync_resolver(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> Callable[[], Any] | None:
        action = self.resource.api_action.lower()
        if action not in _SYNC_ACTIONS:
            return super()._build_sync_resolver(env, resource_runtime_part, normalised_parameters, state_credentials)
        describe, name_key, status_key = _SYNC_ACTIONS[action]
        env.stack.pop()  # the create call's response; the resolver's result replaces it
        client = self._client(resource_runtime_part.region, state_credentials)
        name = normalised_parameters[name_key]

        def resolve() -> Any | None:
            description = _jsonable(getattr(client, describe)(**{name_key: name}))
            status = description.get(status_key)
            if status not in _DONE:
                return None
            if status in _FAILED:
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict is total
                            taskFailedEventDetails=TaskFailedEventDetails(
                                resource=self._get_sfn_resource(),
                                resourceType=self._get_sfn_resource_type(),
                                error=StatesErrorNameType.StatesTaskFailed.to_name(),
                                cause=json.dumps(description, default=str),
                            )
                        ),
                    )
                )
            return description

        return resolve


_ORIGINAL_FACTORY = state_task_factory.state_task_service_for


def _factory(service_name: str) -> Any:
    if service_name == "sagemaker":
        return SageMakerIntegration()
    return _ORIGINAL_FACTORY(service_name=service_name)


SERVICE_FOR = PatchPoint(
    state_task_factory, "state_task_service_for", "moto's SageMaker integration has no .sync and drops parameters"
)
PATCH_POINTS = (SERVICE_FOR,)
_PATCHES = PatchSet([(SERVICE_FOR, _factory)])


def install() -> None:
    _PATCHES.install()


def uninstall() -> None:
    _PATCHES.uninstall()
