"""The quality gate: absolute thresholds AND a real improvement over the champion.

Pure logic (no AWS), so every branch is unit-tested. Each check yields one human-readable reason,
passing or failing, because the reasons are what an engineer reads in the registry and the
rejection notification to learn why a model was (not) promoted.

With a champion, the challenger must beat it by at least ``min_improvement`` on the primary metric
(both scored on the same holdout, rows neither was trained on). With ``min_improvement > 0`` a tie
fails: replacing a serving model costs a deployment and risk, so it has to buy something; noise-level
differences would otherwise flip the endpoint back and forth between equivalent models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["GateDecision", "GatePolicy", "decide"]


@dataclass(frozen=True)
class GatePolicy:
    """``min_improvement`` (>= 0): how much the challenger must beat the champion's primary metric by."""

    primary_metric: str
    thresholds: Mapping[str, float]
    min_improvement: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_improvement) and self.min_improvement >= 0.0):
            raise ValueError(f"min_improvement must be a number >= 0, got {self.min_improvement!r}")


@dataclass(frozen=True)
class GateDecision:
    approved: bool
    reasons: list[str]

    @property
    def approval_status(self) -> Literal["Approved", "Rejected"]:
        """The SageMaker ModelApprovalStatus the package is registered with."""
        return "Approved" if self.approved else "Rejected"


def _number(metrics: Mapping[str, Any] | None, name: str) -> float | None:
    """A finite metric value, or None when missing or not a finite number (NaN never passes)."""
    if not metrics:
        return None
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def decide(challenger: Mapping[str, Any], champion: Mapping[str, Any] | None, policy: GatePolicy) -> GateDecision:
    """Apply the gate; a missing or non-finite metric fails its check (the gate fails closed)."""
    reasons: list[str] = []
    passed = True
    for name, threshold in policy.thresholds.items():
        value = _number(challenger, name)
        if value is None:
            passed = False
            reasons.append(f"FAIL threshold: {name} is missing or not a finite number in the challenger's metrics")
        elif value >= threshold:
            reasons.append(f"pass threshold: {name} {value:.4f} >= {threshold:.4f}")
        else:
            passed = False
            reasons.append(f"FAIL threshold: {name} {value:.4f} < {threshold:.4f}")

    primary = policy.primary_metric
    if champion is None:
        reasons.append("pass champion: no champion to compare with; the thresholds alone decide")
    else:
        mine, theirs = _number(challenger, primary), _number(champion, primary)
        if mine is None or theirs is None:
            passed = False
            reasons.append(
                f"FAIL champion: {primary} is missing for the {'challenger' if mine is None else 'champion'}, "
                "so the challenger cannot be shown to be better; the champion keeps serving"
            )
        elif mine >= theirs + policy.min_improvement:
            reasons.append(
                f"pass champion: {primary} {mine:.4f} >= champion {theirs:.4f} + required improvement "
                f"{policy.min_improvement:.4f}"
            )
        else:
            passed = False
            reasons.append(
                f"FAIL champion: {primary} {mine:.4f} < champion {theirs:.4f} + required improvement "
                f"{policy.min_improvement:.4f}; the champion keeps serving"
            )
    return GateDecision(approved=passed, reasons=reasons)
