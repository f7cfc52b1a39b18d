"""The pipeline's notices: one SNS publish of a JSON message per event, its answer discarded.

Every notice (a failure, a rejected model, one awaiting approval, a deployment and its failure) is
the same state with another subject and message; each caller adds the retries and catches its
place in the state machine needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

__all__ = ["notice"]


def notice(
    scope: Construct, state_id: str, *, topic: sns.ITopic, subject: str, message: Mapping[str, Any]
) -> tasks.SnsPublish:
    """``state_id``: publish ``message`` (JSON, paths resolved by the state) to ``topic``."""
    return tasks.SnsPublish(
        scope,
        state_id,
        topic=topic,
        subject=subject,
        message=sfn.TaskInput.from_object(dict(message)),
        result_path=sfn.JsonPath.DISCARD,
    )
