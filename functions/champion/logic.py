"""Look up the champion in the SageMaker Model Registry and the serving endpoint's existence.

The champion is the newest *Approved* package of the group — what the pipeline last deployed —
not the newest package: a Rejected challenger must never become the bar the next one is held to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws import client
from functions.shared.config import env_str
from functions.shared.observability import logger

__all__ = ["ChampionSettings", "endpoint_exists", "latest_approved", "resolve_champion"]


@dataclass(frozen=True)
class ChampionSettings:
    model_package_group: str
    endpoint_name: str

    @classmethod
    def from_env(cls) -> ChampionSettings:
        return cls(env_str("MODEL_PACKAGE_GROUP"), env_str("ENDPOINT_NAME"))


def _is_not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    message = str(error.get("Message", ""))
    return error.get("Code") in {"ValidationException", "ResourceNotFound"} and (
        "Could not find" in message or "does not exist" in message
    )


def latest_approved(group: str) -> dict[str, Any] | None:
    """The newest Approved package summary of ``group``; ``None`` if none (or no such group)."""
    sagemaker = client("sagemaker")
    try:
        response = sagemaker.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )
    except ClientError as exc:
        if _is_not_found(exc):
            return None
        raise
    summaries = response.get("ModelPackageSummaryList", [])
    return summaries[0] if summaries else None


def endpoint_exists(name: str) -> bool:
    """DescribeEndpoint answers a ValidationException "Could not find endpoint" for a missing one."""
    try:
        client("sagemaker").describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if _is_not_found(exc):
            return False
        raise
    return True


def _metrics_uri(package: dict[str, Any]) -> str | None:
    """``ModelMetrics.ModelQuality.Statistics.S3Uri``, or ``None`` for a package registered without it."""
    statistics = ((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
    uri = statistics.get("S3Uri")
    return uri if isinstance(uri, str) and uri else None


def resolve_champion(settings: ChampionSettings) -> dict[str, Any]:
    """``{"found", "modelPackageArn", "version", "modelDataUrl", "artifactSha256", "metricsUri", "endpointExists"}``.

    ``metricsUri`` is the package's ModelQuality statistics (its ``metrics.json``): the planner reads
    the batches the champion trained on from it, so the next run can tell new rows from seen ones.
    """
    summary = latest_approved(settings.model_package_group)
    out: dict[str, Any] = {
        "found": False,
        "modelPackageArn": None,
        "version": None,
        "modelDataUrl": None,
        "artifactSha256": None,
        "metricsUri": None,
        "endpointExists": endpoint_exists(settings.endpoint_name),
    }
    if summary is None:
        return out
    arn = summary["ModelPackageArn"]
    package = client("sagemaker").describe_model_package(ModelPackageName=arn)
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    if not containers or not containers[0].get("ModelDataUrl"):
        # A package without model data cannot be a champion: train without one rather than fail.
        logger.warning("the latest Approved package has no ModelDataUrl; no champion", extra={"arn": arn})
        return out
    out.update(
        found=True,
        modelPackageArn=arn,
        version=package.get("ModelPackageVersion", summary.get("ModelPackageVersion")),
        modelDataUrl=containers[0]["ModelDataUrl"],
        # Lets training verify the champion's model.joblib before unpickling it (--champion-sha256).
        artifactSha256=(containers[0].get("Environment") or {}).get("MLOPS_MODEL_SHA256")
        or (package.get("CustomerMetadataProperties") or {}).get("artifactSha256"),
        metricsUri=_metrics_uri(package),
    )
    return out
