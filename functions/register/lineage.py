"""Lineage of a model package as SageMaker ``CustomerMetadataProperties``.

The API is strict: at most 50 entries, keys of 1-128 and values of 1-256 characters, and both
limited to letters, numbers, spaces and ``_ . : / = + - @`` (no braces, quotes or commas, so JSON
cannot be stored as is). Values are therefore written as readable ``key=value`` lists, characters
outside the allowed set become ``_``, long values are truncated with a visible ``...``, and empty
values are left out (the API refuses them). The full-fidelity documents stay in S3, referenced by
URI from the lineage itself.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_KEY", "MAX_VALUE", "build_lineage", "metadata_value", "pairs"]

MAX_KEY = 128
MAX_VALUE = 256
# The API allows 50 entries; lineage keeps 8 free for the governance keys written beside it and
# later (stage, modelCard, serving, servedSince, servedUntil, endpoint).
MAX_ENTRIES = 42
_ALLOWED_PUNCTUATION = frozenset("_.:/=+-@")
_ELLIPSIS = "..."


def _allowed(ch: str) -> bool:
    return ch.isalnum() or ch in _ALLOWED_PUNCTUATION or unicodedata.category(ch).startswith("Z")


def metadata_value(value: Any, limit: int = MAX_VALUE) -> str:
    """``value`` as text the API accepts: disallowed characters -> ``_``, at most ``limit`` chars."""
    text = value if isinstance(value, str) else format_scalar(value)
    text = "".join(ch if _allowed(ch) else "_" for ch in text)
    if len(text) > limit:
        text = text[: limit - len(_ELLIPSIS)] + _ELLIPSIS
    return text


def format_scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def pairs(mapping: Mapping[str, Any] | None) -> str | None:
    """``{"seed": 42, "model-type": "x"}`` -> ``"model-type=x seed=42"`` (sorted, readable, allowed)."""
    if not mapping:
        return None
    return " ".join(f"{k}={format_scalar(v)}" for k, v in sorted(mapping.items()))


def _get(mapping: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(part)
    return mapping


def _joined(values: Any) -> str | None:
    """A list of batch versions as one space-separated value (truncated by ``metadata_value``)."""
    if not isinstance(values, list) or not values:
        return None
    return " ".join(str(v) for v in values)


def build_lineage(state: Mapping[str, Any], code_version: str) -> dict[str, str]:
    """Where the model came from: data, validation, training, evaluation, code and trigger."""
    evaluation = state.get("evaluation") or {}
    raw: dict[str, Any] = {
        "reason": state.get("reason"),
        "executionArn": state.get("executionArn"),
        "dataBucket": _get(state, "data", "bucket"),
        "dataKey": _get(state, "data", "key"),
        "dataVersionId": _get(state, "data", "versionId"),
        "dataEtag": _get(state, "data", "etag"),
        "datasetVersion": _get(state, "validation", "datasetVersion"),
        "datasetSha256": _get(state, "validation", "sha256"),
        "snapshotUri": _get(state, "validation", "snapshot", "prefixUri"),
        "validationReport": _get(state, "validation", "reportUri"),
        "datasetRows": _get(state, "validation", "rows"),
        "trainingJob": _get(state, "training", "jobName"),
        "modelArtifacts": _get(state, "training", "modelArtifacts"),
        "codeVersion": code_version,
        "modelType": evaluation.get("modelType"),
        "hyperparameters": pairs(evaluation.get("hyperparameters")),
        "artifactSha256": evaluation.get("artifactSha256"),
        "metrics": pairs(evaluation.get("metrics")),
        "championMetrics": pairs(evaluation.get("championMetrics")),
        "gate": evaluation.get("approvalStatus"),
        "evaluationReport": _get(evaluation, "reports", "evaluation"),
        "windowMode": _get(state, "plan", "window", "mode"),
        "windowBatches": _get(state, "plan", "window", "batches"),
        "windowRows": _get(state, "plan", "window", "rows"),
        "windowFirst": _get(state, "plan", "window", "first"),
        "windowLast": _get(state, "plan", "window", "last"),
        "newRows": _get(state, "plan", "newRows"),
        "trainingPlan": _get(state, "plan", "planPrefixUri"),
        "holdoutRule": _get(evaluation, "data", "holdoutRule"),
        "holdoutRows": _get(evaluation, "data", "holdoutRows"),
        "holdoutBatches": _joined(_get(evaluation, "data", "holdoutBatches")),
        "thresholdMode": _get(evaluation, "threshold", "mode"),
        "threshold": _get(evaluation, "threshold", "value"),
        "alarmName": _get(state, "executionInput", "alarm", "name"),
        "alarmStateChangeTime": _get(state, "executionInput", "alarm", "stateChangeTime"),
    }
    lineage: dict[str, str] = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        lineage[metadata_value(key, MAX_KEY)] = metadata_value(value)
        if len(lineage) == MAX_ENTRIES:
            break
    return lineage
