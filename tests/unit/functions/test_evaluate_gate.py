"""The quality gate's decision table."""

from __future__ import annotations

import math

import pytest

from functions.evaluate.gate import GatePolicy, decide

POLICY = GatePolicy(primary_metric="roc_auc", thresholds={"roc_auc": 0.9, "pr_auc": 0.4}, min_improvement=0.002)
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


def test_the_champion_comparison_uses_the_primary_metric_and_required_improvement():
    champion = {"roc_auc": 0.96, "pr_auc": 0.9}  # better pr_auc does not matter: roc_auc is primary
    beaten = decide(GOOD, champion, POLICY)
    assert beaten.approved
    assert beaten.reasons[-1] == "pass champion: roc_auc 0.9700 >= champion 0.9600 + required improvement 0.0020"

    demanding = decide(GOOD, champion, GatePolicy("roc_auc", POLICY.thresholds, min_improvement=0.05))
    assert not demanding.approved
    assert demanding.reasons[-1] == (
        "FAIL champion: roc_auc 0.9700 < champion 0.9600 + required improvement 0.0500; the champion keeps serving"
    )


def test_a_worse_challenger_fails():
    decision = decide(GOOD, {"roc_auc": 0.975}, GatePolicy("roc_auc", POLICY.thresholds, min_improvement=0.0))
    assert not decision.approved
    assert decision.reasons[-1].startswith("FAIL champion: roc_auc 0.9700 < champion 0.9750")


def test_a_tie_with_the_champion_is_rejected_so_the_champion_keeps_serving():
    decision = decide(GOOD, dict(GOOD), POLICY)
    assert not decision.approved and decision.approval_status == "Rejected"
    assert decision.reasons[-1].startswith("FAIL champion: roc_auc 0.9700 < champion 0.9700 + required improvement")


def test_a_tie_passes_only_when_no_improvement_is_required():
    assert decide(GOOD, dict(GOOD), GatePolicy("roc_auc", POLICY.thresholds, min_improvement=0.0)).approved


def test_an_improvement_of_exactly_the_minimum_passes():
    # Binary fractions, so champion + min_improvement is exactly the challenger's value.
    policy = GatePolicy("roc_auc", {}, min_improvement=0.125)
    assert 0.75 + 0.125 == 0.875
    assert decide({"roc_auc": 0.875}, {"roc_auc": 0.75}, policy).approved
    assert not decide({"roc_auc": 0.875 - 1e-9}, {"roc_auc": 0.75}, policy).approved


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, "0.97"])
def test_a_champion_without_a_usable_primary_metric_fails_closed(bad):
    champion = {"pr_auc": 0.5} if bad is None else {"roc_auc": bad}
    decision = decide(GOOD, champion, POLICY)
    assert not decision.approved
    assert decision.reasons[-1].startswith("FAIL champion: roc_auc is missing for the champion")


def test_a_challenger_without_the_primary_metric_fails_against_a_champion():
    decision = decide({"pr_auc": 0.62}, {"roc_auc": 0.5}, GatePolicy("roc_auc", {}, min_improvement=0.0))
    assert not decision.approved
    assert decision.reasons[-1].startswith("FAIL champion: roc_auc is missing for the challenger")


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf])
def test_a_negative_or_non_finite_min_improvement_is_refused(bad):
    with pytest.raises(ValueError, match="min_improvement"):
        GatePolicy("roc_auc", {}, min_improvement=bad)


def test_thresholds_and_champion_must_both_pass():
    decision = decide({**GOOD, "roc_auc": 0.85}, {"roc_auc": 0.80}, POLICY)
    assert not decision.approved  # beats the champion but misses the absolute bar
