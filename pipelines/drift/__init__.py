"""Drift monitoring for the serving model: baseline, statistics, verdict and report.

Runs inside the drift Lambda, so every module here imports only the standard library and numpy.
``baseline`` summarises the training data, ``stats`` holds the tests (checked against scipy in the
unit tests), ``verdict`` turns them into a decision and ``report`` renders it for people.
"""

from pipelines.drift.baseline import build_baseline
from pipelines.drift.verdict import DriftReport, FeatureDrift, VerdictThresholds, assess_drift

__all__ = ["DriftReport", "FeatureDrift", "VerdictThresholds", "assess_drift", "build_baseline"]
