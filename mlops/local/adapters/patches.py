"""Every place the local cloud replaces a moto attribute, declared in one table with symmetric undo.

The adapters change moto's behaviour by replacing attributes of its classes and modules (a Lambda
invocation runs the handler in-process, a training job runs the script, ...). Doing that with bare
assignments scattered over the adapters made three things hard: seeing every patch point at once,
undoing them exactly (a classmethod read back with ``getattr`` is a *bound* method, and restoring
that is not what was there), and checking after a moto upgrade that each point still exists.

A :class:`PatchPoint` names one attribute; :data:`PATCH_POINTS` lists them all (the canary test,
tests/unit/local/test_moto_internals.py, checks each still exists in the pinned moto). An adapter's
``install`` builds a :class:`PatchSet` of ``(point, replacement)`` pairs; ``uninstall`` puts back
exactly what was in the owner's ``__dict__`` (or deletes the attribute if it was inherited).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PatchPoint", "PatchSet", "patch_points"]

_MISSING = object()


@dataclass(frozen=True)
class PatchPoint:
    """One attribute of a moto class or module that an adapter replaces, and why."""

    owner: Any
    name: str
    why: str

    def exists(self) -> bool:
        return inspect.getattr_static(self.owner, self.name, _MISSING) is not _MISSING

    def __str__(self) -> str:
        return f"{getattr(self.owner, '__qualname__', getattr(self.owner, '__name__', self.owner))}.{self.name}"


@dataclass
class PatchSet:
    """Replacements for some patch points, installed and uninstalled together, in order and reverse."""

    replacements: list[tuple[PatchPoint, Any]]
    _saved: list[tuple[PatchPoint, Any]] = field(default_factory=list)

    def install(self) -> None:
        """Install the replacements; installing an installed set again is a no-op."""
        if self._saved:
            return
        for point, replacement in self.replacements:
            if not point.exists():
                raise AttributeError(f"moto has no {point} any more: the adapter must follow moto ({point.why})")
            self._saved.append((point, vars(point.owner).get(point.name, _MISSING)))
            setattr(point.owner, point.name, replacement)

    def uninstall(self) -> None:
        while self._saved:
            point, original = self._saved.pop()
            if original is _MISSING:
                delattr(point.owner, point.name)
            else:
                setattr(point.owner, point.name, original)

    @property
    def installed(self) -> bool:
        return bool(self._saved)


def patch_points() -> list[PatchPoint]:
    """Every patch point of every adapter (imports the adapters, hence moto)."""
    # Imported here: the adapters import moto, and only the canary test needs them all.
    from mlops.local.adapters import (
        cfn_resources,
        eventbridge,
        lambda_runtime,
        sfn_sagemaker,
        training,
    )

    modules: Iterable[Any] = (cfn_resources, eventbridge, lambda_runtime, sfn_sagemaker, training)
    return [point for module in modules for point in module.PATCH_POINTS]
