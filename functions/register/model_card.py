"""The model card of a registered version: what it is for, what it saw, how it did, where it came from.

Its content comes from the training job (``metrics.json``: holdout metrics, metrics by segment of
each categorical feature, permutation importance, the threshold and how it was chosen, the data
window) and from the run (lineage, the gate's verdict). The register function writes it beside the
training reports as JSON (for tools) and HTML (for people) and links it from the package
(``CustomerMetadataProperties.modelCard``), so the card of any version is one click from the
registry. Standard library only: no pandas in a Lambda.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipelines.schema import DatasetSchema

__all__ = ["CARD_VERSION", "build_card", "render_html"]

CARD_VERSION = 1
_METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy")


def _get(mapping: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(part)
    return mapping


def _intended_use(schema: DatasetSchema, threshold: Any, stage: str) -> dict[str, Any]:
    target = schema.target_column
    return {
        "task": f"{schema.problem_type}: the probability that {target.name!r} is {schema.positive_label!r}",
        "dataset": schema.name,
        "datasetDescription": schema.description,
        "inputs": [column.name for column in schema.features],
        "decision": f"label 1 when the probability is at least {threshold} (chosen on training rows only)",
        "stage": stage or "default",
        "outOfScope": (
            "Rows outside the schema's columns, types or ranges are refused by the serving code; "
            "traffic unlike the training window is watched by the drift check and the quality alarm."
        ),
    }


def build_card(
    *,
    state: Mapping[str, Any],
    metrics: Mapping[str, Any],
    schema: DatasetSchema,
    package: Mapping[str, Any],
    lineage: Mapping[str, str],
    stage: str,
) -> dict[str, Any]:
    """The card as a JSON document (``package``: ``{"arn", "version", "group", "approvalStatus"}``)."""
    evaluation = state.get("evaluation") or {}
    threshold = _get(metrics, "threshold", "value") or _get(metrics, "challenger", "threshold")
    card = metrics.get("card") or {}
    return {
        "cardVersion": CARD_VERSION,
        "createdAt": datetime.now(UTC).isoformat(),
        "model": {
            "modelPackageGroup": package.get("group"),
            "modelPackageArn": package.get("arn"),
            "version": package.get("version"),
            "approvalStatus": package.get("approvalStatus"),
            "modelType": metrics.get("model_type"),
            "hyperparameters": metrics.get("hyperparameters"),
            "sklearnVersion": metrics.get("sklearn_version"),
            "artifactSha256": metrics.get("artifact_sha256"),
        },
        "intendedUse": _intended_use(schema, threshold, stage),
        "dataWindow": {
            "window": _get(state, "plan", "window"),
            "batches": _get(metrics, "data", "batches"),
            "trainBatches": _get(metrics, "data", "trainBatches"),
            "holdoutBatches": _get(metrics, "data", "holdoutBatches"),
            "rows": metrics.get("rows"),
            "holdoutRule": _get(metrics, "data", "holdoutRule"),
            "holdoutTimeRange": _get(metrics, "data", "holdoutTimeRange"),
        },
        "metrics": {
            "holdout": metrics.get("challenger"),
            "championOnTheSameHoldout": metrics.get("champion"),
            "bySegment": card.get("segments") or {},
        },
        "permutationImportance": card.get("permutationImportance") or {},
        "threshold": metrics.get("threshold"),
        "gate": {"status": evaluation.get("approvalStatus"), "reasons": evaluation.get("reasons") or []},
        "lineage": dict(lineage),
    }


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape("-" if value is None else str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_number(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(card: Mapping[str, Any]) -> str:
    """A self-contained page of the card, every value escaped."""
    model, use = card["model"], card["intendedUse"]
    holdout = card["metrics"]["holdout"] or {}
    champion = card["metrics"]["championOnTheSameHoldout"] or {}
    sections = [
        f"<h1>Model card: {html.escape(str(model['modelPackageGroup']))} v{_number(model['version'])}</h1>",
        f"<p>{html.escape(str(model['approvalStatus']))} &middot; {html.escape(str(model['modelType']))} &middot; "
        f"created {html.escape(card['createdAt'])}</p>",
        "<h2>Intended use</h2>",
        _table(["", ""], [[key, value if isinstance(value, str) else json.dumps(value)] for key, value in use.items()]),
        "<h2>Holdout metrics</h2>",
        _table(
            ["metric", "this model", "champion (same rows)"], [[m, holdout.get(m), champion.get(m)] for m in _METRICS]
        ),
        "<h2>By segment</h2>",
    ]
    for feature, categories in card["metrics"]["bySegment"].items():
        rows = [
            [category, *(values.get(k) for k in ("rows", "positives", *_METRICS))]
            for category, values in categories.items()
        ]
        sections.append(f"<h3>{html.escape(feature)}</h3>")
        sections.append(_table(["category", "rows", "positives", *_METRICS], rows))
    importance = card["permutationImportance"]
    sections += [
        "<h2>Permutation importance (ROC-AUC drop on the holdout)</h2>",
        _table(
            ["feature", "mean", "std", "share"],
            [
                [name, v.get("mean"), v.get("std"), v.get("share")]
                for name, v in sorted(importance.items(), key=lambda item: -float(item[1].get("mean") or 0.0))
            ],
        ),
        "<h2>Threshold</h2>",
        _table(["", ""], [[k, v] for k, v in (card.get("threshold") or {}).items()]),
        "<h2>Data window</h2>",
        _table(["", ""], [[k, json.dumps(v)] for k, v in card["dataWindow"].items()]),
        "<h2>Gate</h2>",
        f"<p>{html.escape(str(card['gate']['status']))}</p>",
        "<ul>" + "".join(f"<li>{html.escape(str(r))}</li>" for r in card["gate"]["reasons"]) + "</ul>",
        "<h2>Lineage</h2>",
        _table(["", ""], [[k, v] for k, v in sorted(card["lineage"].items())]),
    ]
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}"
    )
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>Model card</title>"
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )
