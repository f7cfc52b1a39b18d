"""Lambda entry point of plan: ``{"reason", "executionName", "champion", "validation"}`` in, the plan out."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.plan.logic import PlanSettings, plan_training
from functions.shared.aws import name_transient_errors
from functions.shared.contracts import PlanInput, PlanOutput
from functions.shared.observability import logger, tracer


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(event: PlanInput, context: LambdaContext) -> PlanOutput:
    # Settings first: a deployment defect should name its variable before any input is judged.
    return plan_training(event, PlanSettings.from_env())
