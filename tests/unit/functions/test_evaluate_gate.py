"""The quality gate's decision table."""

from __future__ import annotations

import math

import pytest

from functions.evaluate.gate import GatePolicy, decide

POLICY = GatePolicy(primary_metric="roc_auc", thresholds={"roc_auc": 0.9, "pr_auc": 0.4}, max_regression=0.0)
GOOD = {"roc_auc": 0.97, "pr_auc": 0.62, "f1": 0.55}


def test_meeting_every_threshold_without_a_champion_is_approved_with_a_reason_per_check():
    decision = decide(GOOD, None, POLICY)
    assert decision.approved and decision.approval_status == "Approved"
    assert decision.reasons == [
        "pass threshold: roc_auc 0.9700 >= 0.9000",
        "pass threshold: pr_auc 0.6200 >= 0.4000",
        "pass champion: no champion to compare with; the thresholds alone decide",
    ]


def test_one_missed_threshold_rejects_and_says_which():
    decision = decide({**GOOD, "pr_auc": 0.35}, None, POLICY)
    assert not decision.approved and decision.approval_status == "Rejected"
    assert "FAIL threshold: pr_auc 0.3500 < 0.4000" in decision.reasons
    assert "pass threshold: roc_auc 0.9700 >= 0.9000" in decision.reasons


def test_a_threshold_is_inclusive():
    assert decide({"roc_auc": 0.9, "pr_auc": 0.4}, None, POLICY).approved


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, "0.99", True])
def test_missing_or_non_finite_metrics_fail_closed(bad):
    challenger = {**GOOD, "pr_auc": bad}
    if bad is None:
        del challenger["pr_auc"]
    decision = decide(challenger, None, POLICY)
    assert not decision.approved
    assert any(r.startswith("FAIL threshold: pr_auc is missing") for r in decision.reasons)


def test_the_champion_comparison_uses_the_primary_metric_and_allowed_regression():
    champion = {"roc_auc": 0.975, "pr_auc": 0.9}  # better pr_auc does not matter: roc_auc is primary
    strict = decide(GOOD, champion, POLICY)
    assert not strict.approved
    assert strict.reasons[-1] == "FAIL champion: roc_auc 0.9700 < champion 0.9750 - allowed regression 0.0000"

    lenient = decide(GOOD, champion, GatePolicy("roc_auc", POLICY.thresholds, max_regression=0.01))
    assert lenient.approved
    assert lenient.reasons[-1].startswith("pass champion: roc_auc 0.9700 >= champion 0.9750")


def test_a_tie_with_the_champion_passes():
    assert decide(GOOD, dict(GOOD), POLICY).approved


def test_a_champion_without_the_primary_metric_cannot_be_beaten_safely():
    decision = decide(GOOD, {"pr_auc": 0.5}, POLICY)
    assert not decision.approved
    assert decision.reasons[-1].startswith("FAIL champion: roc_auc is missing for the champion")


def test_thresholds_and_champion_must_both_pass():
    decision = decide({**GOOD, "roc_auc": 0.85}, {"roc_auc": 0.80}, POLICY)
    assert not decision.approved  # beats the champion but misses the absolute bar
