"""Data access for the trigger: the pipeline's Step Functions executions and the curated snapshots."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.shared.aws import client
from functions.shared.errors import NoCuratedDataError

__all__ = ["CuratedSnapshot", "Executions", "latest_snapshot"]


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

    def latest_start(self, name_prefix: str, not_before: datetime) -> datetime | None:
        """Start time of the newest execution whose name has ``name_prefix``, if it began after
        ``not_before``. ListExecutions returns the newest first, so paging stops at ``not_before``."""
        paginator = client("stepfunctions").get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self.state_machine_arn):
            for execution in page.get("executions", []):
                started: datetime = execution["startDate"]
                if started < not_before:
                    return None
                if execution["name"].startswith(name_prefix):
                    return started
        return None

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        """Start an execution; ``None`` when Step Functions says the name is taken (a duplicate)."""
        sfn = client("stepfunctions")
        try:
            response = sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload))
        except sfn.exceptions.ExecutionAlreadyExists:
            return None
        return response["executionArn"]


@dataclass(frozen=True)
class CuratedSnapshot:
    bucket: str
    key: str
    etag: str | None
    last_modified: datetime

    @property
    def dataset_version(self) -> str:
        return self.key.split("/")[-2]


def latest_snapshot(bucket: str, dataset: str) -> CuratedSnapshot:
    """The newest ``snapshots/<dataset>/<datasetVersion>/data.csv`` in the curated bucket.

    Newest by LastModified, ties broken by the version string (a UTC stamp, so it sorts by time).
    Raises NoCuratedDataError when there is none: a drift alarm cannot retrain on nothing.
    """
    prefix = f"snapshots/{dataset}/"
    pattern = re.compile(rf"{re.escape(prefix)}[^/]+/data\.csv")
    best: CuratedSnapshot | None = None
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not pattern.fullmatch(obj["Key"]):
                continue
            candidate = CuratedSnapshot(bucket, obj["Key"], obj.get("ETag"), obj["LastModified"])
            if best is None or (candidate.last_modified, candidate.key) > (best.last_modified, best.key):
                best = candidate
    if best is None:
        raise NoCuratedDataError(
            f"no curated snapshot of dataset {dataset!r} in s3://{bucket}/{prefix}: "
            "retraining needs at least one validated upload"
        )
    return best
