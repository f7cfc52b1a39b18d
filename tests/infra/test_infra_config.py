"""The ``mlops`` context: cdk.json parses, bad values fail with errors that name the key."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from aws_cdk import aws_lambda as lambda_

from infra.app import PROJECT_ROOT, build_app, cdk_json_context, deep_merge
from infra.config import ConfigError, load_config, parse_config


@pytest.fixture
def base() -> dict[str, Any]:
    return copy.deepcopy(cdk_json_context()["mlops"])


def test_cdk_json_parses_into_typed_config() -> None:
    config = load_config(PROJECT_ROOT / "cdk.json")
    assert config.prefix == "mlops"
    assert config.model_name == config.endpoint_name == "ai4i-failure"
    assert config.alarm_name == "mlops-ai4i-failure-drift"
    assert config.schema_path(PROJECT_ROOT).is_file()
    assert config.training.hyperparameters == {
        "model-type": "hist_gradient_boosting",
        "holdout-fraction": "0.2",
        "seed": "42",
        "threshold": "best_f1",
        "false-positive-cost": "1",
        "false-negative-cost": "1",
    }
    assert (config.training.window.mode, config.training.window.value) == ("all", 0)
    assert json.loads(config.gate.thresholds_json()) == {"roc_auc": 0.9, "pr_auc": 0.4}
    assert config.drift.alarm.period_seconds == 300
    assert config.retraining.cooldown_seconds == 3600
    assert config.retraining.on_upload and config.retraining.on_alarm
    assert config.gate.min_improvement > 0, "a tie must keep the champion"
    assert config.quality_alarm_name == "mlops-ai4i-failure-quality"


def test_runtime_is_the_newest_python_the_cdk_knows() -> None:
    """cdk-nag's AwsSolutions-L1 accepts only the latest runtime of a family."""
    config = load_config(PROJECT_ROOT / "cdk.json")
    pythons = [r.name for r in lambda_.Runtime.ALL if r.name.startswith("python3.")]
    newest = max(pythons, key=lambda name: int(name.split(".")[1]))
    assert config.lambda_.runtime == newest
    assert config.lambda_.python_tag == newest.replace(".", "")


def test_cdk_json_runs_the_app_and_pins_strong_references() -> None:
    document = json.loads((PROJECT_ROOT / "cdk.json").read_text())
    assert document["app"] == "python infra/app.py"
    context = document["context"]
    # Exports/ImportValue (moto resolves them), not Fn::GetStackOutput.
    assert context["@aws-cdk/core:defaultCrossStackReferences"] == "strong"
    assert context["@aws-cdk/aws-s3:publicAccessBlockedByDefault"] is True


def test_package_json_pins_the_cdk_cli() -> None:
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    assert package["devDependencies"]["aws-cdk"] == "2.1148.1"
    assert package["scripts"]["cdk"] == "cdk"
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == "2.1148.1"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("prefix",), "Mlops", "mlops.prefix"),
        (("prefix",), "ends-with-", "mlops.prefix"),
        (("modelName",), "under_score", "mlops.modelName"),
        (("uploadPrefix",), "/uploads/", "mlops.uploadPrefix"),
        (("lambda", "runtime"), "nodejs22.x", "mlops.lambda.runtime"),
        (("lambda", "memoryMb"), 64, "mlops.lambda.memoryMb"),
        (("lambda", "timeoutSeconds"), "300", "mlops.lambda.timeoutSeconds"),
        (("training", "instanceType"), "m5.large", "mlops.training.instanceType"),
        (("training", "hyperparameters", "seed"), 42, "mlops.training.hyperparameters.seed"),
        (("training", "hyperparameters", "sagemaker_program"), "x.py", "sagemaker_"),
        (("gate", "primaryMetric"), "auc", "mlops.gate.primaryMetric"),
        (("gate", "thresholds", "roc_auc"), 1.5, "mlops.gate.thresholds.roc_auc"),
        (("gate", "thresholds", "logloss"), 0.1, "mlops.gate.thresholds.logloss"),
        (("serving", "captureSamplingPercentage"), 101, "mlops.serving.captureSamplingPercentage"),
        (("drift", "alpha"), 0, "mlops.drift.alpha"),
        (("drift", "alpha"), True, "mlops.drift.alpha"),
        (("drift", "metricNamespace"), "AWS/SageMaker", "mlops.drift.metricNamespace"),
        (("drift", "alarm", "datapointsToAlarm"), 3, "mlops.drift.alarm.datapointsToAlarm"),
        (("drift", "alarm", "periodSeconds"), 90, "mlops.drift.alarm.periodSeconds"),
        (("retraining", "cooldownMinutes"), -1, "mlops.retraining.cooldownMinutes"),
        (("retraining", "cooldownMinute"), 5, "unknown key(s) 'cooldownMinute'"),
        (("retraining", "onUpload"), "yes", "mlops.retraining.onUpload"),
        (("retraining", "recheckMinutes"), 0, "mlops.retraining.recheckMinutes"),
        (("training", "window", "mode"), "weeks", "mlops.training.window.mode"),
        (("training", "window"), {"mode": "rows", "value": 0}, "mlops.training.window.value"),
        (("gate", "minImprovement"), -0.1, "mlops.gate.minImprovement"),
        (("gate", "maxRegression"), 0.0, "unknown key(s) 'maxRegression'"),
        (("quality", "metric"), "pr_auc", "mlops.quality.metric"),
        (("quality", "tolerance"), 2, "mlops.quality.tolerance"),
        (("quality", "alarm", "datapointsToAlarm"), 2, "mlops.quality.alarm.datapointsToAlarm"),
        (("groundTruth", "prefix"), "ground-truth", "mlops.groundTruth.prefix"),
    ],
)
def test_bad_values_name_the_key(base: dict[str, Any], path: tuple[str, ...], value: Any, message: str) -> None:
    target = base
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(base)


def test_missing_key_is_named(base: dict[str, Any]) -> None:
    del base["serving"]["endpointPollSeconds"]
    with pytest.raises(ConfigError, match=r"mlops\.serving\.endpointPollSeconds: required key is missing"):
        parse_config(base)


def test_deep_merge_changes_only_what_it_names(base: dict[str, Any]) -> None:
    merged = deep_merge(base, {"gate": {"thresholds": {"roc_auc": 0.95}}, "prefix": "other"})
    assert merged["gate"]["thresholds"] == {"roc_auc": 0.95, "pr_auc": 0.4}
    assert merged["gate"]["primaryMetric"] == base["gate"]["primaryMetric"]
    assert merged["prefix"] == "other"
    assert base["gate"]["thresholds"]["roc_auc"] == 0.9  # the input is not mutated


def test_build_app_rejects_a_bad_override_before_synthesis() -> None:
    with pytest.raises(ConfigError, match=r"mlops\.drift\.alpha"):
        build_app({"mlops": {"drift": {"alpha": 1.0}}})
    with pytest.raises(ConfigError, match="schemaFile"):
        build_app({"mlops": {"schemaFile": "schemas/missing.schema.json"}})


def test_validation_config_is_read_and_checked(base: dict[str, Any]) -> None:
    config = parse_config(base)
    assert (config.validation.map_threshold_bytes, config.validation.part_bytes) == (256 << 20, 64 << 20)
    assert config.validation.max_concurrency == 8
    without = copy.deepcopy(base)
    del without["validation"]
    with pytest.raises(ConfigError, match=r"mlops\.validation: required key is missing"):
        parse_config(without)  # defaults live in cdk.json only
    for key, value, message in (
        ("partBytes", 0, r"mlops\.validation\.partBytes: 0 is below the minimum 1"),
        ("maxConcurrency", "8", r"mlops\.validation\.maxConcurrency: expected an integer"),
        ("partBytes", 1 << 30, r"mlops\.validation\.partBytes: .* is above mapThresholdBytes"),
        ("extra", 1, r"mlops\.validation: unknown key\(s\) 'extra'"),
    ):
        bad = copy.deepcopy(base)
        bad["validation"][key] = value
        with pytest.raises(ConfigError, match=message):
            parse_config(bad)
