"""What the serving endpoint is doing right now, read from SageMaker at the moment it matters.

Endpoint -> its current endpoint config -> the first production variant's model -> that model's
environment (``MLOPS_MODEL_PACKAGE_ARN``, ``MLOPS_BASELINE_URI``, set when the pipeline created the
model). The champion function (which model a challenger must beat), the deploy function (what a
deployment must do, decided inside the deployment lock) and the drift function (whose baseline the
traffic is compared with) ask the endpoint rather than trusting a fact read earlier: by the time a
run deploys, another run may have changed what serves. The ``mlops`` command (models, demo,
backtest) asks the same way, through its own client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    config: dict[str, Any] = field(default_factory=dict)  # DescribeEndpointConfig ({} if it is gone)
    variant: dict[str, Any] = field(default_factory=dict)  # the config's first production variant
    environment: dict[str, str] = field(default_factory=dict)  # that variant's model's container environment

    @property
    def serving(self) -> bool:
        return self.status in SERVING_STATUSES

    @property
    def baseline_uri(self) -> str | None:
        return self.environment.get("MLOPS_BASELINE_URI") or None


def _not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") in {"ValidationException", "ResourceNotFound"} and "Could not find" in str(
        error.get("Message", "")
    )


def endpoint_state(name: str, sagemaker: Any = None) -> EndpointState | None:
    """The endpoint's state, or ``None`` when it does not exist.

    ``sagemaker`` is the client to ask (default: the process's cached one, as the handlers use). A
    config or model deleted behind the pipeline's back leaves ``model_name``/``model_package_arn``
    ``None`` rather than failing: the endpoint's status is still the fact a deployment needs.
    """
    sagemaker = sagemaker or client("sagemaker")
    try:
        described = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    config_name = described.get("EndpointConfigName", "")
    config: dict[str, Any] = {}
    variant: dict[str, Any] = {}
    environment: dict[str, str] = {}
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        variants = config.get("ProductionVariants") or []
        variant = dict(variants[0]) if variants else {}
        if variant.get("ModelName"):
            model = sagemaker.describe_model(ModelName=variant["ModelName"])
            environment = dict((model.get("PrimaryContainer") or {}).get("Environment") or {})
    except ClientError as exc:
        if not _not_found(exc):
            raise
    return EndpointState(
        name=name,
        status=str(described.get("EndpointStatus", "Unknown")),
        config_name=config_name,
        model_name=variant.get("ModelName") or None,
        model_package_arn=environment.get("MLOPS_MODEL_PACKAGE_ARN") or None,
        failure_reason=described.get("FailureReason"),
        config=config,
        variant=variant,
        environment=environment,
    )
