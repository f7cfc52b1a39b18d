"""Retraining policies: what differs between the runs a backtest compares.

A policy is a set of overrides of the `mlops` CDK context plus, for `every`, one action the replay
takes before each window. Everything else — the synthesized stacks, the training code, the gate,
the endpoint — is the same deployed system, so the runs differ only in *when* it retrains:

- `drift`: the project's configuration as it is (`cdk.json` plus `-c`): alarms retrain;
- `never`: alarms and uploads do not retrain; only the first upload trains (there is no champion);
- `every`: alarms do not retrain; before every window the replay asks the real trigger function
  for a manual run on the newest batch, which goes through the same state machine, plan, training
  job and gate as any other run — the baseline of "retrain as often as you can".

`retraining.onAlarm` / `retraining.onUpload` are keys of the learning loop (docs/ARCHITECTURE.md).
A checkout whose configuration does not have them yet cannot switch alarm retraining off through
the context (the config parser rejects unknown keys), so the replay then detaches the targets of
the alarm's retrain rule instead and says so in the result (`emulated`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.local.context import apply_overrides

__all__ = [
    "POLICY_NAMES",
    "Policy",
    "context_for",
    "has_key",
    "policies_for",
]

POLICY_NAMES = ("never", "every", "drift")


@dataclass(frozen=True)
class Policy:
    """One retraining policy: context overrides and replay behaviour."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    retrain_before_each_window: bool = False
    description: str = ""

    @property
    def alarms_retrain(self) -> bool:
        return bool(self.overrides.get("retraining.onAlarm", True))


_POLICIES = {
    "never": Policy(
        "never",
        {"retraining.onAlarm": False, "retraining.onUpload": False},
        description="no retraining after the first model",
    ),
    "every": Policy(
        "every",
        {"retraining.onAlarm": False},
        retrain_before_each_window=True,
        description="a manual retraining before every window",
    ),
    "drift": Policy("drift", {}, description="the configured alarms retrain (cdk.json defaults)"),
}


def policies_for(choice: str) -> tuple[Policy, ...]:
    """The policies of `--policy`: one name, `all` (the three, baselines first) or a comma list."""
    names = POLICY_NAMES if choice == "all" else tuple(part.strip() for part in choice.split(","))
    unknown = [name for name in names if name not in _POLICIES]
    if unknown or not names:
        raise ValueError(f"unknown policy {choice!r}: expected one of {', '.join((*POLICY_NAMES, 'all'))}")
    return tuple(_POLICIES[name] for name in dict.fromkeys(names))


def has_key(config: Mapping[str, Any], dotted: str) -> bool:
    """Whether a dotted key exists in a (nested) configuration mapping."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def context_for(
    policy: Policy, base: Mapping[str, Any], user: Mapping[str, Any], schema_file: str | None = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The policy's `mlops` context, and the policy keys this configuration cannot express.

    The policy's own overrides come first and `-c` overrides after (so `-c` applies to all
    policies, and a user who overrides a policy key means it). A policy key the base
    configuration does not define is left out — the strict config parser would refuse it — and
    returned, so the replay can emulate it and report that it did.
    """
    supported = {k: v for k, v in policy.overrides.items() if has_key(base, k)}
    unsupported = tuple(sorted(k for k in policy.overrides if k not in supported))
    overrides: dict[str, Any] = {**supported, **user}
    if schema_file:
        overrides["schemaFile"] = schema_file
    return apply_overrides(base, overrides), unsupported


def distinct_contexts(contexts: Sequence[Mapping[str, Any]]) -> int:
    """How many different syntheses the contexts need (identical contexts share one assembly)."""
    return len({json.dumps(c, sort_keys=True) for c in contexts})
