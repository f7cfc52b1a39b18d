"""Import code from a deployed package directory, the way a fresh Lambda or container would.

Each Lambda function and each served model runs in a process of its own in AWS, with module state
of its own (a Powertools logger named after its function, cached clients, caches). Here they share
one interpreter, so the loader keeps one set of modules per *owner* (a function, a model): every
top-level package or module an owner's code directory provides (`functions`, `pipelines`,
`inference`, ...) is the owner's own. Switching owner puts the current owner's modules aside and
brings back the next owner's (a warm start), or lets them import afresh from the owner's code
directory (a cold start). That also keeps the Lambda asset's `pipelines` (the pure modules only)
apart from the SageMaker source directory's (everything). `restore()` puts back what the caller
had imported, so tests that run after the local cloud see their own modules.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path
from types import ModuleType

# One lock for every in-process execution (Lambda handlers, endpoint inference): they share
# `sys.modules`, `sys.path` and `os.environ`, so they run one at a time.
EXECUTION_LOCK = threading.RLock()

_CALLER = "<caller>"


def top_level_names(code_dir: Path) -> frozenset[str]:
    """The importable top-level names a code directory provides."""
    names = set()
    for entry in code_dir.iterdir():
        if entry.is_dir() and (entry / "__init__.py").is_file():
            names.add(entry.name)
        elif entry.suffix == ".py":
            names.add(entry.stem)
    return frozenset(names)


class CodeLoader:
    """Loads `package.module` for an owner from its code directory, one module set per owner."""

    def __init__(self) -> None:
        self._saved_path = list(sys.path)
        self._owner = _CALLER
        self._tops: frozenset[str] = frozenset()
        self._parked: dict[str, dict[str, ModuleType]] = {}

    def load(self, code_dir: Path, dotted_name: str, owner: str | None = None) -> ModuleType:
        code_dir = code_dir.resolve()
        owner = owner or str(code_dir)
        with EXECUTION_LOCK:
            if owner != self._owner:
                self._switch(owner, code_dir)
            module = importlib.import_module(dotted_name)
            if not _loaded_from(module, code_dir):
                raise ImportError(f"{dotted_name} resolved outside its code directory {code_dir}")
            return module

    def restore(self) -> None:
        """Put back the caller's modules and the original `sys.path`; drop every owner's."""
        with EXECUTION_LOCK:
            if self._owner != _CALLER:
                self._park(self._owner, self._tops)
                sys.modules.update(self._parked.get(_CALLER, {}))
            self._parked.clear()
            self._owner, self._tops = _CALLER, frozenset()
            sys.path[:] = self._saved_path

    def _switch(self, owner: str, code_dir: Path) -> None:
        tops = top_level_names(code_dir)
        self._park(self._owner, self._tops | tops)
        sys.modules.update(self._parked.pop(owner, {}))
        sys.path[:] = [str(code_dir), *self._saved_path]
        importlib.invalidate_caches()
        self._owner, self._tops = owner, tops

    def _park(self, owner: str, tops: frozenset[str]) -> None:
        names = [name for name in sys.modules if name.split(".", 1)[0] in tops]
        parked = self._parked.setdefault(owner, {})
        parked.update({name: sys.modules.pop(name) for name in names})


def _loaded_from(module: ModuleType, code_dir: Path) -> bool:
    origin = getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve().is_relative_to(code_dir)
