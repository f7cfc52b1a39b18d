"""The CDK app: three environment-agnostic stacks, checked by cdk-nag at every synthesis.

``cdk.json`` runs this file (``python infra/app.py``) from the project root. Tests and the local
cloud call ``build_app`` to synthesize in-process, optionally with context overrides (the ``mlops``
key is deep-merged, so an override can change a single threshold).

Stacks carry no account or region: synthesis needs no credentials, no network and no Docker.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    # `python infra/app.py` puts infra/ first on sys.path, where infra/constructs would shadow the
    # `constructs` library: import from the project root instead.
    if sys.path and Path(sys.path[0]).resolve() == PROJECT_ROOT / "infra":
        sys.path[0] = str(PROJECT_ROOT)

import json  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.config import CONTEXT_KEY, ConfigError, MlopsConfig, parse_config  # noqa: E402
from infra.naming import DataBucketNames  # noqa: E402
from infra.stacks.data_stack import DataStack  # noqa: E402
from infra.stacks.monitoring_stack import MonitoringStack  # noqa: E402
from infra.stacks.pipeline_stack import PipelineStack  # noqa: E402

__all__ = ["PROJECT_ROOT", "build_app", "cdk_json_context", "deep_merge", "main"]


def cdk_json_context(project_root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The ``context`` block of ``cdk.json`` (the CLI passes it too; in-process callers need it)."""
    document = json.loads((project_root / "cdk.json").read_text(encoding="utf-8"))
    context = document.get("context", {})
    if not isinstance(context, dict):
        raise ConfigError("cdk.json: 'context' must be an object")
    return context


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` applied recursively: nested objects merge, other values replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _config_from(app: cdk.App) -> MlopsConfig:
    value = app.node.try_get_context(CONTEXT_KEY)
    if isinstance(value, str):  # `cdk synth -c mlops='{...}'` passes JSON as a string
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"context {CONTEXT_KEY!r} is not valid JSON: {error}") from error
    if value is None:
        raise ConfigError(f"context key {CONTEXT_KEY!r} is missing (cdk.json)")
    return parse_config(value)


def build_app(
    context_overrides: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    *,
    project_root: Path = PROJECT_ROOT,
) -> cdk.App:
    """Build the app: ``cdk.json`` context, then ``context_overrides`` on top, then stacks and nag.

    The merged context is passed as post-CLI context, so an override also wins over context the
    CDK CLI supplies. ``outdir`` defaults to ``CDK_OUTDIR`` (set by the CLI) or ``cdk.out``.
    ``project_root`` is where ``cdk.json``, ``functions/``, ``pipelines/`` and the schema live.
    Raises ``ConfigError`` for a bad configuration before any stack is built.
    """
    context = cdk_json_context(project_root)
    overrides = dict(context_overrides or {})
    if isinstance(overrides.get(CONTEXT_KEY), Mapping) and isinstance(context.get(CONTEXT_KEY), Mapping):
        overrides[CONTEXT_KEY] = deep_merge(context[CONTEXT_KEY], overrides[CONTEXT_KEY])
    app = cdk.App(context=context, post_cli_context=overrides or None, outdir=outdir)
    config = _config_from(app)
    schema_path = config.schema_path(project_root)
    if not schema_path.is_file():
        raise ConfigError(f"{CONTEXT_KEY}.schemaFile: {schema_path} does not exist")

    buckets = DataBucketNames(config.prefix)
    data = DataStack(app, "Data", config=config)
    pipeline = PipelineStack(app, "Pipeline", config=config, project_root=project_root, buckets=buckets)
    monitoring = MonitoringStack(
        app,
        "Monitoring",
        config=config,
        project_root=project_root,
        buckets=buckets,
        trigger=pipeline.trigger.function,
        topic=pipeline.notifications.topic,
        state_machine=pipeline.state_machine,
    )
    # Buckets are addressed by name, so the order of deployment is declared rather than inferred.
    pipeline.add_stack_dependency(data, "addresses the data buckets by name")
    monitoring.add_stack_dependency(data, "addresses the data buckets by name")
    cdk.Tags.of(app).add("project", config.prefix)
    # Synthesis fails on any AwsSolutions finding that is not acknowledged with a reason.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
