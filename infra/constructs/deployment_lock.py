"""One deployment at a time per endpoint: a DynamoDB lock the state machine takes natively.

The lock is an item keyed by the endpoint name whose ``owner`` is the execution holding it. It is
taken with a conditional PutItem (``attribute_not_exists(pk) OR #owner = :me``; the second term
makes a retried PutItem of the holder succeed) and released with a DeleteItem conditioned on the
same owner, on every way out of the deployment. While another execution holds it, the state
machine waits and tries again.

The lease is the holder's life, not a clock: an execution that ended without releasing (aborted,
timed out) is found by DescribeExecution and its lock is taken over with a PutItem conditioned on
that dead owner. A time-based lease could expire under a live but slow blue/green update and let
a second deployment in; JSONPath also has no clock arithmetic to compute one. The state machine's
own timeout bounds how long a stuck holder can keep it.
"""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.compliance import skip_checkov
from infra.constructs.retries import retry_transient
from infra.constructs.state_contracts import state_path

__all__ = ["CONDITIONAL_CHECK_FAILED", "DeploymentLock"]

CONDITIONAL_CHECK_FAILED = "DynamoDB.ConditionalCheckFailedException"
PARTITION_KEY = "pk"
_OWNER = {"#owner": "owner"}
# The holder's execution ARN in ReadDeploymentLock's answer (GetItem's own shape below ``$.lock``).
_LOCK_OWNER = state_path("lock", "Item", "owner", "S")


def _string(value: str) -> tasks.DynamoAttributeValue:
    return tasks.DynamoAttributeValue.from_string(value)


class DeploymentLock(Construct):
    """The lock table and the states that take and release the lock of one endpoint."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        endpoint_name: str,
        execution_arn_pattern: str,
        poll: cdk.Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # A lock outlives nothing: its only content is which execution holds it now.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        skip_checkov(
            self.table,
            "CKV_AWS_119",
            "The lock holds an execution ARN, a timestamp and a package ARN, no data: DynamoDB's default encryption.",
        )
        self._endpoint = endpoint_name
        self._execution_arn_pattern = execution_arn_pattern
        self._poll = poll

    def _key(self) -> dict[str, tasks.DynamoAttributeValue]:
        return {PARTITION_KEY: _string(self._endpoint)}

    def acquire(self, scope: Construct, *, on_error: Callable[[sfn.TaskStateBase], None]) -> tuple[sfn.State, sfn.Pass]:
        """The states that take the lock: ``(entry, exit)``; chain the held section after ``exit``.

        ``on_error`` adds the catch-all of the caller's failure path to each task.
        """
        acquire, read, holder, take_over = self._lock_tasks(scope)
        wait = sfn.Wait(scope, "WaitForDeploymentLock", time=sfn.WaitTime.duration(self._poll))
        acquired = sfn.Pass(scope, "DeploymentLockHeld", comment="This execution holds the endpoint's lock")

        acquire.add_catch(read, errors=[CONDITIONAL_CHECK_FAILED], result_path=sfn.JsonPath.DISCARD)
        # Another execution took the lock between the failed PutItem and the takeover: start over.
        take_over.add_catch(acquire, errors=[CONDITIONAL_CHECK_FAILED], result_path=sfn.JsonPath.DISCARD)
        # The holder is gone from Step Functions altogether: its lock is as stale as a finished one's.
        holder.add_catch(take_over, errors=["Sfn.ExecutionDoesNotExistException"], result_path=sfn.JsonPath.DISCARD)
        for task in (acquire, read, holder, take_over):
            retry_transient(task)
            on_error(task)

        acquire.next(acquired)
        read.next(
            sfn.Choice(scope, "DeploymentLockHeld?")
            .when(sfn.Condition.is_present(_LOCK_OWNER), holder)
            .otherwise(acquire)  # released in the meantime
        )
        holder.next(
            sfn.Choice(scope, "LockHolderRunning?")
            .when(sfn.Condition.string_equals(state_path("lockHolder", "status"), "RUNNING"), wait)
            .otherwise(take_over)
        )
        wait.next(acquire)
        take_over.next(acquired)
        return acquire, acquired

    def _lock_tasks(
        self, scope: Construct
    ) -> tuple[tasks.DynamoPutItem, tasks.DynamoGetItem, tasks.CallAwsService, tasks.DynamoPutItem]:
        """``(AcquireDeploymentLock, ReadDeploymentLock, DescribeLockHolder, TakeOverDeploymentLock)``."""
        item = {
            **self._key(),
            "owner": _string(sfn.JsonPath.execution_id),
            "acquiredAt": _string(sfn.JsonPath.string_at("$$.State.EnteredTime")),
            "modelPackageArn": _string(sfn.JsonPath.string_at(state_path("deploy", "modelPackageArn"))),
        }
        acquire = tasks.DynamoPutItem(
            scope,
            "AcquireDeploymentLock",
            table=self.table,
            item=item,
            condition_expression=f"attribute_not_exists({PARTITION_KEY}) OR #owner = :me",
            expression_attribute_names=_OWNER,
            expression_attribute_values={":me": _string(sfn.JsonPath.execution_id)},
            result_path=sfn.JsonPath.DISCARD,
        )
        read = tasks.DynamoGetItem(
            scope,
            "ReadDeploymentLock",
            table=self.table,
            key=self._key(),
            consistent_read=True,
            result_path=state_path("lock"),
        )
        holder = tasks.CallAwsService(
            scope,
            "DescribeLockHolder",
            service="sfn",
            action="describeExecution",
            iam_action="states:DescribeExecution",
            iam_resources=[self._execution_arn_pattern],
            parameters={"ExecutionArn": sfn.JsonPath.string_at(_LOCK_OWNER)},
            result_selector={"status": sfn.JsonPath.string_at("$.Status")},
            result_path=state_path("lockHolder"),
        )
        take_over = tasks.DynamoPutItem(
            scope,
            "TakeOverDeploymentLock",
            table=self.table,
            item=item,
            condition_expression="#owner = :stale",
            expression_attribute_names=_OWNER,
            expression_attribute_values={":stale": _string(sfn.JsonPath.string_at(_LOCK_OWNER))},
            result_path=sfn.JsonPath.DISCARD,
        )
        return acquire, read, holder, take_over

    def release(self, scope: Construct, state_id: str) -> tasks.DynamoDeleteItem:
        """A DeleteItem of this execution's own lock. A release that fails (the lock was taken over,
        or DynamoDB is down) still lets the run finish: a lock whose owner has ended is taken over."""
        release = tasks.DynamoDeleteItem(
            scope,
            state_id,
            table=self.table,
            key=self._key(),
            condition_expression="#owner = :me",
            expression_attribute_names=_OWNER,
            expression_attribute_values={":me": _string(sfn.JsonPath.execution_id)},
            result_path=sfn.JsonPath.DISCARD,
        )
        return retry_transient(release)
