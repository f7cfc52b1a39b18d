"""The CDK app: three stacks, checked by cdk-nag at every synthesis.

``cdk.json`` runs this file (``python infra/app.py``) from the project root. Tests and the local
cloud call ``build_app`` to synthesize in-process, optionally with context overrides (the ``mlops``
key is deep-merged, so an override can change a single threshold).

Without ``-c stage=NAME`` the stacks are ``<prefix>-data``, ``-pipeline`` and ``-monitoring`` and
carry no account or region: what the local cloud, the demo and the tests deploy. With it, the
stage's overrides (``mlops.stages.NAME``) are applied, its prefix names the stacks and its account
and region, when set, become their environment. Either way synthesis needs no credentials, no
network and no Docker, and a bad setting fails before any stack is built, naming the key.
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

from infra.compliance import acknowledge  # noqa: E402
from infra.config import (  # noqa: E402
    CONTEXT_KEY,
    STAGE_CONTEXT_KEY,
    STAGES_KEY,
    ConfigError,
    MlopsConfig,
    StageConfig,
    deep_merge,
    parse_config,
    select_stage,
)
from infra.constructs.framework_image import resolve_image_table  # noqa: E402
from infra.constructs.lambda_functions import LAYER_TABLE_FILE, layer_table  # noqa: E402
from infra.naming import DataBucketNames  # noqa: E402
from infra.stacks.data_stack import DataStack  # noqa: E402
from infra.stacks.monitoring_stack import MonitoringStack  # noqa: E402
from infra.stacks.pipeline_stack import PipelineStack  # noqa: E402

__all__ = [
    "PROJECT_ROOT",
    "build_app",
    "cdk_json_context",
    "deep_merge",
    "main",
    "merge_overrides",
    "mlops_context_value",
]


def cdk_json_context(project_root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The ``context`` block of ``cdk.json`` (the CLI passes it too; in-process callers need it)."""
    document = json.loads((project_root / "cdk.json").read_text(encoding="utf-8"))
    context = document.get("context", {})
    if not isinstance(context, dict):
        raise ConfigError("cdk.json: 'context' must be an object")
    return context


def merge_overrides(context: Mapping[str, Any], context_overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """``context_overrides`` with its ``mlops`` key deep-merged into the ``mlops`` of ``context``."""
    overrides = dict(context_overrides or {})
    if isinstance(overrides.get(CONTEXT_KEY), Mapping) and isinstance(context.get(CONTEXT_KEY), Mapping):
        overrides[CONTEXT_KEY] = deep_merge(context[CONTEXT_KEY], overrides[CONTEXT_KEY])
    return overrides


def mlops_context_value(app: cdk.App) -> Any:
    """The app's ``mlops`` context value (a JSON string from ``-c mlops=...`` is parsed)."""
    value = app.node.try_get_context(CONTEXT_KEY)
    if isinstance(value, str):  # `cdk synth -c mlops='{...}'` passes JSON as a string
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"context {CONTEXT_KEY!r} is not valid JSON: {error}") from error
    if value is None:
        raise ConfigError(f"context key {CONTEXT_KEY!r} is missing (cdk.json)")
    return value


def _config_from(app: cdk.App) -> tuple[MlopsConfig, StageConfig | None]:
    """The configuration to synthesize and, with ``-c stage=NAME``, the stage it belongs to."""
    value = mlops_context_value(app)
    config = parse_config(value)
    name = app.node.try_get_context(STAGE_CONTEXT_KEY)
    if name is None:
        return config, None
    stage = select_stage(value, name)
    _check_stage_region(stage)
    return stage.config, stage


def _check_stage_region(stage: StageConfig) -> None:
    """A pinned region must have the managed layers and the framework image, or deploys would fail."""
    if stage.region is None:
        return
    where = f"{CONTEXT_KEY}.{STAGES_KEY}.{stage.name}.region"
    config = stage.config
    if stage.region not in layer_table(config.lambda_).regions:
        raise ConfigError(
            f"{where}: {stage.region!r} lacks the Powertools or AWS SDK for pandas layer "
            f"(infra/data/{LAYER_TABLE_FILE.name} lists the regions that have both)"
        )
    images = resolve_image_table(
        config.training.framework_version, config.training.instance_type, config.serving.instance_type
    )
    if stage.region not in images:
        raise ConfigError(
            f"{where}: {stage.region!r} has no SageMaker scikit-learn image "
            f"{config.training.framework_version!r} (mlops.training.frameworkVersion)"
        )


def _environment(stage: StageConfig | None) -> cdk.Environment | None:
    if stage is None or (stage.account is None and stage.region is None):
        return None
    return cdk.Environment(account=stage.account, region=stage.region)


_PSEUDO_PLACEHOLDERS = ("<AWS::Partition>", "<AWS::Region>", "<AWS::AccountId>")


def _acknowledge_in_environment(app: cdk.App) -> None:
    """Repeat each acknowledgement in the rendering cdk-nag uses for a stack with a known environment.

    Acknowledgements name the wildcard ARNs they accept as cdk-nag renders them in an
    environment-agnostic stack (``arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:...``).
    In a stage with an account and region, ARNs built from the stack's own environment render with
    literal values instead, so the same acknowledgement, on the same construct and with the same
    reason, is added in that rendering too: nothing new is accepted.
    """
    for stack in (child for child in app.node.children if isinstance(child, cdk.Stack)):
        literals = {
            placeholder: value
            for placeholder, value in zip(
                _PSEUDO_PLACEHOLDERS, (stack.partition, stack.region, stack.account), strict=True
            )
            if not cdk.Token.is_unresolved(value)
        }
        if not literals:
            continue
        for construct in stack.node.find_all():
            for entry in list(construct.node.metadata):
                if entry.type != cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                    continue
                for rule, reason in dict(entry.data).items():
                    rendered = rule
                    for placeholder, literal in literals.items():
                        rendered = rendered.replace(placeholder, literal)
                    if rendered != rule:
                        # Metadata keys carry the plugin's name ("AwsSolutions::<rule>").
                        acknowledge(construct, rendered.split("::", 1)[-1], reason)


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
    overrides = merge_overrides(context, context_overrides)
    app = cdk.App(context=context, post_cli_context=overrides or None, outdir=outdir)
    config, stage = _config_from(app)
    schema_path = config.schema_path(project_root)
    if not schema_path.is_file():
        raise ConfigError(f"{CONTEXT_KEY}.schemaFile: {schema_path} does not exist")

    env = _environment(stage)
    buckets = DataBucketNames(config.prefix)
    data = DataStack(app, "Data", config=config, env=env)
    pipeline = PipelineStack(
        app,
        "Pipeline",
        config=config,
        project_root=project_root,
        buckets=buckets,
        # Without a stage, the app is the local cloud's and every gate pass deploys.
        approval=stage.approval if stage is not None else "auto",
        stage_name=stage.name if stage is not None else "",
        env=env,
    )
    monitoring = MonitoringStack(
        app,
        "Monitoring",
        config=config,
        project_root=project_root,
        buckets=buckets,
        trigger=pipeline.trigger.function,
        topic=pipeline.notifications.topic,
        state_machine=pipeline.state_machine,
        env=env,
    )
    # Buckets are addressed by name, so the order of deployment is declared rather than inferred.
    pipeline.add_stack_dependency(data, "addresses the data buckets by name")
    monitoring.add_stack_dependency(data, "addresses the data buckets by name")
    cdk.Tags.of(app).add("project", config.prefix)
    if stage is not None:
        cdk.Tags.of(app).add("stage", stage.name)
    if env is not None:
        _acknowledge_in_environment(app)
    # Synthesis fails on any AwsSolutions finding that is not acknowledged with a reason.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> None:
    try:
        app = build_app()
    except ConfigError as error:
        # One line naming the setting, not a traceback: this is what `cdk synth` shows.
        raise SystemExit(f"configuration error: {error}") from None
    app.synth()


if __name__ == "__main__":
    main()
