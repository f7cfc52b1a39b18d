"""Register an evaluated challenger in the SageMaker Model Registry, approved or rejected.

Rejected models are registered too: the registry is the audit trail of every candidate, and the
reasons a challenger lost are part of that record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from functions.register.lineage import build_lineage
from functions.shared.aws import client
from functions.shared.config import env_str
from functions.shared.errors import RegistryError
from functions.shared.observability import logger

__all__ = ["RegisterSettings", "register_model"]

CONTENT_TYPES = ["text/csv", "application/json"]
MAX_DESCRIPTION = 1024
_STATUSES = {"Approved", "Rejected", "PendingManualApproval"}


@dataclass(frozen=True)
class RegisterSettings:
    model_package_group: str
    inference_image_uri: str
    code_version: str

    @classmethod
    def from_env(cls) -> RegisterSettings:
        return cls(env_str("MODEL_PACKAGE_GROUP"), env_str("INFERENCE_IMAGE_URI"), env_str("CODE_VERSION"))


def _require(state: dict[str, Any], *path: str) -> Any:
    node: Any = state
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if node is None or node == "":
        raise ValueError(f"register input lacks {'.'.join(path)}")
    return node


def _statistics(uri: str, sha256_hex: str | None) -> dict[str, Any]:
    stats = {"ContentType": "application/json", "S3Uri": uri}
    if sha256_hex:
        stats["ContentDigest"] = f"sha256:{sha256_hex}"
    return {"Statistics": stats}


def _description(state: dict[str, Any], status: str) -> str:
    """One line for people browsing the registry; control characters are not allowed here."""
    evaluation = state["evaluation"]
    text = (
        f"{status}: {state.get('reason', 'unknown')} run, job {state['training']['jobName']}, "
        f"dataset {state.get('validation', {}).get('datasetVersion', '?')}. "
        + " | ".join(evaluation.get("reasons", []))
    )
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."


def _check_group(group: str) -> None:
    try:
        client("sagemaker").describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationException":
            raise RegistryError(
                f"model package group {group!r} does not exist; it is created by the CDK stack "
                "(check MODEL_PACKAGE_GROUP and that the stack is deployed)"
            ) from exc
        raise


def register_model(state: dict[str, Any], settings: RegisterSettings) -> dict[str, Any]:
    """Create the Model Package; returns ``{"modelPackageArn", "version", "approvalStatus"}``."""
    status = _require(state, "evaluation", "approvalStatus")
    if status not in _STATUSES:
        raise ValueError(f"evaluation.approvalStatus must be one of {sorted(_STATUSES)}, got {status!r}")
    execution_arn = _require(state, "executionArn")
    job = _require(state, "training", "jobName")
    model_data = _require(state, "training", "modelArtifacts")
    metrics_uri = _require(state, "evaluation", "reports", "metrics")
    baseline_uri = _require(state, "evaluation", "reports", "baseline")
    sha256 = _require(state, "evaluation", "artifactSha256")
    digests = state["evaluation"].get("reportDigests") or {}
    _check_group(settings.model_package_group)

    sagemaker = client("sagemaker")
    response = sagemaker.create_model_package(
        ModelPackageGroupName=settings.model_package_group,
        ModelPackageDescription=_description(state, status),
        InferenceSpecification={
            "Containers": [
                {
                    "Image": settings.inference_image_uri,
                    "ModelDataUrl": model_data,
                    # What the served model needs to verify itself and to be monitored; the same
                    # values the state machine sets on the SageMaker Model it deploys.
                    "Environment": {"MLOPS_MODEL_SHA256": sha256, "MLOPS_BASELINE_URI": baseline_uri},
                }
            ],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": CONTENT_TYPES,
        },
        ModelMetrics={
            "ModelQuality": _statistics(metrics_uri, digests.get("metrics")),
            "ModelDataQuality": _statistics(baseline_uri, digests.get("baseline")),
        },
        ModelApprovalStatus=status,
        MetadataProperties={"GeneratedBy": execution_arn[:1024], "CommitId": settings.code_version[:1024]},
        CustomerMetadataProperties=build_lineage(state, settings.code_version),
        # Idempotency: a retried invocation for the same job returns the same package.
        ClientToken=hashlib.sha256(f"{execution_arn}/{job}".encode()).hexdigest()[:36],
    )
    arn = response["ModelPackageArn"]
    version = sagemaker.describe_model_package(ModelPackageName=arn).get("ModelPackageVersion")
    logger.info("model package registered", extra={"modelPackageArn": arn, "version": version, "status": status})
    return {"modelPackageArn": arn, "version": version, "approvalStatus": status}
