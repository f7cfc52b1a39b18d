"""Lineage metadata that the SageMaker API accepts."""

from __future__ import annotations

import re

import botocore.session

from functions.register.lineage import MAX_VALUE, build_lineage, metadata_value, pairs

# The constraint exactly as the SageMaker service model states it (Java-style \p classes).
SHAPE = (
    botocore.session.get_session()
    .get_service_model("sagemaker")
    .operation_model("CreateModelPackage")
    .input_shape.members["CustomerMetadataProperties"]
)


def allowed(text: str) -> bool:
    return all(ch.isalnum() or ch in "_.:/=+-@ " for ch in text)


def state(**overrides):
    base = {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:mlops-pipeline:upload-abc",
        "reason": "upload",
        "data": {"bucket": "incoming", "key": "uploads/plant (2), final.csv", "versionId": "v1", "etag": "e1"},
        "validation": {
            "datasetVersion": "20261112T000000Z-0123456789ab",
            "rows": 10000,
            "snapshot": {"prefixUri": "s3://curated/snapshots/ai4i2020/20261112T000000Z-0123456789ab/"},
        },
        "training": {"jobName": "train-upload-abc", "modelArtifacts": "s3://artifacts/training/x/model.tar.gz"},
        "evaluation": {
            "approvalStatus": "Approved",
            "artifactSha256": "a" * 64,
            "modelType": "hist_gradient_boosting",
            "hyperparameters": {"model-type": "hist_gradient_boosting", "seed": 42, "holdout-fraction": 0.2},
            "metrics": {"roc_auc": 0.981234567, "pr_auc": 0.71},
            "championMetrics": None,
        },
    }
    base.update(overrides)
    return base


def test_the_service_model_limits_are_the_ones_enforced():
    assert SHAPE.key.metadata["max"] == 128 and SHAPE.value.metadata["max"] == MAX_VALUE
    assert SHAPE.metadata["max"] == 50


def test_lineage_records_data_code_training_and_evaluation():
    lineage = build_lineage(state(), "git-3f2a1c9")
    assert lineage["codeVersion"] == "git-3f2a1c9"
    assert lineage["datasetVersion"] == "20261112T000000Z-0123456789ab"
    assert lineage["hyperparameters"] == "holdout-fraction=0.2 model-type=hist_gradient_boosting seed=42"
    assert lineage["metrics"] == "pr_auc=0.71 roc_auc=0.981235"
    assert lineage["artifactSha256"] == "a" * 64
    assert lineage["dataKey"] == "uploads/plant _2__ final.csv"  # ( ) , are not allowed by the API
    assert "championMetrics" not in lineage  # empty values are refused by the API: left out
    for key, value in lineage.items():
        assert 1 <= len(key) <= 128 and 1 <= len(value) <= MAX_VALUE
        assert allowed(key) and allowed(value), (key, value)


def test_a_run_started_by_an_alarm_records_the_alarm_from_the_execution_input():
    alarm = {
        "name": "mlops-ai4i-failure-drift",
        "arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlops-ai4i-failure-drift",
        "stateChangeTime": "2026-11-12T17:04:40.989+0000",
    }
    lineage = build_lineage(state(reason="drift", executionInput={"reason": "drift", "alarm": alarm}), "c1")
    assert lineage["alarmName"] == "mlops-ai4i-failure-drift"
    assert lineage["alarmStateChangeTime"] == "2026-11-12T17:04:40.989+0000"
    upload = build_lineage(state(executionInput={"reason": "upload"}), "c1")
    assert "alarmName" not in upload and "alarmStateChangeTime" not in upload


def test_long_values_are_truncated_visibly():
    value = metadata_value("x" * 1000)
    assert len(value) == MAX_VALUE and value.endswith("...")
    assert metadata_value('{"a": [1, 2]}') == "__a_: _1_ 2__"
    assert re.fullmatch(r"[\w.:/=+\-@ ]+", metadata_value("s3://bucket/key with spaces.csv"))


def test_pairs_is_readable_and_sorted():
    assert pairs({"b": 1.0, "a": "x"}) == "a=x b=1"
    assert pairs({}) is None and pairs(None) is None
