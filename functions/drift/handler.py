"""Lambda entry point of drift: a scheduled event (or an explicit window) in, the verdict out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.drift.logic import DriftSettings, run_drift_check
from functions.shared.aws import name_transient_errors
from functions.shared.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A scheduled EventBridge event carries no parameters; {"windowStart", "windowEnd"} overrides.
    return run_drift_check(event if isinstance(event, dict) else {}, DriftSettings.from_env())
