"""The hash-pinned lock (requirements/lock.txt) and the pins people edit (requirements/constraints.txt) agree.

Every install (.ci/run, the README, the workflows) runs ``pip install --require-hashes -r
requirements/lock.txt``; the constraints file is where a version is changed, and the lock is
regenerated from it with pip-compile (the command is in the lock's header). These tests catch a
pin changed in one file and not the other, a package without a hash, and a dependency declared in
pyproject.toml that the lock would not install.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    """PEP 503 normalisation: `Flask`, `flask` and `boolean.py`/`boolean-py` name one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _lock_entries(path: Path) -> dict[str, list[str]]:
    """Each locked package and its hashes (an entry runs over its backslash-continued lines)."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            current = _canonical(match.group(1))
            entries[current] = []
        elif current and "--hash=sha256:" in line:
            entries[current].append(line.split("--hash=sha256:")[1].split()[0])
        elif not line.startswith(" "):
            current = None
    return entries


def test_lock_pins_exactly_the_constraints() -> None:
    lock = _pins(ROOT / "requirements" / "lock.txt")
    constraints = _pins(ROOT / "requirements" / "constraints.txt")
    assert lock == constraints, {
        "only in the lock": sorted(set(lock) - set(constraints)),
        "only in the constraints": sorted(set(constraints) - set(lock)),
        "different versions": sorted(n for n in set(lock) & set(constraints) if lock[n] != constraints[n]),
    }


def test_every_locked_package_carries_a_sha256() -> None:
    entries = _lock_entries(ROOT / "requirements" / "lock.txt")
    assert len(entries) > 50
    missing = [name for name, hashes in entries.items() if not hashes]
    assert not missing, f"locked without a hash: {missing}"
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for hashes in entries.values() for h in hashes)


def test_every_declared_dependency_is_locked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        declared += [r for r in requirements if not r.startswith(project["name"])]
        assert requirements, extra
    lock = _pins(ROOT / "requirements" / "lock.txt")
    names = {_canonical(m.group(1)) for r in declared if (m := _NAME.match(r))}
    assert names and not names - set(lock), f"declared but not locked: {sorted(names - set(lock))}"


def test_the_lock_names_no_index_and_no_machine_path() -> None:
    text = (ROOT / "requirements" / "lock.txt").read_text()
    assert not re.search(r"^--(extra-)?index-url|^--find-links|file://|/opt/|/tmp/", text, re.MULTILINE)
