"""What the in-process executors share: a per-thread process environment.

Lambda handlers and served models run in this process, each with its own environment variables,
while other threads keep working: Step Functions executions, training jobs, EventBridge delivery
and the caller's own boto3 clients. Changing ``os.environ`` for one handler would change it for
all of them (and a copy taken on another thread could meet a key half removed), so
``patched_environ`` never touches the process environment. It installs, once, a thread-aware view
in place of ``os.environ`` (``_ThreadEnviron``, over the very same variables) and gives the
calling thread an overlay: that thread sees the handler's variables, every other thread sees the
process environment unchanged, and the overlay is dropped when the execution ends. A variable a
handler sets while its overlay is active stays in its overlay. ``os.getenv`` and
``os.environ.copy()`` go through the view; the C-level environment (what a subprocess started
without ``env=`` inherits) is never changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mlops.local.adapters.code_loader import EXECUTION_LOCK

__all__ = ["environment_snapshot", "install_thread_environ", "patched_environ"]

_DELETED = object()  # an overlay entry hiding a process variable


class _ThreadEnviron(os._Environ):
    """``os.environ`` with an optional overlay per thread (see the module docstring).

    It shares the process environment's storage, so a thread without an overlay reads and writes
    exactly what the original ``os.environ`` object (still held by modules that imported it) does.
    """

    def __init__(self, base: Any) -> None:
        super().__init__(base._data, base.encodekey, base.decodekey, base.encodevalue, base.decodevalue)
        self._local = threading.local()

    def overlay(self) -> dict[str, object] | None:
        return getattr(self._local, "overlay", None)

    def set_overlay(self, overlay: dict[str, object] | None) -> None:
        self._local.overlay = overlay

    def __getitem__(self, key: str) -> str:
        overlay = self.overlay()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is _DELETED:
                raise KeyError(key)
            return str(value)
        return str(super().__getitem__(key))

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self.overlay()
        if overlay is None:
            super().__setitem__(key, value)
            return
        for item in (key, value):
            if not isinstance(item, str):
                raise TypeError(f"str expected, not {type(item).__name__}")
        overlay[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self.overlay()
        if overlay is None:
            super().__delitem__(key)
            return
        if key not in self:
            raise KeyError(key)
        overlay[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        overlay = self.overlay()
        keys = list(super().__iter__())
        if overlay is None:
            yield from keys
            return
        present = set(keys)
        for key in keys:
            if overlay.get(key) is not _DELETED:
                yield key
        for key, value in list(overlay.items()):
            if value is not _DELETED and key not in present:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


_INSTALL_LOCK = threading.Lock()


def install_thread_environ() -> _ThreadEnviron:
    """Put the thread-aware view in place of ``os.environ`` (once per process) and return it."""
    with _INSTALL_LOCK:
        current = os.environ
        if not isinstance(current, _ThreadEnviron):
            current = _ThreadEnviron(current)
            os.environ = current  # noqa: B003 - the same variables, seen per thread
        return current


def environment_snapshot() -> dict[str, str]:
    """A copy of the process environment as this thread sees it (no handler's overlay on other threads)."""
    with EXECUTION_LOCK:
        return dict(os.environ)


@contextmanager
def patched_environ(values: Mapping[str, object]) -> Iterator[None]:
    """Give the calling thread these environment variables for one in-process execution.

    Other threads keep seeing the process environment; nested calls stack; the previous view of
    this thread is restored on exit, whatever the execution did to its own variables.
    """
    environ = install_thread_environ()
    previous = environ.overlay()
    layer: dict[str, object] = dict(previous or {})
    layer.update({key: str(value) for key, value in values.items()})
    environ.set_overlay(layer)
    try:
        yield
    finally:
        environ.set_overlay(previous)
