"""Lambda entry point of validate: the execution state in, the curated snapshot summary out.

Deliberately free of pydantic and pandas (cold start is measured in benchmarks/): the input is
the state machine's own JSON, checked by ``SourceObject.from_state``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.shared.observability import logger, tracer
from functions.validate.logic import ValidateSettings, validate_upload


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return validate_upload(event, ValidateSettings.from_env())
