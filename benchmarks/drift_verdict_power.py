"""How often the alarm verdict fires with a real model's predictions in the window, per shifted feature.

The calibration tests judge windows without predictions (feature drift alone decides). Deployed,
the drift function also has the model's captured predictions, and the verdict alarms only when
they move (`minPredictionPsi`). This script trains the default model on 8,000 random AI4I rows,
builds the baseline as training does, and over `--trials` random 500-row windows from the other
2,000 rows reports, per numeric feature shifted by `--sigmas` standard deviations: how often the
feature is flagged as drifted, how often the verdict alarms (`drift`), and the median prediction PSI.

    python benchmarks/drift_verdict_power.py --trials 200
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from mlops.local.context import base_context
from pipelines import modeling
from pipelines.drift.baseline import build_baseline
from pipelines.drift.verdict import VerdictThresholds, assess_drift
from pipelines.schema import load_schema

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--sigmas", type=float, default=0.5)
    arguments = parser.parse_args()

    schema = load_schema(ROOT / "schemas" / "ai4i2020.schema.json")
    frame = modeling.read_dataset([ROOT / "data" / "ai4i2020.csv"], schema)
    features, labels = modeling.features_and_labels(frame, schema)
    order = np.random.default_rng(0).permutation(len(features))
    train, rest = order[:8000], order[8000:]
    model = modeling.build_pipeline(schema, seed=0).fit(features.iloc[train], labels[train])
    baseline = build_baseline(
        schema,
        modeling.baseline_columns(features.iloc[train], schema),
        predictions=modeling.positive_probabilities(model, features.iloc[rest]),
    )
    config = VerdictThresholds.from_context(base_context(ROOT)["drift"])  # cdk.json, as deployed
    rng = np.random.default_rng(1)
    print(f"{arguments.trials} windows of 500 rows per case, shift {arguments.sigmas:+g} SD; {config}")
    print(f"{'shifted feature':<26} {'feature flagged':>16} {'alarm (drift)':>14} {'median pred. PSI':>17}")
    for column in [None, *schema.numeric_features]:
        flagged = alarmed = 0
        psis = []
        for _ in range(arguments.trials):
            window = features.iloc[rng.choice(rest, size=500, replace=False)].copy()
            if column is not None:
                sd = float(features[column.name].std())
                window[column.name] = window[column.name] + arguments.sigmas * sd
            report = assess_drift(
                baseline,
                modeling.baseline_columns(window, schema),
                modeling.positive_probabilities(model, window),
                config=config,
            )
            flagged += bool(report.drifted_features)
            alarmed += report.drift_detected
            psis.append(report.prediction_psi or 0.0)
        name = "(none)" if column is None else column.name
        print(
            f"{name:<26} {flagged:>10}/{arguments.trials} {alarmed:>8}/{arguments.trials} "
            f"{statistics.median(psis):>17.3f}"
        )


if __name__ == "__main__":
    main()
