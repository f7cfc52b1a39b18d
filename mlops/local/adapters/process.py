"""What the in-process executors share: a temporary process environment and S3 URI parsing.

Lambda handlers and served models run in this process with their own environment, set for the
length of one execution under ``EXECUTION_LOCK`` (``mlops.local.adapters.code_loader``). Code on
other threads must therefore never iterate ``os.environ`` unlocked: a key listed while a handler
is finishing can be gone when it is read (a ``KeyError`` seen under load). ``environment_snapshot``
is the safe way to copy it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from mlops.local.adapters.code_loader import EXECUTION_LOCK


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key), with a clear error for anything else."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def environment_snapshot() -> dict[str, str]:
    """A copy of the process environment taken while no in-process execution has it patched."""
    with EXECUTION_LOCK:
        return dict(os.environ)


@contextmanager
def patched_environ(values: Mapping[str, object]) -> Iterator[None]:
    """Set environment variables for the duration of one in-process execution, then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update({key: str(value) for key, value in values.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
