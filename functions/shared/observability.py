"""The one place that builds the Powertools logger, metrics and tracer.

Every handler imports these three objects from here so that the service name, the metrics
namespace (``POWERTOOLS_METRICS_NAMESPACE``) and the log level are configured once, from the
environment CDK sets on each function, and never drift apart between handlers.
"""

from __future__ import annotations

import json
import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.base import SingleMetric

from functions.shared.errors import ConfigurationError

__all__ = ["MetricUnit", "count", "logger", "metrics", "tracer"]

# Namespace, service and level come from POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME and
# LOG_LEVEL; reading them here (not hard-coding) keeps infra the single source of truth.
logger = Logger()
metrics = Metrics()
tracer = Tracer()


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one counter with exactly the given dimensions, immediately, as its own EMF document.

    ``metrics.add_dimension`` would apply a dimension to *every* metric flushed by the invocation,
    and Powertools adds a ``service`` dimension by default; the pipeline metrics are documented
    (docs/ARCHITECTURE.md, Metrics) with only their own dimensions so that alarms and dashboards
    can name them exactly, hence a SingleMetric with the service dimension switched off.
    """
    # Resolved per call (not only at import) so a namespace set after import is honoured, and its
    # absence is a deployment error that names the variable rather than an EMF schema failure.
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or metrics.namespace
    if not namespace:
        raise ConfigurationError("environment variable POWERTOOLS_METRICS_NAMESPACE is required but is not set")
    metric = SingleMetric(namespace=namespace, service="")
    metric.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for key, dim in dimensions.items():
        metric.add_dimension(name=key, value=dim)
    print(json.dumps(metric.serialize_metric_set(), separators=(",", ":")))  # EMF: stdout is the transport
