"""What the end-to-end tests share: one synthesized cloud assembly per session (synthesis, with
cdk-nag, costs half a minute), and the corpus table in the terminal summary when the corpus ran."""

from __future__ import annotations

import pytest

from mlops.demo.runner import DemoOptions, merged_context
from mlops.local.assembly import project_root, synthesize

_TABLES = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def default_assembly(tmp_path_factory):
    root = project_root()
    outdir = tmp_path_factory.mktemp("assembly")
    return synthesize(outdir, context={"mlops": merged_context(root, DemoOptions())}, root=root)


@pytest.fixture(scope="session")
def corpus_tables(request) -> list[str]:
    """Tables appended here are printed in the terminal summary."""
    return request.config.stash.setdefault(_TABLES, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for table in config.stash.get(_TABLES, []):
        terminalreporter.section("bad-input corpus: case, expected, observed")
        terminalreporter.write_line(table)
