"""Deploy-only runs of the pipeline: start a rollback, find the run an approval started, wait.

A rollback is the pipeline started with ``{"reason": "rollback", "deploy": {"modelPackageArn"}}``:
it takes the same deployment lock and the same blue/green update as every other deployment, and
only skips the "is the serving model newer?" comparison, since an older version is the point.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["RunOutcome", "find_deploy_run", "start_rollback", "wait_for_run"]

_TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: its status, the state it ended in, and the error of a failed one."""

    name: str
    arn: str
    status: str
    end_state: str | None
    error: str | None
    cause: str | None

    def describe(self) -> str:
        if self.status == "SUCCEEDED":
            return f"{self.name}: {self.end_state}"
        return f"{self.name}: {self.status} {self.error or ''}: {self.cause or ''}".strip()


def start_rollback(
    sfn: Any, state_machine_arn: str, package_arn: str, version: int, now: datetime | None = None
) -> str:
    """Start the deployment of ``package_arn`` as a rollback; returns the execution ARN."""
    moment = (now or datetime.now(UTC)).isoformat()
    name = f"rollback-{hashlib.sha256(f'{package_arn}/{moment}'.encode()).hexdigest()[:32]}"
    payload = {"reason": "rollback", "deploy": {"modelPackageArn": package_arn, "version": version}}
    response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
    return str(response["executionArn"])


def find_deploy_run(
    sfn: Any, state_machine_arn: str, package_arn: str, since: datetime, timeout: float = 120.0, poll: float = 1.0
) -> str | None:
    """The ARN of a deploy-only run of ``package_arn`` started at or after ``since`` (an approval's),
    waiting up to ``timeout`` for the event to arrive; ``None`` if none started."""
    deadline = time.monotonic() + timeout
    while True:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
            for execution in page["executions"]:
                if execution["startDate"] < since:
                    continue
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                deploy = json.loads(described.get("input") or "{}").get("deploy") or {}
                if deploy.get("modelPackageArn") == package_arn:
                    return str(execution["executionArn"])
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def wait_for_run(sfn: Any, execution_arn: str, timeout: float = 3600.0, poll: float = 2.0) -> RunOutcome:
    """Wait for a run to end and report the state it ended in."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in _TERMINAL:
            break
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{described['name']} is still {described['status']} after {timeout:.0f} s")
        time.sleep(poll)
    events = [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for event in page["events"]
    ]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return RunOutcome(
        name=str(described["name"]),
        arn=execution_arn,
        status=str(described["status"]),
        end_state=entered[-1] if entered else None,
        error=described.get("error"),
        cause=described.get("cause"),
    )
