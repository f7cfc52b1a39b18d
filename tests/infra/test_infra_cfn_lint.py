"""cfn-lint on every synthesized template: no errors; warnings are reported, not failed."""

from __future__ import annotations

import warnings

import pytest
from cfnlint.api import ManualArgs, lint
from infra_helpers import UNITS, Synthesized


class CfnLintWarning(UserWarning):
    """A cfn-lint warning on a synthesized template."""


# Regions the stacks are linted for (the resource types must exist there).
LINT_REGIONS = ["us-east-1", "eu-west-1"]


@pytest.mark.parametrize("unit", UNITS)
def test_template_has_no_cfn_lint_error(synthesized: Synthesized, unit: str) -> None:
    template = synthesized.outdir / f"{unit.capitalize()}.template.json"
    matches = lint(template.read_text(), config=ManualArgs(regions=LINT_REGIONS))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    lint_warnings = [m for m in matches if m.rule.id.startswith("W")]
    for match in lint_warnings:
        # Reported in pytest's warnings summary; they do not fail the build.
        warnings.warn(f"cfn-lint {unit}: {match.rule.id} {match.message}", CfnLintWarning, stacklevel=1)
    assert not errors, "\n".join(f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path))}" for m in errors)
