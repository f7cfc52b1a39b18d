"""Lambda entry point of evaluate: the training result in, the gate decision out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.evaluate.logic import EvaluateSettings, evaluate_training_job
from functions.shared.aws import name_transient_errors
from functions.shared.contracts import EvaluationOutput, TrainingOutput
from functions.shared.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(event: TrainingOutput | dict[str, Any], context: LambdaContext) -> EvaluationOutput:
    # Evaluate's InputPath is $.training ({"jobName", "modelArtifacts"}); a whole state (a replay,
    # a manual invocation) is accepted too, its training result read from "training".
    training = event if "jobName" in event else event.get("training", event)
    return evaluate_training_job(training, EvaluateSettings.from_env())
