"""Typed readers for the environment variables CDK sets on each function.

Configuration is read at call time, not import time, so tests (and the local cloud) can set the
environment after importing a handler; a missing or malformed variable raises ConfigurationError
naming it, because a KeyError deep inside a handler says nothing about the deployment defect.
"""

from __future__ import annotations

import functools
import json
import math
import os
from typing import TYPE_CHECKING, Any

from functions.shared.errors import ConfigurationError

if TYPE_CHECKING:
    from pipelines.schema import DatasetSchema

__all__ = ["code_path", "code_schema", "env_float", "env_int", "env_json", "env_str"]

_MISSING = object()


def env_str(name: str, default: str | object = _MISSING) -> str:
    """A non-empty string variable; without a default, absence is a ConfigurationError."""
    value = os.environ.get(name, "")
    if value.strip():
        return value
    if default is _MISSING:
        raise ConfigurationError(f"environment variable {name} is required but is not set")
    return str(default)


def env_int(name: str, default: int | object = _MISSING, minimum: int | None = None) -> int:
    raw = env_str(name, default if default is _MISSING else str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"environment variable {name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float | object = _MISSING, minimum: float | None = None) -> float:
    raw = env_str(name, default if default is _MISSING else repr(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigurationError(f"environment variable {name} must be finite, got {raw!r}")
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"environment variable {name} must be >= {minimum}, got {value}")
    return value


def env_json(name: str) -> Any:
    raw = env_str(name)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"environment variable {name} is not valid JSON: {exc}") from None


def code_path(relative_or_absolute: str) -> str:
    """Resolve a path shipped with the code (e.g. SCHEMA_PATH=schema.json) against the code root.

    In Lambda the code root is LAMBDA_TASK_ROOT, not necessarily the working directory; locally
    (tests, the local cloud) a relative path is taken from the working directory.
    """
    if os.path.isabs(relative_or_absolute):
        return relative_or_absolute
    root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    return os.path.join(root, relative_or_absolute)


@functools.lru_cache(maxsize=4)
def code_schema(path: str) -> DatasetSchema:
    """The dataset schema at ``path``, parsed once per warm container: it ships with the code, so it
    cannot change under a running function. Imported here, not with this module: most handlers
    read their settings and never a schema, and this module is on every cold start."""
    from pipelines.schema import load_schema

    return load_schema(path)
