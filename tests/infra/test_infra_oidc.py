"""The bootstrap stack (infra/bootstrap): GitHub OIDC provider and a stage's deploy role.

The role is the only way CI reaches AWS, so its trust and its permissions are asserted exactly:
the audience is ``sts.amazonaws.com``, the subject is the repository's jobs in the stage's GitHub
environment, and the role may assume the three ``cdk bootstrap`` roles of its account and region,
nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from infra_helpers import PROJECT_ROOT, render

from infra.bootstrap.app import build_bootstrap_app
from infra.bootstrap.github_oidc_stack import GithubOidcStack
from infra.config import ConfigError, load_stage

REPOSITORY = "octo-org/octo-repo"
HOST = "token.actions.githubusercontent.com"


def _synth(outdir: Path, **context: Any) -> tuple[cdk.App, GithubOidcStack, dict[str, Any]]:
    app = build_bootstrap_app(context, str(outdir))
    app.synth()
    (stack,) = [child for child in app.node.children if isinstance(child, GithubOidcStack)]
    return app, stack, Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.App, GithubOidcStack, dict[str, Any]]:
    return _synth(tmp_path_factory.mktemp("bootstrap.prod"), stage="prod", githubRepository=REPOSITORY)


def _of_type(template: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def test_the_stack_holds_only_the_provider_and_the_role(prod: tuple[cdk.App, GithubOidcStack, dict[str, Any]]) -> None:
    _, stack, template = prod
    assert stack.stack_name == "mlops-prod-github-deploy"
    assert sorted(r["Type"] for r in template["Resources"].values()) == ["AWS::IAM::OIDCProvider", "AWS::IAM::Role"]
    (provider,) = _of_type(template, "AWS::IAM::OIDCProvider")
    assert provider["Properties"]["Url"] == f"https://{HOST}"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]


def test_the_role_trusts_only_the_stage_environment_of_the_repository(
    prod: tuple[cdk.App, GithubOidcStack, dict[str, Any]],
) -> None:
    _, _, template = prod
    (role,) = _of_type(template, "AWS::IAM::Role")
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    (provider_id,) = [key for key, r in template["Resources"].items() if r["Type"] == "AWS::IAM::OIDCProvider"]
    assert statement["Principal"] == {"Federated": {"Ref": provider_id}}
    # Exact matches only: no StringLike, no wildcard, both claims pinned.
    assert statement["Condition"] == {
        "StringEquals": {
            f"{HOST}:aud": "sts.amazonaws.com",
            f"{HOST}:sub": f"repo:{REPOSITORY}:environment:prod",
        }
    }
    assert role["Properties"]["RoleName"] == load_stage(PROJECT_ROOT / "cdk.json", "prod").deploy_role_name
    assert role["Properties"]["MaxSessionDuration"] == 3600


def test_the_role_may_only_assume_the_cdk_bootstrap_roles(
    prod: tuple[cdk.App, GithubOidcStack, dict[str, Any]],
) -> None:
    _, _, template = prod
    (role,) = _of_type(template, "AWS::IAM::Role")
    properties = role["Properties"]
    assert "ManagedPolicyArns" not in properties
    assert not _of_type(template, "AWS::IAM::Policy") and not _of_type(template, "AWS::IAM::ManagedPolicy")
    (policy,) = properties["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "sts:AssumeRole")
    assert "Condition" not in statement
    resources = [render(resource) for resource in statement["Resource"]]
    assert resources == [
        f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-hnb659fds-{kind}-role-<AWS::AccountId>-<AWS::Region>"
        for kind in ("deploy", "file-publishing", "lookup")
    ]


def test_the_bootstrap_app_is_cdk_nag_clean(prod: tuple[cdk.App, GithubOidcStack, dict[str, Any]]) -> None:
    app, _, _ = prod
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    assert [v for plugin in report["pluginReports"] for v in plugin["violations"]] == []


def test_each_stage_gets_its_own_role_and_subject(tmp_path: Path) -> None:
    _, stack, template = _synth(tmp_path, stage="dev", githubRepository=REPOSITORY)
    assert stack.stack_name == "mlops-dev-github-deploy"
    (role,) = _of_type(template, "AWS::IAM::Role")
    condition = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
    assert condition[f"{HOST}:sub"] == f"repo:{REPOSITORY}:environment:dev"
    assert role["Properties"]["RoleName"] == "mlops-dev-github-deploy"


def test_an_existing_provider_is_referenced_not_created(tmp_path: Path) -> None:
    _, _, template = _synth(tmp_path, stage="prod", githubRepository=REPOSITORY, oidcProvider="existing")
    assert not _of_type(template, "AWS::IAM::OIDCProvider")
    (role,) = _of_type(template, "AWS::IAM::Role")
    federated = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Federated"]
    assert render(federated) == f"arn:<AWS::Partition>:iam::<AWS::AccountId>:oidc-provider/{HOST}"


def test_a_pinned_stage_environment_and_qualifier_are_used(tmp_path: Path) -> None:
    context = {
        "stage": "prod",
        "githubRepository": "octo-org@1234567/octo-repo@89012345",  # the immutable subject form
        "mlops": {"stages": {"prod": {"account": "123456789012", "region": "eu-west-1"}}},
        "@aws-cdk/core:bootstrapQualifier": "custom1",
    }
    app = build_bootstrap_app(context, str(tmp_path))
    app.synth()
    (stack,) = [child for child in app.node.children if isinstance(child, GithubOidcStack)]
    assert (stack.account, stack.region) == ("123456789012", "eu-west-1")
    template = Template.from_stack(stack).to_json()
    (role,) = _of_type(template, "AWS::IAM::Role")
    statement = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Condition"]["StringEquals"][f"{HOST}:sub"] == (
        "repo:octo-org@1234567/octo-repo@89012345:environment:prod"
    )
    resources = [render(r) for r in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"]]
    assert resources == [
        f"arn:aws:iam::123456789012:role/cdk-custom1-{kind}-role-123456789012-eu-west-1"
        for kind in ("deploy", "file-publishing", "lookup")
    ]


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"githubRepository": REPOSITORY}, "context 'stage': required"),
        ({"stage": "qa", "githubRepository": REPOSITORY}, "context 'stage': 'qa' is not a stage"),
        ({"stage": "prod"}, "mlopsBootstrap.githubRepository: required"),
        ({"stage": "prod", "githubRepository": "octo-repo"}, "mlopsBootstrap.githubRepository: 'octo-repo'"),
        ({"stage": "prod", "githubRepository": "octo/*"}, "mlopsBootstrap.githubRepository"),
        ({"stage": "prod", "githubRepository": REPOSITORY, "oidcProvider": "maybe"}, "mlopsBootstrap.oidcProvider"),
        (
            {"stage": "prod", "githubRepository": REPOSITORY, "mlopsBootstrap": {"repo": REPOSITORY}},
            "mlopsBootstrap: unknown key(s) 'repo'",
        ),
        (
            {"stage": "prod", "githubRepository": REPOSITORY, "@aws-cdk/core:bootstrapQualifier": "Not-Valid"},
            "@aws-cdk/core:bootstrapQualifier",
        ),
    ],
)
def test_bad_bootstrap_settings_are_named(context: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as error:
        build_bootstrap_app(context)
    assert named in str(error.value)


def test_the_module_entry_point_is_what_cdk_runs(tmp_path: Path) -> None:
    """``cdk deploy --app "python -m infra.bootstrap"`` runs this; it reports a missing setting by name."""
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path)}
    env.pop("CDK_CONTEXT_JSON", None)
    command = [sys.executable, "-m", "infra.bootstrap"]
    completed = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode != 0
    assert "configuration error: context 'stage': required" in completed.stderr
    env["CDK_CONTEXT_JSON"] = json.dumps({"stage": "dev", "githubRepository": REPOSITORY})
    completed = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    template = json.loads((tmp_path / "GitHubDeploy.template.json").read_text())
    assert {r["Type"] for r in template["Resources"].values()} == {"AWS::IAM::OIDCProvider", "AWS::IAM::Role"}
