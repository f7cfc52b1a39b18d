"""Stages: which context a stage synthesizes with, where it deploys, and which role deploys it.

A stage is an entry of ``mlops.stages`` in ``cdk.json`` (``account``, ``region``, ``approval``,
``overrides``), selected with ``-c stage=NAME`` exactly as ``cdk deploy`` would be. ``infra.config``
owns that format (``select_stage``): this module only asks it, so preflight and the cost model
judge the very configuration and names the app would deploy, and the OIDC deploy role is the one
``infra/bootstrap`` creates for the stage (``StageConfig.deploy_role_name``).

Without a stage, the default is ``cdk.json``'s ``mlops`` context as it stands: the stage-less
stacks a laptop deploys with its own credentials, which no OIDC role belongs to.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.config import STAGE_CONTEXT_KEY, STAGES_KEY, ConfigError, select_stage
from mlops.local.assembly import CloudAssembly, read_assembly, synthesize

__all__ = ["Stage", "StageError", "load_stage", "stage_assembly"]


class StageError(ValueError):
    """The stage does not exist, or cdk.json cannot be read; the message says which stages do."""


@dataclass(frozen=True)
class Stage:
    """One stage as preflight and the cost model need it."""

    name: str | None  # None: the default stage (cdk.json's mlops context as it stands)
    mlops: Mapping[str, Any]  # the effective mlops context (the stage's overrides applied)
    synth_context: Mapping[str, Any] = field(default_factory=dict)
    region: str | None = None  # None: the region of the credentials in use
    account: str | None = None  # None: the account of the credentials in use
    deploy_role_name: str | None = None  # None: no OIDC role belongs to it

    @property
    def label(self) -> str:
        return self.name or "default"

    @property
    def upload_prefix(self) -> str:
        return str(self.mlops.get("uploadPrefix", "uploads/"))

    @property
    def labels_prefix(self) -> str:
        return str(self.mlops.get("groundTruth", {}).get("prefix", "ground-truth/"))


def load_stage(root: Path, name: str | None = None) -> Stage:
    """The stage ``name`` of ``root``'s ``cdk.json`` (``None``: the default)."""
    try:
        context = json.loads((root / "cdk.json").read_text(encoding="utf-8")).get("context", {})
    except (OSError, json.JSONDecodeError) as error:
        raise StageError(f"cannot read {root / 'cdk.json'}: {error}") from error
    value = context.get("mlops") or {}
    if name is None:
        return Stage(name=None, mlops={key: item for key, item in value.items() if key != STAGES_KEY})
    try:
        stage = select_stage(value, name)
    except ConfigError as error:
        raise StageError(str(error)) from error
    return Stage(
        name=stage.name,
        mlops=dict(stage.values),
        synth_context={STAGE_CONTEXT_KEY: stage.name},
        region=stage.region,
        account=stage.account,
        deploy_role_name=stage.deploy_role_name,
    )


@contextmanager
def stage_assembly(stage: Stage, root: Path, assembly_dir: Path | None = None) -> Iterator[CloudAssembly]:
    """The stage's cloud assembly: ``assembly_dir`` if given (an existing ``cdk.out``), else a fresh
    synthesis into a temporary directory that is removed afterwards."""
    if assembly_dir is not None:
        yield read_assembly(assembly_dir)
        return
    with tempfile.TemporaryDirectory(prefix="mlops-deploy-") as directory:
        yield synthesize(Path(directory), context=dict(stage.synth_context), root=root)
