"""Look up the champion: the model package the endpoint serves right now.

The champion is what serves, read from the endpoint (endpoint -> config -> model ->
``MLOPS_MODEL_PACKAGE_ARN``), not the newest Approved package: after a rollback, an Approved
version that lost its blue/green bake, or a production approval still waiting, the newest Approved
package is not the model a challenger has to beat. An endpoint that does not exist or has
``Failed`` serves nothing, so there is no champion then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.shared.aws import client
from functions.shared.config import env_str
from functions.shared.contracts import ChampionOutput
from functions.shared.endpoint import endpoint_state
from functions.shared.observability import logger

__all__ = ["ChampionSettings", "resolve_champion", "serving_package"]


@dataclass(frozen=True)
class ChampionSettings:
    model_package_group: str
    endpoint_name: str

    @classmethod
    def from_env(cls) -> ChampionSettings:
        return cls(env_str("MODEL_PACKAGE_GROUP"), env_str("ENDPOINT_NAME"))


def serving_package(endpoint: str) -> str | None:
    """The ARN of the package the endpoint serves, or ``None`` (no endpoint, Failed, or not ours)."""
    state = endpoint_state(endpoint)
    if state is None or not state.serving:
        return None
    return state.model_package_arn


def _metrics_uri(package: dict[str, Any]) -> str | None:
    """``ModelMetrics.ModelQuality.Statistics.S3Uri``, or ``None`` for a package registered without it."""
    statistics = ((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
    uri = statistics.get("S3Uri")
    return uri if isinstance(uri, str) and uri else None


def resolve_champion(settings: ChampionSettings) -> ChampionOutput:
    """The serving package as ``$.champion``; ``found`` false (every other field null) when none serves.

    ``metricsUri`` is the package's ModelQuality statistics (its ``metrics.json``): the planner reads
    the batches the champion trained on from it, so the next run can tell new rows from seen ones.
    """
    none: ChampionOutput = {
        "found": False,
        "modelPackageArn": None,
        "version": None,
        "modelDataUrl": None,
        "artifactSha256": None,
        "metricsUri": None,
    }
    arn = serving_package(settings.endpoint_name)
    if arn is None:
        return none
    package = client("sagemaker").describe_model_package(ModelPackageName=arn)
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    if not containers or not containers[0].get("ModelDataUrl"):
        # A package without model data cannot be a champion: train without one rather than fail.
        logger.warning("the serving package has no ModelDataUrl; no champion", extra={"arn": arn})
        return none
    return {
        "found": True,
        "modelPackageArn": arn,
        "version": package.get("ModelPackageVersion"),
        "modelDataUrl": containers[0]["ModelDataUrl"],
        # Lets training verify the champion's model.joblib before unpickling it (--champion-sha256).
        "artifactSha256": (containers[0].get("Environment") or {}).get("MLOPS_MODEL_SHA256")
        or (package.get("CustomerMetadataProperties") or {}).get("artifactSha256"),
        "metricsUri": _metrics_uri(package),
    }
