"""The quality gate: absolute thresholds AND no regression against the champion.

Pure logic (no AWS), so every branch is unit-tested. Each check yields one human-readable reason,
passing or failing, because the reasons are what an engineer reads in the registry and the
rejection notification to learn why a model was (not) promoted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GateDecision", "GatePolicy", "decide"]


@dataclass(frozen=True)
class GatePolicy:
    primary_metric: str
    thresholds: Mapping[str, float]
    max_regression: float = 0.0


@dataclass(frozen=True)
class GateDecision:
    approved: bool
    reasons: list[str]

    @property
    def approval_status(self) -> str:
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
        floor = None if theirs is None else theirs - policy.max_regression
        if mine is None or theirs is None or floor is None:
            passed = False
            reasons.append(
                f"FAIL champion: {primary} is missing for the {'challenger' if mine is None else 'champion'}, "
                "so the challenger cannot be shown to be no worse"
            )
        elif mine >= floor:
            reasons.append(
                f"pass champion: {primary} {mine:.4f} >= champion {theirs:.4f} - allowed regression "
                f"{policy.max_regression:.4f}"
            )
        else:
            passed = False
            reasons.append(
                f"FAIL champion: {primary} {mine:.4f} < champion {theirs:.4f} - allowed regression "
                f"{policy.max_regression:.4f}"
            )
    return GateDecision(approved=passed, reasons=reasons)
