"""A cached boto3 client factory.

Clients are created on first use (not at import) and cached per service, which keeps a warm Lambda
from rebuilding them on every invocation while letting tests call :func:`reset_clients` so that a
client is rebuilt inside each test's ``mock_aws`` context. The region and endpoint come from the
standard AWS environment (AWS_REGION, AWS_ENDPOINT_URL), which is how the local cloud redirects them.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

__all__ = ["client", "reset_clients"]

# Standard retry mode backs off on throttling; Step Functions' own Retry covers longer outages.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@functools.cache
def client(service: str) -> Any:
    """The shared boto3 client for ``service`` (typed ``Any``: boto3 clients are generated classes)."""
    return boto3.session.Session().client(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget every cached client (tests: so the next call binds to the active moto mock)."""
    client.cache_clear()
