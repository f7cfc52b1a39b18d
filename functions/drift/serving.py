"""Find the model the endpoint is serving right now, and its drift baseline.

Endpoint -> its current endpoint config -> the first production variant's model -> that model's
``MLOPS_BASELINE_URI`` environment (set by the state machine's CreateModel). Asking the endpoint,
rather than the registry, means a drift check always compares traffic with the baseline of the
model that actually produced the predictions, including during and after a rollback.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.shared.endpoint import endpoint_state
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
    state = endpoint_state(endpoint)
    if state is None:
        return None
    if state.model_name is None:
        raise ServingError(f"endpoint config {state.config_name!r} of endpoint {endpoint!r} has no production variant")
    if not state.baseline_uri:
        raise ServingError(
            f"model {state.model_name!r} serving endpoint {endpoint!r} has no MLOPS_BASELINE_URI "
            "environment variable: it was not deployed by the pipeline, so there is nothing to compare with"
        )
    return ServingModel(
        endpoint=endpoint,
        endpoint_status=state.status,
        endpoint_config=state.config_name,
        variant=str(state.variant.get("VariantName", "")),
        model_name=state.model_name,
        baseline_uri=state.baseline_uri,
        model_package_arn=state.model_package_arn,
    )
