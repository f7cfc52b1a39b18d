"""Lambda entry point of validate: the execution state in, the curated snapshot summary out.

Deliberately free of pydantic and pandas (cold start is measured in benchmarks/): the input is
the state machine's own JSON, checked by ``SourceObject.from_state``. ``action`` (none, ``part``,
``reduce``) selects the single-function path or a step of the distributed map
(:mod:`functions.validate.distributed`).
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.shared.aws import name_transient_errors
from functions.shared.contracts import (
    ExecutionInput,
    ValidatePartInput,
    ValidatePartOutput,
    ValidationOutput,
    ValidationReduceInput,
)
from functions.shared.observability import logger, tracer
from functions.validate.distributed import MapSettings, handle
from functions.validate.logic import ValidateSettings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(
    event: ExecutionInput | ValidatePartInput | ValidationReduceInput, context: LambdaContext
) -> ValidationOutput | ValidatePartOutput:
    return handle(event, ValidateSettings.from_env(), MapSettings.from_env())
