"""Every place the local cloud replaces a moto attribute, declared in one table with symmetric undo.

The adapters change moto's behaviour by replacing attributes of its classes and modules (a Lambda
invocation runs the handler in-process, a training job runs the script, ...). Doing that with bare
assignments scattered over the adapters made three things hard: seeing every patch point at once,
undoing them exactly (a classmethod read back with ``getattr`` is a *bound* method, and restoring
that is not what was there), and checking after a moto upgrade that each point still exists.

A :class:`PatchPoint` names one attribute; each adapter lists its own in a module-level
``PATCH_POINTS`` and :func:`patch_points` gathers them all (the canary test,
tests/unit/local/test_moto_internals.py, checks each still exists in the pinned moto, and that no
module under ``mlops/local`` assigns a moto attribute outside this table). An adapter's ``install``
builds a :class:`PatchSet` of ``(point, replacement)`` pairs; ``uninstall`` puts back exactly what
was in the owner's ``__dict__`` (or deletes the attribute if it was inherited, or added).

An adapter that calls what it replaces takes the original with :meth:`PatchPoint.original` at
import, before any install: that is the object in the owner's ``__dict__`` (for a classmethod, the
``classmethod`` itself: call ``original.__func__(cls, ...)``), never a bound method.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = ["PatchPoint", "PatchSet", "adapter_modules", "patch_points"]

_MISSING = object()


@dataclass(frozen=True)
class PatchPoint:
    """One attribute of a moto class or module that an adapter replaces (or adds), and why.

    ``adds``: moto lacks the attribute and the adapter adds it (SageMaker's UpdateEndpoint, say); the
    point is then expected *not* to exist, so a moto upgrade that implements it fails the install
    and the canary test instead of being silently shadowed.
    """

    owner: Any
    name: str
    why: str
    adds: bool = False

    def exists(self) -> bool:
        return inspect.getattr_static(self.owner, self.name, _MISSING) is not _MISSING

    def as_expected(self) -> bool:
        """Whether moto still looks as the adapter expects: a replaced point exists, an added one does not."""
        return self.exists() != self.adds

    def original(self) -> Any:
        """What moto has at this point, unbound (as found in the owner's or a base's ``__dict__``).

        Read it at import, before the point is installed: afterwards it is the replacement."""
        return inspect.getattr_static(self.owner, self.name)

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
        # Every point is checked before any is set, so a moved point leaves nothing half installed.
        for point, _ in self.replacements:
            if not point.as_expected():
                state = "now has" if point.adds else "has no"
                raise AttributeError(f"moto {state} {point}: the adapter must follow moto ({point.why})")
        for point, replacement in self.replacements:
            self._saved.append((point, vars(point.owner).get(point.name, _MISSING)))
            setattr(point.owner, point.name, replacement)

    def uninstall(self) -> None:
        """Put back what each owner's ``__dict__`` held before install, in reverse order."""
        while self._saved:
            point, original = self._saved.pop()
            if original is _MISSING:
                delattr(point.owner, point.name)
            else:
                setattr(point.owner, point.name, original)

    @property
    def installed(self) -> bool:
        return bool(self._saved)


# Every module under ``mlops.local`` that replaces moto attributes; the canary test fails for a
# module that patches moto and is missing here.
ADAPTER_MODULES = (
    "cfn_resources",
    "endpoint_deployments",
    "endpoints",
    "eventbridge",
    "faults",
    "lambda_runtime",
    "model_registry",
    "s3_objects",
    "sfn_aws_sdk",
    "sfn_errors",
    "sfn_retry",
    "sfn_sagemaker",
    "training",
)


def adapter_modules() -> list[ModuleType]:
    """The adapter modules, imported (and moto with them) only when asked for: the local cloud and
    its tests need them all, nothing else does."""
    return [importlib.import_module(f"mlops.local.adapters.{name}") for name in ADAPTER_MODULES]


def patch_points() -> list[PatchPoint]:
    """Every patch point of every adapter."""
    return [point for module in adapter_modules() for point in module.PATCH_POINTS]
