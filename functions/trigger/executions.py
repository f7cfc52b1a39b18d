"""Data access for the trigger: the pipeline's Step Functions executions (batches: ``functions.shared.batches``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from functions.shared.aws import client
from functions.shared.contracts import ExecutionInput

__all__ = ["Executions"]


class Executions:
    """The executions of one state machine, seen through the Step Functions API."""

    def __init__(self, state_machine_arn: str) -> None:
        if ":stateMachine:" not in state_machine_arn:
            raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
        self.state_machine_arn = state_machine_arn

    def arn_of(self, name: str) -> str:
        """An execution's ARN is derived from its state machine's ARN and its name."""
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"

    def exists(self, name: str) -> bool:
        """Whether an execution with this name was ever started.

        Needed in addition to catching ``ExecutionAlreadyExists``: StartExecution with the name AND
        input of a still-running execution succeeds and returns that execution, so a duplicate
        event would otherwise be reported as a start.
        """
        sfn = client("stepfunctions")
        try:
            sfn.describe_execution(executionArn=self.arn_of(name))
        except sfn.exceptions.ExecutionDoesNotExist:
            return False
        return True

    def any_running(self) -> str | None:
        """The ARN of one RUNNING execution, or ``None``."""
        page = client("stepfunctions").list_executions(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING", maxResults=1
        )
        executions = page.get("executions", [])
        return executions[0]["executionArn"] if executions else None

    def latest_start(self, name_prefixes: str | Iterable[str], not_before: datetime) -> tuple[str, datetime] | None:
        """Name and start time of the newest execution whose name has one of ``name_prefixes``, if
        it began at or after ``not_before``. ListExecutions returns the newest first, so paging stops
        at ``not_before`` instead of walking the state machine's whole history."""
        prefixes = (name_prefixes,) if isinstance(name_prefixes, str) else tuple(name_prefixes)
        paginator = client("stepfunctions").get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self.state_machine_arn):
            for execution in page.get("executions", []):
                started: datetime = execution["startDate"]
                if started < not_before:
                    return None
                if execution["name"].startswith(prefixes):
                    return execution["name"], started
        return None

    def start(self, name: str, payload: ExecutionInput) -> str | None:
        """Start an execution; ``None`` when Step Functions says the name is taken (a duplicate)."""
        sfn = client("stepfunctions")
        try:
            response = sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload))
        except sfn.exceptions.ExecutionAlreadyExists:
            return None
        return response["executionArn"]
