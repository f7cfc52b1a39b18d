"""The import rules of docs/ARCHITECTURE.md "Layout", checked on the source rather than trusted.

``infra/`` builds the cloud and must not pull runtime code into synthesis: of ``functions/`` it may
import only the state contracts (``functions.shared.contracts``), which are standard library only
so that importing them costs infra nothing and gives the Lambda asset no new dependency.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONTRACTS = "functions.shared.contracts"


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute module a file imports (``from x import y`` counts as ``x``), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _violations(folder: str, allowed: set[str], forbidden_roots: set[str]) -> list[str]:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in _imports(path):
            if module.split(".")[0] in forbidden_roots and module not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


def test_infra_imports_no_runtime_code_but_the_contracts():
    assert _violations("infra", {CONTRACTS}, {"functions", "pipelines", "mlops"}) == []


def test_infra_does_use_the_contracts():
    """The exception above exists for the state machine's paths; if nothing uses it, drop it."""
    users = [p for p in (ROOT / "infra").rglob("*.py") if any(m == CONTRACTS for _, m in _imports(p))]
    assert users, "no infra module imports functions.shared.contracts"


def test_the_contracts_are_standard_library_only():
    path = ROOT / "functions" / "shared" / "contracts.py"
    outside = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] not in sys.stdlib_module_names and module != "__future__"
    ]
    assert outside == []


def test_functions_and_pipelines_never_import_infra_or_the_cli():
    assert _violations("functions", set(), {"infra", "mlops"}) == []
    assert _violations("pipelines", set(), {"infra", "mlops", "functions"}) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import functions.validate.logic\n", "functions.validate.logic"),
        ("from pipelines import schema\n", "pipelines"),
    ],
)
def test_the_import_scan_sees_both_import_forms(tmp_path, source, expected):
    """The rules above hold only if the scan finds imports at all."""
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    assert _imports(path) == [(1, expected)]
