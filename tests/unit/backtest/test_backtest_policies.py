"""Policies are context overrides plus replay behaviour; keys a configuration lacks are reported."""

import pytest

from mlops.backtest.policies import POLICY_NAMES, context_for, has_key, policies_for

BASE = {"retraining": {"cooldownMinutes": 60, "onAlarm": True, "onUpload": True}, "drift": {"settleSeconds": 120}}


def test_all_is_the_three_policies_baselines_first():
    assert [p.name for p in policies_for("all")] == list(POLICY_NAMES) == ["never", "every", "drift"]
    assert [p.name for p in policies_for("every")] == ["every"]
    assert [p.name for p in policies_for("never,every")] == ["never", "every"]
    with pytest.raises(ValueError, match="unknown policy"):
        policies_for("sometimes")


def test_never_and_every_switch_alarm_retraining_off_and_only_every_retrains_per_window():
    never, every, drift = policies_for("all")
    assert not never.alarms_retrain and not every.alarms_retrain and drift.alarms_retrain
    assert every.retrain_before_each_window and not never.retrain_before_each_window
    context, unsupported = context_for(never, BASE, {})
    assert context["retraining"] == {"cooldownMinutes": 60, "onAlarm": False, "onUpload": False}
    assert unsupported == ()
    context, _ = context_for(drift, BASE, {})
    assert context == BASE


def test_user_overrides_apply_to_every_policy_after_the_policy_and_keep_the_settle_lag():
    never = policies_for("never")[0]
    context, _ = context_for(never, BASE, {"gate.thresholds.roc_auc": 0.8}, schema_file="s.json")
    assert context["gate"]["thresholds"]["roc_auc"] == 0.8
    assert context["schemaFile"] == "s.json"
    assert context["drift"]["settleSeconds"] == 120  # no compression of time, unlike the demo


def test_a_policy_key_the_configuration_lacks_is_left_out_and_reported():
    never = policies_for("never")[0]
    context, unsupported = context_for(never, {"retraining": {"cooldownMinutes": 60}}, {})
    assert unsupported == ("retraining.onAlarm", "retraining.onUpload")
    assert context["retraining"] == {"cooldownMinutes": 60}
    assert has_key(BASE, "retraining.onAlarm") and not has_key(BASE, "retraining.nothing")
