"""Lambda entry point of champion: ``{}`` in, the serving package (the champion) out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.champion.logic import ChampionSettings, resolve_champion
from functions.shared.aws import name_transient_errors
from functions.shared.contracts import ChampionOutput
from functions.shared.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@name_transient_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> ChampionOutput:
    result = resolve_champion(ChampionSettings.from_env())
    logger.info("champion resolved", extra=dict(result))
    return result
