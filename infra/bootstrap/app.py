"""The bootstrap CDK app: one ``GithubOidcStack`` for the stage ``-c stage=NAME`` names.

Its stage, account and region come from ``mlops.stages`` exactly as for the main app, so the role
lands where that stage deploys. cdk-nag checks it like every other stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.app import PROJECT_ROOT, cdk_json_context, merge_overrides, mlops_context_value
from infra.bootstrap.config import BOOTSTRAP_CONTEXT_KEY, QUALIFIER_CONTEXT_KEY, parse_bootstrap
from infra.bootstrap.github_oidc_stack import GithubOidcStack
from infra.config import STAGE_CONTEXT_KEY, STAGES_KEY, ConfigError, select_stage

__all__ = ["build_bootstrap_app", "main"]


def build_bootstrap_app(
    context_overrides: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    *,
    project_root: Path = PROJECT_ROOT,
) -> cdk.App:
    """Build the bootstrap app from ``cdk.json`` context plus ``context_overrides``, as ``build_app`` does."""
    context = cdk_json_context(project_root)
    app = cdk.App(context=context, post_cli_context=merge_overrides(context, context_overrides) or None, outdir=outdir)
    name = app.node.try_get_context(STAGE_CONTEXT_KEY)
    if name is None:
        raise ConfigError(
            f"context {STAGE_CONTEXT_KEY!r}: required (-c stage=NAME): a deploy role trusts the GitHub "
            f"environment of one stage of mlops.{STAGES_KEY}"
        )
    stage = select_stage(mlops_context_value(app), name)
    settings = parse_bootstrap(
        app.node.try_get_context(BOOTSTRAP_CONTEXT_KEY),
        {
            "githubRepository": app.node.try_get_context("githubRepository"),
            "oidcProvider": app.node.try_get_context("oidcProvider"),
        },
        app.node.try_get_context(QUALIFIER_CONTEXT_KEY),
    )
    env = (
        cdk.Environment(account=stage.account, region=stage.region)
        if stage.account is not None or stage.region is not None
        else None
    )
    GithubOidcStack(app, "GitHubDeploy", stage=stage, settings=settings, env=env)
    cdk.Tags.of(app).add("project", stage.config.prefix)
    cdk.Tags.of(app).add("stage", stage.name)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> None:
    try:
        app = build_bootstrap_app()
    except ConfigError as error:
        raise SystemExit(f"configuration error: {error}") from None
    app.synth()
