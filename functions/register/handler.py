"""Lambda entry point of register: the execution state in, the new Model Package out."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.register.logic import RegisterSettings, register_model
from functions.shared.aws import name_transient_errors
from functions.shared.contracts import RegisterInput, RegistrationOutput
from functions.shared.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(event: RegisterInput, context: LambdaContext) -> RegistrationOutput:
    return register_model(event, RegisterSettings.from_env())
