"""checkov on the synthesized templates: every check passes, or is skipped on its resource with a reason.

checkov runs as a subprocess, from its own environment (``.tools/checkov``, see ``TOOL_ENVIRONMENT``),
over the templates of the session's synthesis, and offline: ``--skip-download`` and ``BC_SKIP_MAPPING`` stop its Prisma
Cloud downloads, no API key reaches it, the SCA package scan is off, and every HTTP(S) request it
might still make (its import asks PyPI for a newer version) goes to a local port that refuses it.

A check that does not apply is skipped in code, on the narrowest resource, with
``infra.compliance.skip_checkov`` (CloudFormation metadata that checkov reads); this test fails on
any failed check, and on any skip without a reason.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from infra_helpers import UNITS, Synthesized, render

from infra.compliance import ON_FAILURE_DESTINATION_REASON, SYNCHRONOUS_INVOCATION_REASON, skip_checkov

# checkov lives in its own environment (requirements/checkov.txt): its releases pin boto3 exactly,
# below what sagemaker-core needs, so it cannot share the project's. `.ci/run` and the README create it.
TOOL_ENVIRONMENT = Path(__file__).resolve().parents[2] / ".tools" / "checkov"


def _checkov_python() -> Path:
    python = Path(os.environ.get("MLOPS_CHECKOV_PYTHON") or TOOL_ENVIRONMENT / "bin" / "python")
    if not python.is_file():
        pytest.fail(
            f"checkov's environment is missing ({python}); create it with: python -m venv .tools/checkov && "
            ".tools/checkov/bin/python -m pip install -r requirements/checkov.txt"
        )
    return python


# Variables through which checkov would reach Prisma Cloud or read options: never passed on.
_CHECKOV_OWN_VARIABLES = re.compile(r"^(BC_|PRISMA_|CKV_|CHECKOV_)", re.IGNORECASE)
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(scope="module")
def refused_port() -> Iterator[int]:
    """A local port that is bound but never listens: a connection to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _run_checkov(templates: list[Path], workdir: Path, refused_port: int) -> dict[str, Any]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not _CHECKOV_OWN_VARIABLES.match(key) and key.upper() not in _PROXY_VARIABLES
    }
    dead_end = f"http://127.0.0.1:{refused_port}"
    env.update(
        {
            "BC_SKIP_MAPPING": "TRUE",
            "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
            "HTTP_PROXY": dead_end,
            "HTTPS_PROXY": dead_end,
            "http_proxy": dead_end,
            "https_proxy": dead_end,
            "LOG_LEVEL": "WARNING",
            # Its update check caches a pickle in the temporary directory: keep it in ours.
            "TMPDIR": str(workdir),
        }
    )
    command = [str(_checkov_python()), "-m", "checkov.main", "--framework", "cloudformation", "-o", "json"]
    command += ["--compact", "--skip-download"]
    for template in templates:
        command += ["--file", str(template)]
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON report (exit {result.returncode}):\n{result.stderr}\n{result.stdout}")
    problems = [line for line in result.stderr.splitlines() if re.search(r"\[(WARNI|ERROR)|Traceback", line)]
    assert not problems, "checkov reported problems (a download attempt, a crash):\n" + result.stderr
    # One framework: one report object (checkov prints a list only for several).
    assert isinstance(report, dict) and report["check_type"] == "cloudformation", report
    return report


@pytest.fixture(scope="module")
def report(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory, refused_port: int) -> dict[str, Any]:
    templates = [synthesized.outdir / f"{unit.capitalize()}.template.json" for unit in UNITS]
    return _run_checkov(templates, tmp_path_factory.mktemp("checkov"), refused_port)


def _where(check: dict[str, Any]) -> str:
    return f"{Path(check['file_path']).name}: {check['resource']}"


def test_checkov_scanned_every_template(report: dict[str, Any]) -> None:
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, report["results"]["parsing_errors"]
    scanned = {
        Path(c["file_path"]).name for kind in ("passed_checks", "skipped_checks") for c in report["results"][kind]
    }
    assert scanned == {f"{unit.capitalize()}.template.json" for unit in UNITS}
    assert summary["resource_count"] > 50 and summary["passed"] > 100, summary


def test_no_checkov_check_fails(report: dict[str, Any]) -> None:
    failed = report["results"]["failed_checks"]
    assert not failed, (
        "checkov checks failed; fix each, or skip it on its construct with "
        "infra.compliance.skip_checkov(construct, check_id, reason):\n"
        + "\n".join(f"  {c['check_id']} {c['check_name']} -- {_where(c)}" for c in failed)
    )


def test_every_skip_carries_its_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the templates skip checks on purpose (see infra.compliance.skip_checkov)"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason.strip()) > 20, f"{check['check_id']} is skipped without a reason on {_where(check)}"


def test_dead_letter_skips_say_how_each_function_is_invoked(synthesized: Synthesized) -> None:
    """CKV_AWS_116 (no DeadLetterConfig) is skipped for one of two reasons, and each must be true.

    Asynchronously invoked functions have an on-failure destination; the synchronously invoked ones
    are invoked by nothing asynchronous: no resource-based permission lets EventBridge, S3 or SNS
    call them, and they have no asynchronous-invocation configuration.
    """
    configs = {
        render(resource["Properties"]["FunctionName"]).strip("<>")
        for _, _, resource in synthesized.all_resources()
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig"
        and resource["Properties"].get("DestinationConfig", {}).get("OnFailure")
    }
    permitted = " ".join(
        json.dumps(resource["Properties"]["FunctionName"])
        for _, _, resource in synthesized.all_resources()
        if resource["Type"] == "AWS::Lambda::Permission"
    )
    reasons = {}
    for unit in ("pipeline", "monitoring"):
        for logical_id, function in synthesized.resources(unit, "AWS::Lambda::Function").items():
            skips = {s["id"]: s["comment"] for s in function.get("Metadata", {}).get("checkov", {}).get("skip", [])}
            reasons[logical_id] = skips.get("CKV_AWS_116")
            if reasons[logical_id] == ON_FAILURE_DESTINATION_REASON:
                assert logical_id in configs, f"{logical_id} claims an on-failure destination it does not have"
            elif reasons[logical_id] == SYNCHRONOUS_INVOCATION_REASON:
                assert logical_id not in configs and logical_id not in permitted, (
                    f"{logical_id} is skipped as synchronously invoked, but it is wired for asynchronous calls"
                )
            else:
                assert "DeadLetterConfig" in function["Properties"], f"{logical_id}: no dead-letter queue, no reason"
    assert list(reasons.values()).count(ON_FAILURE_DESTINATION_REASON) == 3  # trigger, drift, groundtruth


# --- the harness itself -----------------------------------------------------------------------


def test_checkov_catches_a_finding_and_honours_a_skip(tmp_path: Path, refused_port: int) -> None:
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Throwaway")
    s3.Bucket(stack, "Careless")  # no access logging: CKV_AWS_18
    excused = s3.Bucket(stack, "Excused")
    skip_checkov(excused, "CKV_AWS_18", "A throwaway bucket of a test, skipped on purpose.")
    template = tmp_path / "Throwaway.template.json"
    template.write_text(json.dumps(Template.from_stack(stack).to_json()))
    report = _run_checkov([template], tmp_path, refused_port)
    failed = [c["resource"] for c in report["results"]["failed_checks"] if c["check_id"] == "CKV_AWS_18"]
    skipped = [c for c in report["results"]["skipped_checks"] if c["check_id"] == "CKV_AWS_18"]
    assert [resource.startswith("AWS::S3::Bucket.Careless") for resource in failed] == [True]
    assert len(skipped) == 1 and skipped[0]["resource"].startswith("AWS::S3::Bucket.Excused")
    assert skipped[0]["check_result"]["suppress_comment"] == "A throwaway bucket of a test, skipped on purpose."


def test_skip_checkov_lands_on_the_resource_and_wants_a_reason() -> None:
    stack = cdk.Stack(cdk.App(), "Skips")
    queue = sqs.Queue(stack, "Queue")
    skip_checkov(queue, "CKV_AWS_27", "first reason of a test")
    skip_checkov(queue, "CKV2_AWS_99", "second reason of a test")
    skip_checkov(queue, "CKV_AWS_27", "first reason of a test")  # the same skip again: no change
    (resource,) = Template.from_stack(stack).to_json()["Resources"].values()
    assert resource["Metadata"]["checkov"] == {
        "skip": [
            {"id": "CKV_AWS_27", "comment": "first reason of a test"},
            {"id": "CKV2_AWS_99", "comment": "second reason of a test"},
        ]
    }
    with pytest.raises(ValueError, match="another reason"):
        skip_checkov(queue, "CKV_AWS_27", "a different reason")
    for check_id, reason in (("AwsSolutions-S1", "a reason"), ("CKV_AWS_27", " "), ("CKV_AWS_27", "two\nlines")):
        with pytest.raises(ValueError):
            skip_checkov(queue, check_id, reason)
    with pytest.raises(TypeError, match="no CloudFormation resource"):
        skip_checkov(stack, "CKV_AWS_27", "a stack is not a resource")
