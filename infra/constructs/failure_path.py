"""The pipeline's one failure path: notify, then fail the execution with the original error.

Every task of the pipeline retries transient service errors and sends anything else here
(``FailurePath.guard``), so a run never ends silently. The states are created in the scope given
(the state machine's construct): states are named by their id and live beside the pipeline's.
"""

from __future__ import annotations

from typing import TypeVar

from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.notices import notice
from infra.constructs.retries import retry_transient
from infra.constructs.state_contracts import state_path

__all__ = ["FailurePath"]

_GuardedT = TypeVar("_GuardedT", bound=sfn.TaskStateBase | sfn.CustomState)


class FailurePath:
    """``NotifyFailure`` -> ``PipelineFailed``; ``start`` is what every Catch goes to."""

    def __init__(self, scope: Construct, *, topic: sns.ITopic, state_machine_name: str) -> None:
        notify = notice(
            scope,
            "NotifyFailure",
            topic=topic,
            subject="MLOps pipeline failed",
            message={
                "event": "PipelineFailed",
                "stateMachine": state_machine_name,
                "executionArn": sfn.JsonPath.execution_id,
                # Only fields every Catch guarantees: the failure path itself must not fail.
                "error": sfn.JsonPath.string_at(state_path("error", "Error")),
                "cause": sfn.JsonPath.string_at(state_path("error", "Cause")),
            },
        )
        notify.add_retry(errors=["States.ALL"], max_attempts=3, backoff_rate=2)
        notify.next(
            sfn.Fail(
                scope,
                "PipelineFailed",
                error_path=state_path("error", "Error"),
                cause_path=state_path("error", "Cause"),
            )
        )
        self.start: sfn.TaskStateBase = notify

    def catch(self, state: sfn.TaskStateBase | sfn.CustomState | sfn.DistributedMap) -> None:
        """Route every error of ``state`` to the failure path, the error in ``$.error``."""
        state.add_catch(self.start, errors=["States.ALL"], result_path=state_path("error"))

    def guard(self, task: _GuardedT) -> _GuardedT:
        """Retry transient errors, then route every other error to the one failure path."""
        retry_transient(task)
        self.catch(task)
        return task
