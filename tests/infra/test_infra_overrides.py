"""Context overrides reach the resources: one synthesis with a changed gate, schema and schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra_helpers import PROJECT_ROOT, Synthesized, render, synthesize


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    schema = json.loads((PROJECT_ROOT / "schemas" / "ai4i2020.schema.json").read_text())
    schema["name"] = "bearings"
    schema["columns"] = [c for c in schema["columns"] if c["name"] != "Tool wear [min]"]
    schema["columns"].append({"name": "Vibration [mm/s]", "type": "float", "min": 0.0, "max": 100.0})
    path = tmp_path_factory.mktemp("schema") / "bearings.schema.json"
    path.write_text(json.dumps(schema))
    return path


@pytest.fixture(scope="module")
def overridden(tmp_path_factory: pytest.TempPathFactory, schema_file: Path) -> Synthesized:
    overrides: dict[str, Any] = {
        "mlops": {
            "gate": {"thresholds": {"roc_auc": 0.95}},
            "schemaFile": str(schema_file),
            "drift": {"scheduleMinutes": 15},
        }
    }
    return synthesize(overrides, tmp_path_factory.mktemp("cdk.out.override"))


def _env(synthesized: Synthesized, name: str) -> dict[str, str]:
    return {k: render(v) for k, v in synthesized.functions()[name]["Environment"]["Variables"].items()}


def test_gate_threshold_override_reaches_the_evaluate_function(overridden: Synthesized) -> None:
    thresholds = json.loads(_env(overridden, "evaluate")["GATE_THRESHOLDS"])
    assert thresholds == {"roc_auc": 0.95, "pr_auc": 0.4}  # deep-merged: pr_auc kept from cdk.json


def test_schema_override_changes_dataset_package_and_dashboard(
    overridden: Synthesized, synthesized: Synthesized
) -> None:
    assert _env(overridden, "validate")["DATASET_NAME"] == "bearings"
    key = {render(p["Code"]["S3Key"]) for p in overridden.functions().values()}
    default_key = {render(p["Code"]["S3Key"]) for p in synthesized.functions().values()}
    assert len(key) == 1 and key != default_key  # schema.json is part of the package
    (dashboard,) = overridden.resources("monitoring", "AWS::CloudWatch::Dashboard").values()
    body = render(dashboard["Properties"]["DashboardBody"])
    assert "Vibration [mm/s]" in body and "Tool wear [min]" not in body


def test_schedule_override_reaches_the_rule(overridden: Synthesized) -> None:
    rules = overridden.resources("monitoring", "AWS::Events::Rule").values()
    schedules = {
        render(r["Properties"]["Targets"][0]["Arn"]).split(".")[0]: r["Properties"]["ScheduleExpression"]
        for r in rules
        if "ScheduleExpression" in r["Properties"]
    }
    (drift,) = [expression for target, expression in schedules.items() if "DriftFunction" in target]
    assert drift == "rate(15 minutes)"
    (recheck,) = [expression for target, expression in schedules.items() if "TriggerFunction" in target]
    assert recheck == "rate(1 hour)"  # retraining.recheckMinutes, untouched by the drift override
