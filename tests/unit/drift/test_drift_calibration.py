"""Calibration of the deployed verdict on the real AI4I data.

The baseline comes from a random 8,000-row training part; windows of 500 rows are drawn at random
from the other 2,000 rows (rows in random order are exchangeable -- in file order the temperatures
drift for real, see data/README.md). Two properties must hold with the deployed thresholds
(``cdk.json`` ``mlops.drift``, the ``thresholds`` fixture):

* no shift: the verdict fires at most once in 200 windows;
* one numeric feature shifted by +0.5 of its training standard deviation: that feature is flagged
  in at least 95 % of 200 windows, for every numeric feature.

The counts are printed (``pytest -s``) so a change of cdk.json's thresholds can be judged by its margin.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.drift.baseline import build_baseline
from pipelines.drift.verdict import assess_drift

TRIALS = 200
WINDOW = 500
SHIFT_SD = 0.5


@pytest.fixture(scope="module")
def split(ai4i):
    order = np.random.default_rng(0).permutation(ai4i.rows)
    train, holdout = order[:8000], order[8000:]
    return build_baseline(ai4i.schema, ai4i.take(train), seed=0), holdout


def _window(ai4i, holdout: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rows = np.random.default_rng(seed).choice(holdout, size=WINDOW, replace=False)
    return ai4i.take(rows)


def test_no_shift_fires_at_most_once_in_200(ai4i, split, thresholds) -> None:
    baseline, holdout = split
    alarms = [assess_drift(baseline, _window(ai4i, holdout, seed), config=thresholds) for seed in range(TRIALS)]
    fired = sum(report.drift_detected for report in alarms)
    print(f"\nno shift: the verdict fired in {fired} of {TRIALS} random {WINDOW}-row windows")
    assert fired <= 1
    assert all(report.verdict in ("drift", "no_drift") for report in alarms)


@pytest.mark.parametrize(
    "feature",
    ["Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]"],
)
def test_half_sd_shift_of_one_feature_is_caught_95_percent(ai4i, split, thresholds, feature: str) -> None:
    baseline, holdout = split
    shift = SHIFT_SD * baseline["numeric"][feature]["std"]
    caught = alarms = 0
    for seed in range(10_000, 10_000 + TRIALS):
        window = _window(ai4i, holdout, seed)
        window[feature] = window[feature] + shift
        report = assess_drift(baseline, window, config=thresholds)
        caught += feature in report.drifted_features
        alarms += report.drift_detected
    rate = caught / TRIALS
    print(f"\n+{SHIFT_SD} SD on {feature}: flagged in {caught}/{TRIALS} ({rate:.1%}); verdict {alarms}/{TRIALS}")
    assert caught >= 0.95 * TRIALS
    assert alarms >= caught
