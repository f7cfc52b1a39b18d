"""Import code from a deployed package directory, the way a fresh Lambda or container would.

The Lambda code asset and the SageMaker source directory both ship a top-level `pipelines` package,
but with different contents (the Lambda one holds only the pure modules). In one Python process
they would collide in `sys.modules`. The loader therefore owns the top-level packages a code
directory provides: when a module is requested from a directory whose packages are currently loaded
from somewhere else, those packages are evicted and re-imported from the requested directory.
Everything evicted is put back by `restore()`, so tests that run after the local cloud see the
modules they imported before it.
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


class CodeLoader:
    """Loads `package.module` from a code directory, evicting same-named packages from elsewhere."""

    def __init__(self) -> None:
        self._saved_modules: dict[str, ModuleType] = {}
        self._saved_path = list(sys.path)
        self._active_root: dict[str, Path] = {}

    def load(self, code_dir: Path, dotted_name: str) -> ModuleType:
        code_dir = code_dir.resolve()
        top = dotted_name.split(".", 1)[0]
        with EXECUTION_LOCK:
            if self._active_root.get(top) != code_dir or not self._loaded_from(top, code_dir):
                self._evict(top)
                if str(code_dir) in sys.path:
                    sys.path.remove(str(code_dir))
                sys.path.insert(0, str(code_dir))
                self._active_root[top] = code_dir
            importlib.invalidate_caches()
            module = importlib.import_module(dotted_name)
            if not self._loaded_from(top, code_dir):
                raise ImportError(f"{dotted_name} resolved outside its code directory {code_dir}")
            return module

    def restore(self) -> None:
        """Put back every module evicted since construction and the original `sys.path`."""
        with EXECUTION_LOCK:
            for top in list(self._active_root):
                self._evict(top, save=False)
            sys.modules.update(self._saved_modules)
            sys.path[:] = self._saved_path
            self._active_root.clear()
            self._saved_modules.clear()

    @staticmethod
    def _loaded_from(top: str, code_dir: Path) -> bool:
        module = sys.modules.get(top)
        origin = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), None)
        return origin is not None and Path(origin).resolve().is_relative_to(code_dir)

    def _evict(self, top: str, *, save: bool = True) -> None:
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            module = sys.modules.pop(name)
            if save and name not in self._saved_modules and not self._is_local_copy(module):
                self._saved_modules[name] = module

    def _is_local_copy(self, module: ModuleType) -> bool:
        origin = getattr(module, "__file__", None)
        if origin is None:
            return False
        return any(Path(origin).resolve().is_relative_to(root) for root in self._active_root.values())
