"""Lambda entry point of evaluate: the training result in, the gate decision out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.evaluate.logic import EvaluateSettings, evaluate_training_job
from functions.shared.aws import name_transient_errors
from functions.shared.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The state machine may pass its whole state; the training result is either the event itself
    # ({"jobName", "modelArtifacts"}) or under "training" (ResultPath $.training).
    training = event if "jobName" in event else event.get("training", event)
    return evaluate_training_job(training, EvaluateSettings.from_env())
