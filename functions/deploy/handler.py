"""Lambda entry point of deploy: ``{"modelPackageArn", "reason"}`` in, the deployment's action out."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.deploy.logic import DeploySettings, decide_deployment
from functions.shared.contracts import DeployInput, DeploymentDecision
from functions.shared.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: DeployInput, context: LambdaContext) -> DeploymentDecision:
    return decide_deployment(event, DeploySettings.from_env())
