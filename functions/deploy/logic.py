"""Read the facts of one deployment (endpoint, serving package, challenger) and decide.

The challenger's container settings come from its registry entry, so any registered version —
the run's own, an approved one, an older one being rolled back to — deploys the same way, with the
digest and baseline it was registered with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from functions.deploy.decision import Decision, PackageFacts, batches, decide
from functions.shared.aws import client
from functions.shared.config import env_str
from functions.shared.contracts import DeploymentChallenger, DeploymentDecision
from functions.shared.endpoint import EndpointState, endpoint_state
from functions.shared.errors import RegistryError
from functions.shared.observability import logger
from functions.shared.s3 import get_json, parse_s3_uri

__all__ = ["DeploySettings", "decide_deployment"]

# Container settings a package may carry; older packages fall back to the function's defaults.
_PROGRAM = "SAGEMAKER_PROGRAM"
_SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"


@dataclass(frozen=True)
class DeploySettings:
    model_package_group: str
    endpoint_name: str
    inference_program: str
    source_archive_url: str

    @classmethod
    def from_env(cls) -> DeploySettings:
        return cls(
            model_package_group=env_str("MODEL_PACKAGE_GROUP"),
            endpoint_name=env_str("ENDPOINT_NAME"),
            inference_program=env_str("INFERENCE_PROGRAM"),
            source_archive_url=env_str("SOURCE_ARCHIVE_URL"),
        )


def _describe(arn: str) -> dict[str, Any]:
    try:
        described: dict[str, Any] = client("sagemaker").describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationException":
            raise RegistryError(f"model package {arn} does not exist: {exc}") from exc
        raise
    return described


def _train_batches(package: dict[str, Any]) -> tuple[str, ...] | None:
    """The batches the package's model was trained on, from its metrics.json (``None`` if unknown)."""
    statistics = ((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
    uri = statistics.get("S3Uri")
    if not uri:
        return None
    try:
        location = parse_s3_uri(uri)
        document = get_json(location.bucket, location.key)
    except (ValueError, ClientError) as exc:
        logger.warning("cannot read a package's metrics.json", extra={"uri": uri, "error": str(exc)})
        return None
    data = document.get("data") if isinstance(document, dict) else None
    return batches(data.get("trainBatches")) if isinstance(data, dict) else None


def _facts(package: dict[str, Any]) -> PackageFacts:
    return PackageFacts(
        arn=package["ModelPackageArn"],
        version=package.get("ModelPackageVersion"),
        approval=package.get("ModelApprovalStatus"),
        train_batches=_train_batches(package),
    )


def _with_container(challenger: DeploymentChallenger, package: dict[str, Any], settings: DeploySettings) -> None:
    """Add what CreateModel needs to ``challenger``, from the package's first inference container."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    if not containers or not containers[0].get("ModelDataUrl") or not containers[0].get("Image"):
        raise RegistryError(f"model package {package['ModelPackageArn']} has no container with an image and model data")
    container = containers[0]
    registered = container.get("Environment") or {}
    for required in ("MLOPS_MODEL_SHA256", "MLOPS_BASELINE_URI"):
        if not registered.get(required):
            raise RegistryError(f"model package {package['ModelPackageArn']} lacks {required} in its container")
    environment = {
        "MLOPS_MODEL_SHA256": registered["MLOPS_MODEL_SHA256"],
        "MLOPS_BASELINE_URI": registered["MLOPS_BASELINE_URI"],
        "MLOPS_MODEL_PACKAGE_ARN": package["ModelPackageArn"],
        _PROGRAM: registered.get(_PROGRAM) or settings.inference_program,
        _SUBMIT_DIRECTORY: registered.get(_SUBMIT_DIRECTORY) or settings.source_archive_url,
        "SAGEMAKER_REGION": os.environ.get("AWS_REGION", ""),
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    }
    challenger["image"] = container["Image"]
    challenger["modelDataUrl"] = container["ModelDataUrl"]
    challenger["environment"] = environment


def _serving(state: EndpointState | None, group: str) -> PackageFacts | None:
    if state is None or not state.serving or not state.model_package_arn:
        return None
    try:
        package = _describe(state.model_package_arn)
    except RegistryError:
        return PackageFacts(state.model_package_arn, None, None, None)
    if package.get("ModelPackageGroupName") not in (None, group):
        return PackageFacts(state.model_package_arn, None, package.get("ModelApprovalStatus"), None)
    return _facts(package)


def decide_deployment(request: Mapping[str, Any], settings: DeploySettings) -> DeploymentDecision:
    """``{"modelPackageArn", "reason"}`` -> the action, its reason, and what the next states need."""
    arn = request.get("modelPackageArn")
    if not isinstance(arn, str) or not arn:
        raise ValueError("deploy input lacks modelPackageArn")
    reason = str(request.get("reason") or "")
    package = _describe(arn)
    if package.get("ModelPackageGroupName") != settings.model_package_group:
        raise RegistryError(
            f"model package {arn} belongs to group {package.get('ModelPackageGroupName')!r}, "
            f"not {settings.model_package_group!r}: this pipeline deploys only its own models"
        )
    challenger = _facts(package)
    state = endpoint_state(settings.endpoint_name)
    serving = _serving(state, settings.model_package_group)
    decision: Decision = decide(
        reason=reason,
        challenger=challenger,
        endpoint_status=state.status if state else None,
        serving=serving,
    )
    deployed: DeploymentChallenger = {"modelPackageArn": challenger.arn, "version": challenger.version}
    if decision.action in ("create", "update"):
        _with_container(deployed, package, settings)
    result: DeploymentDecision = {
        "action": decision.action,
        "outcome": decision.outcome,
        "why": decision.why,
        "endpointStatus": state.status if state else None,
        "challenger": deployed,
        "serving": {
            "modelPackageArn": serving.arn if serving else None,
            "version": serving.version if serving else None,
            "endpointConfig": state.config_name if state else None,
        },
        "hasServing": bool(serving and serving.arn),
    }
    logger.info("deployment decided", extra={"decision": result, "reason": reason})
    return result
