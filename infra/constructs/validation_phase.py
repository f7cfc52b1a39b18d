"""The validation phase of the pipeline state machine: one function, or a Distributed Map of parts.

``Validate`` answers with a summary (the upload is valid, snapshotted) or, for an upload too large
for one function (or a manifest), a map plan (``$.validation.mode`` = ``map``). ``ValidationMap?``
sends the plan to ``ValidateParts`` (a Distributed Map over its items, each a ``part`` action of the
validate function) and ``ReduceValidation``, whose answer replaces the plan: both paths leave the
same ``$.validation`` (docs/ARCHITECTURE.md, "Validation beyond one function").

A plain class, not a construct: its states are created in the state machine's scope, where they
have always been (states are named by their id; their construct path is not in the template).
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from functions.shared.contracts import ValidatePartInput, ValidationReduceInput
from infra.constructs.failure_path import FailurePath
from infra.constructs.retries import retry_transient
from infra.constructs.state_contracts import contract_payload, state_path

__all__ = ["ValidationPhase"]


class ValidationPhase:
    """``start`` is ``Validate``; ``next(then)`` chains what follows a validated batch."""

    def __init__(
        self, scope: Construct, *, validate: lambda_.IFunction, failure: FailurePath, max_concurrency: int
    ) -> None:
        self._scope = scope
        self._validate = validate
        self._failure = failure
        self.start = failure.guard(
            tasks.LambdaInvoke(
                scope,
                "Validate",
                lambda_function=validate,
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path=state_path("validation"),
            )
        )
        self._parts = self._validate_parts(max_concurrency)
        self._reduce = self._reduce_validation()

    def next(self, then: sfn.IChainable) -> None:
        """After ``Validate``: ``ValidationMap?`` -> (the map and its reduce, or nothing) -> ``then``."""
        self._parts.next(self._reduce).next(then)
        mode = state_path("validation", "mode")
        is_map = sfn.Condition.and_(sfn.Condition.is_present(mode), sfn.Condition.string_equals(mode, "map"))
        self.start.next(sfn.Choice(self._scope, "ValidationMap?").when(is_map, self._parts).otherwise(then))

    def _validate_parts(self, max_concurrency: int) -> sfn.DistributedMap:
        part = retry_transient(
            tasks.LambdaInvoke(
                self._scope,
                "ValidatePart",
                lambda_function=self._validate,
                payload_response_only=True,
                retry_on_service_exceptions=False,
            )
        )
        parts = sfn.DistributedMap(
            self._scope,
            "ValidateParts",
            items_path=state_path("validation", "items"),
            item_selector=contract_payload(
                ValidatePartInput,
                {
                    "action": "part",
                    "kind.$": state_path("validation", "kind"),
                    "runId.$": state_path("validation", "runId"),
                    "data.$": state_path("validation", "source"),
                    "item.$": "$$.Map.Item.Value",
                },
            ),
            max_concurrency=max_concurrency,
            # The reduce reads the partial results from S3: the parts' answers are not kept in the
            # state (256 KiB), however many there are.
            result_path=sfn.JsonPath.DISCARD,
            map_execution_type=sfn.StateMachineType.STANDARD,
        )
        parts.item_processor(part)
        self._failure.catch(parts)
        return parts

    def _reduce_validation(self) -> tasks.LambdaInvoke:
        return self._failure.guard(
            tasks.LambdaInvoke(
                self._scope,
                "ReduceValidation",
                lambda_function=self._validate,
                payload=sfn.TaskInput.from_object(
                    contract_payload(
                        ValidationReduceInput,
                        {"action": "reduce", "validation": sfn.JsonPath.object_at(state_path("validation"))},
                    )
                ),
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path=state_path("validation"),
            )
        )
