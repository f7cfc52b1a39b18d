"""The model card: built from metrics.json and the run, rendered as a page that escapes every value."""

from __future__ import annotations

from pathlib import Path

from functions.register.model_card import build_card, render_html
from pipelines.schema import load_schema

SCHEMA = load_schema(Path(__file__).resolve().parents[3] / "schemas" / "ai4i2020.schema.json")
METRICS = {
    "challenger": {"roc_auc": 0.97, "pr_auc": 0.7, "f1": 0.6, "precision": 0.5, "recall": 0.8, "accuracy": 0.98},
    "champion": None,
    "rows": {"train": 800, "holdout": 200},
    "data": {"batches": ["b1"], "trainBatches": ["b1"], "holdoutBatches": ["b1"], "holdoutRule": "newest rows"},
    "threshold": {"mode": "best_f1", "value": 0.31},
    "model_type": "hist_gradient_boosting",
    "card": {
        "permutationImportance": {"Torque [Nm]": {"mean": 0.2, "std": 0.01, "share": 1.0}},
        "segments": {"Type": {"L": {"rows": 120, "positives": 5, "roc_auc": 0.9, "accuracy": 0.97}}},
    },
}


def _card(lineage: dict[str, str] | None = None) -> dict:
    return build_card(
        state={"evaluation": {"approvalStatus": "Approved", "reasons": ["pass threshold: roc_auc"]}},
        metrics=METRICS,
        schema=SCHEMA,
        package={"arn": "arn:pkg/3", "version": 3, "group": "ai4i-failure", "approvalStatus": "Approved"},
        lineage=lineage or {"trainingJob": "train-x"},
        stage="prod",
    )


def test_the_card_carries_what_training_computed() -> None:
    card = _card()
    assert card["model"]["version"] == 3 and card["intendedUse"]["stage"] == "prod"
    assert "0.31" in card["intendedUse"]["decision"]
    assert card["metrics"]["holdout"]["roc_auc"] == 0.97 and card["metrics"]["championOnTheSameHoldout"] is None
    assert card["metrics"]["bySegment"]["Type"]["L"]["rows"] == 120
    assert card["permutationImportance"]["Torque [Nm]"]["mean"] == 0.2
    assert card["dataWindow"]["trainBatches"] == ["b1"] and card["gate"]["status"] == "Approved"


def test_the_page_escapes_every_value() -> None:
    page = render_html(_card({"reason": "<script>alert(1)</script>"}))
    assert page.startswith("<!doctype html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Torque [Nm]" in page and "0.9700" in page
