"""Lambda entry point of deploy: ``{"modelPackageArn", "reason"}`` in, the deployment's action out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.deploy.logic import DeploySettings, decide_deployment
from functions.shared.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return decide_deployment(event, DeploySettings.from_env())
