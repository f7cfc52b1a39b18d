"""What the end-to-end tests share: synthesized cloud assemblies, one per context per session, and
the corpus table in the terminal summary when the corpus ran.

Synthesis (the CDK app with cdk-nag, in a child process) costs half a minute of one core, so every
context this session's tests deploy is synthesized side by side, all started when the first is
needed (`_syntheses`); a test that needs one waits only for that one.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from mlops.demo.runner import DemoOptions, merged_context
from mlops.local.assembly import CloudAssembly, project_root, synthesize

_TABLES = pytest.StashKey[list[str]]()

# The tests of concurrency, deployment, validation and faults assert what the system did with each
# upload, never how good or how calibrated a model is: the quality gate and the deployment decision
# judge ROC AUC and PR AUC, which no decision threshold changes. Their training jobs therefore take
# a fixed threshold (`pipelines/train.py --threshold 0.5`) instead of choosing one by best F1 on
# 3-fold out-of-fold predictions: one model fit per job instead of four, the same model, the same
# gate metrics, the same end states. How the threshold is chosen is tested where learning is
# (default_assembly: tests/e2e/test_lifecycle_local.py; the prod stage: test_governance_local.py)
# and in tests/unit/pipelines and tests/integration/test_train_*.py.
FIXED_THRESHOLD = {"training.hyperparameters.threshold": "0.5"}

# tests/e2e/test_distributed_validation_ranges_local.py: every upload over 4 KB takes the
# Distributed Map, validated in 4 KB byte ranges.
MAP_THRESHOLD = {"validation.mapThresholdBytes": 4096, "validation.partBytes": 4096, "validation.maxConcurrency": 2}

# The session fixture that yields each assembly: (overrides of the demo's `mlops` context, stage).
_CONTEXTS: dict[str, tuple[dict[str, Any], str | None]] = {
    "default_assembly": ({}, None),
    "fixed_threshold_assembly": (FIXED_THRESHOLD, None),
    "map_threshold_assembly": (MAP_THRESHOLD, None),
    "prod_assembly": ({}, "prod"),
}


def _synthesize(name: str, tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    overrides, stage = _CONTEXTS[name]
    root = project_root()
    context: dict[str, Any] = {"mlops": merged_context(root, DemoOptions(context=dict(overrides)))}
    if stage:
        context["stage"] = stage
    return synthesize(tmp_path_factory.mktemp(name), context=context, root=root)


@pytest.fixture(scope="session")
def _syntheses(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future]]:
    """The assemblies the collected tests use, synthesized in parallel child processes (each its
    own output directory), in the order the tests first need them."""
    needed: list[str] = []
    for item in request.session.items:
        for name in getattr(item, "fixturenames", ()):
            if name in _CONTEXTS and name not in needed:
                needed.append(name)
    with ThreadPoolExecutor(max_workers=max(1, len(needed)), thread_name_prefix="synth") as pool:
        yield {name: pool.submit(_synthesize, name, tmp_path_factory) for name in needed}


def _assembly(name: str, syntheses: dict[str, Future], tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    future = syntheses.get(name)
    return future.result() if future is not None else _synthesize(name, tmp_path_factory)


@pytest.fixture(scope="session")
def default_assembly(_syntheses, tmp_path_factory) -> CloudAssembly:
    """The demo's context (mlops.demo.runner.merged_context), dev stage."""
    return _assembly("default_assembly", _syntheses, tmp_path_factory)


@pytest.fixture(scope="session")
def fixed_threshold_assembly(_syntheses, tmp_path_factory) -> CloudAssembly:
    """The demo's context with a fixed decision threshold (see FIXED_THRESHOLD)."""
    return _assembly("fixed_threshold_assembly", _syntheses, tmp_path_factory)


@pytest.fixture(scope="session")
def map_threshold_assembly(_syntheses, tmp_path_factory) -> CloudAssembly:
    """The demo's context with uploads over 4 KB validated over byte ranges (see MAP_THRESHOLD)."""
    return _assembly("map_threshold_assembly", _syntheses, tmp_path_factory)


@pytest.fixture(scope="session")
def prod_assembly(_syntheses, tmp_path_factory) -> CloudAssembly:
    """The demo's context, prod stage (`-c stage=prod`: manual approval, canary deployments)."""
    return _assembly("prod_assembly", _syntheses, tmp_path_factory)


@pytest.fixture(scope="session")
def corpus_tables(request) -> list[str]:
    """Tables appended here are printed in the terminal summary."""
    return request.config.stash.setdefault(_TABLES, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for table in config.stash.get(_TABLES, []):
        terminalreporter.section("bad-input corpus: case, expected, observed")
        terminalreporter.write_line(table)
