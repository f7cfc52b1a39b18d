"""Find the model the endpoint is serving right now, and its drift baseline.

Endpoint -> its current endpoint config -> the first production variant's model -> that model's
``MLOPS_BASELINE_URI`` environment (set by the state machine's CreateModel). Asking the endpoint,
rather than the registry, means a drift check always compares traffic with the baseline of the
model that actually produced the predictions, including during and after a rollback.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from functions.shared.aws import client
from functions.shared.errors import ServingError

__all__ = ["ServingModel", "find_serving_model"]


@dataclass(frozen=True)
class ServingModel:
    endpoint: str
    endpoint_status: str
    endpoint_config: str
    variant: str
    model_name: str
    baseline_uri: str
    model_package_arn: str | None


def find_serving_model(endpoint: str) -> ServingModel | None:
    """The serving model, or ``None`` when the endpoint does not exist (nothing deployed yet)."""
    sagemaker = client("sagemaker")
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationException" and "Could not find" in str(error.get("Message", "")):
            return None
        raise
    config_name = described["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variants = config.get("ProductionVariants") or []
    if not variants:
        raise ServingError(f"endpoint config {config_name!r} of endpoint {endpoint!r} has no production variant")
    variant = variants[0]
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    environment = (model.get("PrimaryContainer") or {}).get("Environment") or {}
    baseline = environment.get("MLOPS_BASELINE_URI")
    if not baseline:
        raise ServingError(
            f"model {variant['ModelName']!r} serving endpoint {endpoint!r} has no MLOPS_BASELINE_URI "
            "environment variable: it was not deployed by the pipeline, so there is nothing to compare with"
        )
    return ServingModel(
        endpoint=endpoint,
        endpoint_status=described.get("EndpointStatus", "Unknown"),
        endpoint_config=config_name,
        variant=variant.get("VariantName", ""),
        model_name=variant["ModelName"],
        baseline_uri=baseline,
        model_package_arn=environment.get("MLOPS_MODEL_PACKAGE_ARN"),
    )
