"""Publish the drift verdict as CloudWatch metrics with PutMetricData.

Why PutMetricData and not Powertools' EMF: EMF lines become metrics only when CloudWatch Logs
ingests a Lambda's log stream. PutMetricData works the same in AWS and in the local cloud, whose
alarm evaluator reads the metrics moto stores, so the drift alarm -> EventBridge -> retraining loop
is exercised for real on a laptop. The function's role needs ``cloudwatch:PutMetricData``
(condition ``cloudwatch:namespace`` = the drift namespace).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.shared.aws import client

__all__ = ["drift_metrics", "put_metrics"]

_BATCH = 20  # the long-standing per-call limit; newer accounts allow more, 20 is safe everywhere


def _datum(name: str, value: float, unit: str, when: datetime, **dimensions: str) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Timestamp": when,
        "Value": float(value),
        "Unit": unit,
    }


def drift_metrics(report: dict[str, Any], model: str, when: datetime) -> list[dict[str, Any]]:
    """The metric data of one window (docs/ARCHITECTURE.md, Metrics) from its ``report.json`` document.

    With too few records only ``WindowRecords`` and ``InsufficientData`` = 1 are published: no
    ``DriftDetected`` datapoint at all, so the alarm sees missing data rather than a false "0".
    """
    data = [_datum("WindowRecords", report["records"], "Count", when, Model=model)]
    if report["verdict"] == "insufficient_data":
        data.append(_datum("InsufficientData", 1, "Count", when, Model=model))
        return data
    data.append(_datum("InsufficientData", 0, "Count", when, Model=model))
    data.append(_datum("DriftDetected", 1 if report["driftDetected"] else 0, "None", when, Model=model))
    data.append(_datum("DriftShare", report["driftShare"], "None", when, Model=model))
    if report.get("predictionPsi") is not None:
        data.append(_datum("PredictionPSI", report["predictionPsi"], "None", when, Model=model))
    for feature in report["features"]:
        if feature.get("psi") is not None:
            data.append(_datum("FeaturePSI", feature["psi"], "None", when, Model=model, Feature=feature["name"]))
        if feature.get("ksStatistic") is not None:
            data.append(_datum("FeatureKS", feature["ksStatistic"], "None", when, Model=model, Feature=feature["name"]))
    return data


def put_metrics(namespace: str, data: list[dict[str, Any]]) -> int:
    cloudwatch = client("cloudwatch")
    for i in range(0, len(data), _BATCH):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[i : i + _BATCH])
    return len(data)
