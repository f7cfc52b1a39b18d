"""The one place that builds the Powertools logger, metrics and tracer.

Every handler imports these three objects from here so that the service name, the metrics
namespace (``POWERTOOLS_METRICS_NAMESPACE``) and the log level are configured once, from the
environment CDK sets on each function, and never drift apart between handlers.

Tracing is decided once, at import (the Lambda init phase), by Powertools' own rule: it is on in
AWS Lambda (``LAMBDA_TASK_ROOT`` set, the functions run with X-Ray active tracing) unless
``POWERTOOLS_TRACE_DISABLED`` is truthy, and off everywhere else (tests, the local cloud, SAM).
Only an enabled tracer imports the Powertools ``Tracer`` provider and with it the X-Ray SDK, which
also patches botocore so that every AWS call becomes a subsegment. A disabled Powertools ``Tracer``
would still import the SDK, whose recorder, outside Lambda, builds two botocore X-Ray clients for
centralised sampling (about 100 ms of every local import, for nothing); :class:`DisabledTracer`
stands in for it instead, with the same decorators doing nothing. In Lambda the enabled tracer
costs about 35-55 ms of the init phase (benchmarks/lambda_cold_start.py: ``lambda`` against
``no-trace``), within the 0.5 s import budget, so tracing stays on by default there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import strtobool

from functions.shared.errors import ConfigurationError

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

__all__ = ["DisabledTracer", "MetricUnit", "count", "logger", "tracer", "tracing_enabled"]

F = TypeVar("F", bound=Callable[..., Any])


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Powertools' rule (``Tracer._is_tracer_disabled``): in Lambda, unless disabled; never elsewhere."""
    env = os.environ if environ is None else environ
    raw = env.get(constants.TRACER_DISABLED_ENV, "").strip() or "false"
    try:
        disabled = strtobool(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {constants.TRACER_DISABLED_ENV} must be true or false, got {raw!r}"
        ) from None
    if disabled:
        return False
    if env.get(constants.SAM_LOCAL_ENV) or env.get(constants.CHALICE_LOCAL_ENV):
        return False
    return bool(env.get(constants.LAMBDA_TASK_ROOT_ENV))


class DisabledTracer:
    """What a disabled Powertools ``Tracer`` does, without importing the X-Ray SDK: nothing.

    It has the part of the ``Tracer`` interface the handlers use; each decorator returns the
    function it is given, so a handler's behaviour (return value, exceptions) is untouched.
    """

    disabled = True

    @overload
    def capture_lambda_handler(self, lambda_handler: F) -> F: ...

    @overload
    def capture_lambda_handler(
        self, lambda_handler: None = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[F], F]: ...

    def capture_lambda_handler(
        self, lambda_handler: Any = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Any:
        return lambda_handler if lambda_handler is not None else _identity

    @overload
    def capture_method(self, method: F) -> F: ...

    @overload
    def capture_method(
        self, method: None = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[F], F]: ...

    def capture_method(
        self, method: Any = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Any:
        return method if method is not None else _identity

    def put_annotation(self, key: str, value: Any) -> None:
        """Annotations go nowhere while tracing is off."""

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        """Metadata goes nowhere while tracing is off."""


def _identity(function: F) -> F:
    return function


def _build_tracer() -> Tracer | DisabledTracer:
    if not tracing_enabled():
        return DisabledTracer()
    from aws_lambda_powertools import Tracer  # imports the X-Ray SDK on construction

    return Tracer()


# Service and level come from POWERTOOLS_SERVICE_NAME and LOG_LEVEL (the metrics namespace from
# POWERTOOLS_METRICS_NAMESPACE, in count()): reading them here keeps infra the single source of truth.
logger = Logger()
tracer = _build_tracer()


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one counter with exactly the given dimensions, immediately, as its own EMF document.

    Powertools' ``single_metric`` is the tool for a metric whose dimensions differ from the
    invocation's others (``Metrics.add_dimension`` would apply to every metric it flushes). The
    pipeline metrics are documented (docs/ARCHITECTURE.md, Metrics) with only their own dimensions,
    so that alarms and dashboards can name them exactly: the ``service`` dimension Powertools adds
    from ``POWERTOOLS_SERVICE_NAME`` is switched off on this one metric before it is serialised.
    """
    # Resolved per call (not only at import) so a namespace set after import is honoured, and its
    # absence is a deployment error that names the variable rather than an EMF schema failure.
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    if not namespace:
        raise ConfigurationError("environment variable POWERTOOLS_METRICS_NAMESPACE is required but is not set")
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, namespace=namespace, default_dimensions=dict(dimensions)
    ) as metric:
        metric.service = ""  # read when the context closes: no service dimension on this metric
