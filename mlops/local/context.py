"""The `mlops` CDK context: cdk.json's, with dotted-key overrides (`-c gate.thresholds.roc_auc=0.99`).

One reader for every command that synthesizes (`mlops synth`, `mlops local up`, the demo, the
backtest): what they deploy is cdk.json plus the overrides the user passed, nothing else. A
command that needs a different value for its own reasons (the demo compresses time) adds it as an
override of its own, visibly, in its own code.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["apply_overrides", "base_context", "mlops_context"]


def base_context(root: Path) -> dict[str, Any]:
    """cdk.json's `mlops` context, untouched."""
    document = json.loads((root / "cdk.json").read_text(encoding="utf-8"))
    return copy.deepcopy(document["context"]["mlops"])


def apply_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `config` with dotted-key overrides applied; a missing parent is created.

    A parent that exists but is not an object (`-c prefix.x=1`) is a ValueError naming the key.
    """
    merged: dict[str, Any] = copy.deepcopy(dict(config))
    for dotted, value in overrides.items():
        node = merged
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"cannot set {dotted!r}: {part!r} is not an object in the configuration")
            node = child
        node[leaf] = value
    return merged


def mlops_context(root: Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """cdk.json's `mlops` context with `overrides` (dotted keys) applied."""
    return apply_overrides(base_context(root), overrides)
