"""Tracing costs an import only where it is on: the X-Ray SDK loads in Lambda with tracing enabled, never else.

Structural, not timed (the timings are benchmarks/lambda_cold_start.py's): each case imports every
handler module in a fresh interpreter and reports whether ``aws_xray_sdk`` reached ``sys.modules``
and which tracer the handlers got.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.shared.errors import ConfigurationError
from functions.shared.observability import DisabledTracer, tracing_enabled

ROOT = Path(__file__).resolve().parents[3]
HANDLERS = sorted(f"functions.{p.parent.name}.handler" for p in (ROOT / "functions").glob("*/handler.py"))
_PROBE = (
    "import importlib, json, sys\n"
    f"for name in {HANDLERS!r}:\n"
    "    importlib.import_module(name)\n"
    "from functions.shared.observability import tracer\n"
    "print(json.dumps({'xray': sorted(m for m in sys.modules if m.split('.')[0] == 'aws_xray_sdk')[:3],"
    " 'tracer': type(tracer).__module__ + '.' + type(tracer).__name__}))\n"
)
_CLEARED = ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE")


def probe(**overrides: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(
        PYTHONPATH=str(ROOT),
        POWERTOOLS_SERVICE_NAME="test",
        POWERTOOLS_METRICS_NAMESPACE="MLOps/Pipeline",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )
    env.update(overrides)
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_every_handler_is_probed() -> None:
    assert len(HANDLERS) >= 8 and "functions.drift.handler" in HANDLERS


def test_outside_lambda_no_handler_imports_the_xray_sdk() -> None:
    result = probe()
    assert result == {"xray": [], "tracer": "functions.shared.observability.DisabledTracer"}


def test_in_lambda_with_tracing_disabled_no_handler_imports_the_xray_sdk(tmp_path: Path) -> None:
    result = probe(LAMBDA_TASK_ROOT=str(tmp_path), POWERTOOLS_TRACE_DISABLED="true")
    assert result == {"xray": [], "tracer": "functions.shared.observability.DisabledTracer"}


def test_in_lambda_tracing_is_on_by_default_with_the_powertools_tracer(tmp_path: Path) -> None:
    result = probe(LAMBDA_TASK_ROOT=str(tmp_path), AWS_LAMBDA_FUNCTION_NAME="test")
    assert result["tracer"] == "aws_lambda_powertools.tracing.tracer.Tracer"
    assert result["xray"], "an enabled tracer records through the X-Ray SDK"


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": ""}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"POWERTOOLS_TRACE_DISABLED": "false"}, False),
    ],
)
def test_tracing_follows_the_powertools_rule(environ: dict[str, str], enabled: bool) -> None:
    assert tracing_enabled(environ) is enabled


def test_a_malformed_switch_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="POWERTOOLS_TRACE_DISABLED"):
        tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "maybe"})


def test_the_disabled_tracer_leaves_functions_as_they_are() -> None:
    tracer = DisabledTracer()

    def handler(event: dict[str, int], context: object) -> int:
        if event.get("fail"):
            raise RuntimeError("boom")
        return event["x"]

    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_method(handler) is handler
    assert tracer.capture_method(capture_error=False)(handler) is handler
    tracer.put_annotation("k", "v")
    tracer.put_metadata("k", {"v": 1})
    with pytest.raises(RuntimeError, match="boom"):
        tracer.capture_lambda_handler(handler)({"fail": 1}, None)
