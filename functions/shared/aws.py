"""A cached boto3 client factory.

Clients are created on first use (not at import) and cached per service, which keeps a warm Lambda
from rebuilding them on every invocation while letting tests call :func:`reset_clients` so that a
client is rebuilt inside each test's ``mock_aws`` context. The region and endpoint come from the
standard AWS environment (AWS_REGION, AWS_ENDPOINT_URL), which is how the local cloud redirects them.

A call that is still throttled (or meets a 5xx, a timeout, a dropped connection) after the client's
own retries surfaces from a handler as :class:`~functions.shared.errors.TransientServiceError`
(:func:`name_transient_errors`): the one error name the state machine's Retry matches for a
function's *own* AWS calls, so an outage longer than the SDK's backoff is retried by Step Functions
with its backoff instead of failing the run as an anonymous ``ClientError``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from functions.shared.errors import TransientServiceError

__all__ = ["TRANSIENT_ERROR_CODES", "client", "is_transient", "name_transient_errors", "reset_clients"]

F = TypeVar("F", bound=Callable[..., Any])

# The codes botocore's standard retry mode treats as throttling or transient, plus 5xx statuses.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
_CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)

# Standard retry mode backs off on throttling; Step Functions' own Retry covers longer outages.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@functools.cache
def client(service: str) -> Any:
    """The shared boto3 client for ``service`` (typed ``Any``: boto3 clients are generated classes)."""
    return boto3.session.Session().client(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget every cached client (tests: so the next call binds to the active moto mock)."""
    client.cache_clear()


def is_transient(error: BaseException) -> bool:
    """Throttling, a 5xx, a timeout or a dropped connection: worth another attempt later."""
    if isinstance(error, _CONNECTION_ERRORS):
        return True
    if not isinstance(error, ClientError):
        return False
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in TRANSIENT_ERROR_CODES or status in _TRANSIENT_STATUSES


def name_transient_errors(handler: F) -> F:
    """Handler decorator: a transient AWS error leaves as ``TransientServiceError``; others unchanged."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except (ClientError, *_CONNECTION_ERRORS) as error:
            if not is_transient(error):
                raise
            raise TransientServiceError(_describe(error)) from error

    return wrapper  # type: ignore[return-value]


def _describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return (
            f"{error.operation_name} failed with {details.get('Code', '?')} (HTTP {status}) after the SDK's "
            f"retries: {details.get('Message', '')}; the task is retried"
        )
    return f"{type(error).__name__} after the SDK's retries: {error}; the task is retried"
