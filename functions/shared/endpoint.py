"""What the serving endpoint is doing right now, read from SageMaker at the moment it matters.

Endpoint -> its current endpoint config -> the first production variant's model -> that model's
``MLOPS_MODEL_PACKAGE_ARN`` environment (set when the pipeline created the model). Both the
champion function (which model a challenger must beat) and the deploy function (what a deployment
must do, decided inside the deployment lock) ask the endpoint rather than trusting a fact read
earlier: by the time a run deploys, another run may have changed what serves.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from functions.shared.aws import client

__all__ = ["SERVING_STATUSES", "TRANSITIONAL_STATUSES", "EndpointState", "endpoint_state"]

# Statuses in which the endpoint answers requests with a known production variant.
SERVING_STATUSES = frozenset({"InService", "UpdateRollbackFailed"})
# Statuses in which SageMaker is changing the endpoint and refuses another change.
TRANSITIONAL_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


@dataclass(frozen=True)
class EndpointState:
    """One DescribeEndpoint answer, followed to the model and model package it serves."""

    name: str
    status: str
    config_name: str
    model_name: str | None
    model_package_arn: str | None
    failure_reason: str | None

    @property
    def serving(self) -> bool:
        return self.status in SERVING_STATUSES


def _not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") in {"ValidationException", "ResourceNotFound"} and "Could not find" in str(
        error.get("Message", "")
    )


def endpoint_state(name: str) -> EndpointState | None:
    """The endpoint's state, or ``None`` when it does not exist.

    A config or model deleted behind the pipeline's back leaves ``model_name``/``model_package_arn``
    ``None`` rather than failing: the endpoint's status is still the fact a deployment needs.
    """
    sagemaker = client("sagemaker")
    try:
        described = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    config_name = described.get("EndpointConfigName", "")
    model_name: str | None = None
    package_arn: str | None = None
    try:
        variants = sagemaker.describe_endpoint_config(EndpointConfigName=config_name).get("ProductionVariants") or []
        if variants:
            model_name = variants[0].get("ModelName")
        if model_name:
            model = sagemaker.describe_model(ModelName=model_name)
            environment = (model.get("PrimaryContainer") or {}).get("Environment") or {}
            package_arn = environment.get("MLOPS_MODEL_PACKAGE_ARN") or None
    except ClientError as exc:
        if not _not_found(exc):
            raise
    return EndpointState(
        name=name,
        status=str(described.get("EndpointStatus", "Unknown")),
        config_name=config_name,
        model_name=model_name,
        model_package_arn=package_arn,
        failure_reason=described.get("FailureReason"),
    )
