"""cdk-nag (AwsSolutions) runs at every synthesis: findings fail it, acknowledgements carry reasons."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from infra_helpers import Synthesized

from infra.compliance import acknowledge


def _throwaway_app(outdir: Path) -> tuple[cdk.App, s3.Bucket]:
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Throwaway")
    # No access logs, no TLS-only policy: AwsSolutions-S1 and AwsSolutions-S10.
    bucket = s3.Bucket(stack, "Careless", encryption=s3.BucketEncryption.S3_MANAGED)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, bucket


def _violations(outdir: Path) -> set[str]:
    report = json.loads((outdir / "validation-report.json").read_text())
    return {v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]}


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    app, _ = _throwaway_app(tmp_path)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= _violations(tmp_path)


def test_acknowledged_findings_let_synthesis_pass(tmp_path: Path) -> None:
    app, bucket = _throwaway_app(tmp_path)
    acknowledge(bucket, "AwsSolutions-S1", "Throwaway bucket of a test.")
    acknowledge(bucket, "AwsSolutions-S10", "Throwaway bucket of a test.")
    app.synth()
    assert _violations(tmp_path) == set()


def test_an_acknowledgement_needs_a_one_line_reason(tmp_path: Path) -> None:
    _, bucket = _throwaway_app(tmp_path)
    for reason in ("", "   ", "two\nlines"):
        with pytest.raises(ValueError, match="one-line reason"):
            acknowledge(bucket, "AwsSolutions-S1", reason)


def test_the_app_synthesizes_with_no_finding(synthesized: Synthesized) -> None:
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin["violations"]]
    assert violations == []


def test_acknowledgements_are_narrow_and_justified(synthesized: Synthesized) -> None:
    acknowledged = []
    for construct in synthesized.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            # Never a blanket acknowledgement on an app or a whole stack.
            assert not isinstance(construct, cdk.Stack | cdk.App), construct.node.path
            for rule, reason in entry.data.items():
                assert reason.strip() and "\n" not in reason, (construct.node.path, rule)
                acknowledged.append(rule.split("::", 1)[-1])
    assert acknowledged
    # Only wildcard findings the layout forces (IAM5) and self-referential ones are acknowledged.
    rules = {rule.split("[", 1)[0] for rule in acknowledged}
    assert rules <= {"AwsSolutions-IAM5", "AwsSolutions-S1", "AwsSolutions-SQS3"}
