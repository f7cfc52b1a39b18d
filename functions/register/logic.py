"""Register an evaluated challenger in the SageMaker Model Registry, approved or rejected.

Rejected models are registered too: the registry is the audit trail of every candidate, and the
reasons a challenger lost are part of that record. In a stage whose approval is ``manual`` a
challenger that passed the gate is registered ``PendingManualApproval``: a person approves it in
the registry, and that approval (not this run) deploys it.

The package is self-describing: its container carries everything a deployment needs (image, model
data, digest, baseline, serving program and code location), so any version can be deployed, or
rolled back to, from its registry entry alone. Each package links its model card
(``functions.register.model_card``), written beside the run's reports as JSON and HTML.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from functions.register.lineage import build_lineage
from functions.register.model_card import build_card, render_html
from functions.shared.aws import client, is_transient
from functions.shared.config import code_path, env_str
from functions.shared.contracts import RegisterInput, RegistrationOutput
from functions.shared.errors import ConfigurationError, RegistryError
from functions.shared.observability import logger
from functions.shared.s3 import get_json, parse_s3_uri, put_bytes
from pipelines.schema import load_schema

__all__ = ["RegisterSettings", "register_model"]

CONTENT_TYPES = ["text/csv", "application/json"]
MAX_DESCRIPTION = 1024
_STATUSES = {"Approved", "Rejected", "PendingManualApproval"}
APPROVAL_MODES = ("auto", "manual")
# Where the serving container finds model.tar.gz's code/ folder.
MODEL_CODE_DIRECTORY = "/opt/ml/model/code"


@dataclass(frozen=True)
class RegisterSettings:
    model_package_group: str
    inference_image_uri: str
    code_version: str
    approval_mode: str = "auto"
    inference_program: str = "inference.py"
    stage: str = ""

    @classmethod
    def from_env(cls) -> RegisterSettings:
        mode = env_str("APPROVAL_MODE")
        if mode not in APPROVAL_MODES:
            raise ConfigurationError(
                f"environment variable APPROVAL_MODE must be one of {list(APPROVAL_MODES)}, got {mode!r}"
            )
        return cls(
            model_package_group=env_str("MODEL_PACKAGE_GROUP"),
            inference_image_uri=env_str("INFERENCE_IMAGE_URI"),
            code_version=env_str("CODE_VERSION"),
            approval_mode=mode,
            inference_program=env_str("INFERENCE_PROGRAM"),
            stage=env_str("STAGE"),
        )

    def registered_status(self, gate_status: str) -> str:
        """What the registry records: a gate pass waits for a person where approval is manual."""
        if gate_status == "Approved" and self.approval_mode == "manual":
            return "PendingManualApproval"
        return gate_status


def _require(state: Mapping[str, Any], *path: str) -> Any:
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


def _description(state: Mapping[str, Any], status: str) -> str:
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


def _container_environment(sha256: str, baseline_uri: str, settings: RegisterSettings) -> dict[str, str]:
    """What the served model needs to verify itself, be monitored and start: the same values the
    deployment sets on the SageMaker Model it creates from this package."""
    # The training job packs the serving code into model.tar.gz (code/): the model starts from its
    # own archive, whatever happens to the source archive the run was trained with.
    return {
        "MLOPS_MODEL_SHA256": sha256,
        "MLOPS_BASELINE_URI": baseline_uri,
        "SAGEMAKER_PROGRAM": settings.inference_program,
        "SAGEMAKER_SUBMIT_DIRECTORY": MODEL_CODE_DIRECTORY,
    }


def _metadata(state: Mapping[str, Any], settings: RegisterSettings, card_uri: str) -> dict[str, str]:
    """The lineage, the stage the package belongs to and its model card (``mlops models`` shows them)."""
    metadata = build_lineage(state, settings.code_version)
    if settings.stage:
        metadata["stage"] = settings.stage
    metadata["modelCard"] = card_uri
    return metadata


def _card_uri(metrics_uri: str) -> str:
    """The card's place: beside the run's metrics.json (``reports/<jobName>/model-card.json``)."""
    return metrics_uri.rsplit("/", 1)[0] + "/model-card.json"


def _write_card(
    state: Mapping[str, Any], settings: RegisterSettings, card_uri: str, metrics_uri: str, package: dict[str, Any]
) -> None:
    metrics_location = parse_s3_uri(metrics_uri)
    card = build_card(
        state=state,
        metrics=get_json(metrics_location.bucket, metrics_location.key),
        schema=load_schema(code_path(env_str("SCHEMA_PATH"))),
        package=package,
        lineage=build_lineage(state, settings.code_version),
        stage=settings.stage,
    )
    location = parse_s3_uri(card_uri)
    put_bytes(location.bucket, location.key, json.dumps(card, indent=2).encode(), "application/json")
    html_key = location.key.removesuffix(".json") + ".html"
    put_bytes(location.bucket, html_key, render_html(card).encode(), "text/html")


def register_model(state: RegisterInput, settings: RegisterSettings) -> RegistrationOutput:
    """Create the Model Package from the run's state; its ARN, version and registered status out."""
    gate_status = _require(state, "evaluation", "approvalStatus")
    if gate_status not in _STATUSES:
        raise ValueError(f"evaluation.approvalStatus must be one of {sorted(_STATUSES)}, got {gate_status!r}")
    status = settings.registered_status(gate_status)
    execution_arn = _require(state, "executionArn")
    job = _require(state, "training", "jobName")
    model_data = _require(state, "training", "modelArtifacts")
    metrics_uri = _require(state, "evaluation", "reports", "metrics")
    baseline_uri = _require(state, "evaluation", "reports", "baseline")
    sha256 = _require(state, "evaluation", "artifactSha256")
    digests = state["evaluation"].get("reportDigests") or {}
    _check_group(settings.model_package_group)

    sagemaker = client("sagemaker")
    try:
        response = sagemaker.create_model_package(
            ModelPackageGroupName=settings.model_package_group,
            ModelPackageDescription=_description(state, status),
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": settings.inference_image_uri,
                        "ModelDataUrl": model_data,
                        "Environment": _container_environment(sha256, baseline_uri, settings),
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
            CustomerMetadataProperties=_metadata(state, settings, _card_uri(metrics_uri)),
            # Idempotency: a retried invocation for the same job returns the same package.
            ClientToken=hashlib.sha256(f"{execution_arn}/{job}".encode()).hexdigest()[:36],
        )
    except ClientError as exc:
        if is_transient(exc):
            raise  # the handler names it TransientServiceError, and the state machine retries
        error = exc.response.get("Error", {})
        raise RegistryError(
            f"CreateModelPackage in group {settings.model_package_group!r} failed: "
            f"{error.get('Code', '?')}: {error.get('Message', '')}"
        ) from exc
    arn = response["ModelPackageArn"]
    version = sagemaker.describe_model_package(ModelPackageName=arn).get("ModelPackageVersion")
    package = {"arn": arn, "version": version, "group": settings.model_package_group, "approvalStatus": status}
    _write_card(state, settings, _card_uri(metrics_uri), metrics_uri, package)
    logger.info("model package registered", extra={"modelPackageArn": arn, "version": version, "status": status})
    return {"modelPackageArn": arn, "version": version, "approvalStatus": status}
