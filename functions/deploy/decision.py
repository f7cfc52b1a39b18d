"""The deployment decision: pure rules over what serves now and what this run wants to deploy.

It runs inside the per-endpoint deployment lock, on facts read at that moment, so no other
deployment can change them before the state machine acts. The rules, in order:

1. A package that is not ``Approved`` is never deployed (``NotApproved``).
2. No endpoint: create it. A ``Failed`` endpoint: delete it first (``DeleteEndpoint`` is the only
   operation SageMaker allows on it), then decide again. An endpoint SageMaker is changing
   (``Creating``, ``Updating``, ...): wait, then decide again.
3. The endpoint serves this very package: nothing to do (``AlreadyServing``).
4. Unless the run is an explicit rollback, the challenger is compared with the serving package:
   when the serving package was registered after it (a higher version of the group), or was trained
   on every batch the challenger was trained on, the challenger brings nothing newer and the run
   ends ``Superseded``. The gate compared the challenger with the champion of *its* time; a model
   that has since replaced that champion with at least the same data is not undone by an older run.
5. Otherwise update the endpoint (blue/green, rolled back by its alarms if the new model misbehaves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from functions.shared.contracts import DeployAction, DeployOutcome
from functions.shared.endpoint import SERVING_STATUSES

__all__ = [
    "ACTIONS",
    "OUTCOMES",
    "ROLLBACK_REASON",
    "Decision",
    "PackageFacts",
    "decide",
]

ACTIONS = ("create", "update", "delete", "wait", "skip")
OUTCOMES = ("Superseded", "AlreadyServing", "NotApproved")
# The one run reason that deploys an older version on purpose (``mlops rollback``).
ROLLBACK_REASON = "rollback"


@dataclass(frozen=True)
class PackageFacts:
    """What the decision needs to know about one model package version."""

    arn: str
    version: int | None
    approval: str | None
    train_batches: tuple[str, ...] | None  # metrics.json data.trainBatches; None when unknown

    def label(self) -> str:
        return f"v{self.version}" if self.version is not None else self.arn


@dataclass(frozen=True)
class Decision:
    action: DeployAction
    outcome: DeployOutcome | None
    why: str


def _superseded_by(challenger: PackageFacts, serving: PackageFacts) -> str | None:
    """Why ``serving`` makes ``challenger`` pointless to deploy, or ``None`` when it does not."""
    if serving.version is not None and challenger.version is not None and serving.version > challenger.version:
        return f"{serving.label()} serves and was registered after {challenger.label()}"
    if challenger.train_batches and serving.train_batches is not None:
        missing = set(challenger.train_batches) - set(serving.train_batches)
        if not missing:
            return (
                f"{serving.label()} serves and was trained on every batch {challenger.label()} was trained on "
                f"({len(challenger.train_batches)})"
            )
    return None


def decide(
    *,
    reason: str,
    challenger: PackageFacts,
    endpoint_status: str | None,
    serving: PackageFacts | None,
) -> Decision:
    """The action for this deployment (see the module docstring for the rules)."""
    if challenger.approval != "Approved":
        return Decision(
            "skip", "NotApproved", f"{challenger.label()} is {challenger.approval or 'not approved'}, not Approved"
        )
    if endpoint_status is None:
        return Decision("create", None, "the endpoint does not exist")
    if endpoint_status == "Failed":
        return Decision("delete", None, "the endpoint is Failed: it is deleted, then created again")
    if endpoint_status not in SERVING_STATUSES:
        return Decision("wait", None, f"the endpoint is {endpoint_status}: waiting until SageMaker is done")
    if serving is not None and serving.arn == challenger.arn:
        return Decision("skip", "AlreadyServing", f"{challenger.label()} already serves")
    if serving is not None and reason != ROLLBACK_REASON:
        superseded = _superseded_by(challenger, serving)
        if superseded:
            return Decision("skip", "Superseded", superseded)
    previous = serving.label() if serving is not None else "a model outside the registry"
    return Decision("update", None, f"{challenger.label()} replaces {previous}")


def batches(value: object) -> tuple[str, ...] | None:
    """``data.trainBatches`` of a metrics document as a tuple, or ``None`` when absent or malformed."""
    if isinstance(value, Sequence) and not isinstance(value, str) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None
