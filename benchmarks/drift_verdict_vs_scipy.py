"""What the drift verdict flags, per column, next to scipy's tests and a plain p < 0.05 rule.

Part 1 -- the benchmark data as it comes: AI4I in file order, where the temperatures drift for real
and the model does not mind (data/README.md, docs/ARCHITECTURE.md). As the verdict's docstring
measures it: the default model is fitted on a random 4,000 of the first 5,000 rows, the baseline is
built from those rows (predictions from the other 1,000), and the rest of the file is judged in
consecutive 500-row windows. Per column it prints, over those windows, our statistic (KS D, or the
chi-square statistic for ``Type``), p-value and PSI (medians) and how many windows our verdict flags,
then scipy's p-values -- ``scipy.stats.ks_2samp`` on the same baseline sample and on all 4,000
training rows, ``scipy.stats.chi2_contingency`` on the training and window counts -- and how many
windows a plain ``p < 0.05`` test would flag. The last columns apply Evidently's documented default
rule for a reference of more than 1,000 rows (normed Wasserstein distance >= 0.1 for numeric
columns, Jensen-Shannon distance >= 0.1 for categorical ones), computed here with scipy: Evidently
itself is not installed. Then, per window, the verdict, the prediction PSI and the window's ROC-AUC.

Part 2 -- where the effect-size floors (``minKs``, ``minPsi``) decide: rows in random order (no
drift), a baseline of 2,000 random rows (the size of the KS sample a real baseline keeps), windows
of 500 and 5,000 of the other 8,000 rows with one numeric column shifted by a share of its training
standard deviation.
For each shift it prints the median KS D and PSI and the share of windows flagged by our verdict, by
the same test without the floors (``p < alpha / m``), by a plain KS ``p < 0.05`` and by the
Evidently rule. It also prints the smallest KS D the test alone finds significant at each size.

    python benchmarks/drift_verdict_vs_scipy.py [--trials 50] [--window 500]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import roc_auc_score

from mlops.local.context import base_context
from pipelines import modeling
from pipelines.drift.baseline import build_baseline
from pipelines.drift.stats import kolmogorov_sf
from pipelines.drift.verdict import DriftReport, FeatureDrift, VerdictThresholds, assess_drift
from pipelines.schema import load_schema

ROOT = Path(__file__).resolve().parents[1]


def deployed_thresholds() -> VerdictThresholds:
    """The verdict's thresholds as deployed: cdk.json's ``mlops.drift`` (the code has no defaults)."""
    return VerdictThresholds.from_context(base_context(ROOT)["drift"])


PLAIN_ALPHA = 0.05
EVIDENTLY_THRESHOLD = 0.1  # its default for both distances when the reference has > 1,000 rows
SHIFTS_SD = (0.0, 0.1, 0.2, 0.3, 0.5)
BASELINE_ROWS = 2000  # the KS sample size of a real baseline, and 8,000 rows left to draw windows from
WINDOW_SIZES = (500, 5000)


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's numeric default for large references: Wasserstein distance / reference std."""
    return float(sps.wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001))


def js_distance(reference: Sequence[str], current: Sequence[str]) -> float:
    """Evidently's categorical default for large references: Jensen-Shannon distance of the shares."""
    keys = sorted(set(reference) | set(current))
    ref = np.array([list(reference).count(k) for k in keys], dtype=np.float64)
    cur = np.array([list(current).count(k) for k in keys], dtype=np.float64)
    return float(jensenshannon(ref / ref.sum(), cur / cur.sum()))


def smallest_significant_d(n1: int, n2: int, level: float) -> float:
    """The smallest KS statistic whose asymptotic p-value (as ours computes it) is below ``level``."""
    effective = max(1, round(n1 * n2 / (n1 + n2)))
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (low, middle) if kolmogorov_sf(middle, effective) < level else (middle, high)
    return high


def _number(value: float | None) -> float:
    """A statistic of a judged feature (only unjudged features have ``None``)."""
    if value is None:
        raise ValueError("a judged feature lacks a statistic")
    return value


def _fmt_p(p: float) -> str:
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def file_order(arguments: argparse.Namespace) -> None:
    schema = load_schema(ROOT / "schemas" / "ai4i2020.schema.json")
    frame = modeling.read_dataset([ROOT / "data" / "ai4i2020.csv"], schema)
    features, labels = modeling.features_and_labels(frame, schema)
    first = np.random.default_rng(0).permutation(5000)
    train, holdout = first[:4000], first[4000:]
    model = modeling.build_pipeline(schema, seed=0).fit(features.iloc[train], labels[train])
    training = modeling.baseline_columns(features.iloc[train], schema)
    holdout_scores = modeling.positive_probabilities(model, features.iloc[holdout])
    baseline = build_baseline(schema, training, predictions=holdout_scores.tolist())
    holdout_auc = float(roc_auc_score(labels[holdout], holdout_scores))
    config = deployed_thresholds()
    size = arguments.window
    starts = list(range(5000, len(features) - size + 1, size))
    reports: list[DriftReport] = []
    aucs: list[float] = []
    windows: list[Mapping[str, list[Any]]] = []
    for start in starts:
        rows = np.arange(start, start + size)
        window = features.iloc[rows]
        probabilities = modeling.positive_probabilities(model, window)
        columns = modeling.baseline_columns(window, schema)
        windows.append(columns)
        reports.append(assess_drift(baseline, columns, probabilities.tolist(), config=config))
        aucs.append(float(roc_auc_score(labels[rows], probabilities)))

    m = len(reports[0].features)
    last = starts[-1] + size - 1
    print(f"Part 1: AI4I in file order, {len(starts)} windows of {size} rows (rows {starts[0]:,}-{last:,})")
    print(f"baseline: 4,000 random rows of the first 5,000; {config}")
    print(
        f"our feature test: p < alpha/m = {config.alpha}/{m} = {config.alpha / m:.2g} "
        f"and (PSI >= {config.min_psi} or KS >= {config.min_ks})"
    )
    print(
        f"{'column':<24} {'our stat':>9} {'our p':>8} {'PSI':>6} {'ours':>5} "
        f"{'scipy p (sample)':>16} {'scipy p (all)':>13} {'p<0.05':>7} {'p<a/m':>6} {'Evid.':>6} {'Evid.':>5}"
    )
    for index, name in enumerate(f.name for f in reports[0].features):
        judged: list[FeatureDrift] = [r.features[index] for r in reports]
        scipy_sample, scipy_all, evidently = [], [], []
        for columns in windows:
            current = columns[name]
            if judged[0].kind == "numeric":
                sample = np.asarray(baseline["numeric"][name]["sample"])
                scipy_sample.append(float(sps.ks_2samp(sample, current).pvalue))
                scipy_all.append(float(sps.ks_2samp(training[name], current).pvalue))
                evidently.append(normed_wasserstein(np.asarray(training[name]), np.asarray(current)))
            else:
                categories = sorted(set(training[name]) | set(current))
                table = [[list(values).count(c) for c in categories] for values in (training[name], current)]
                p = float(sps.chi2_contingency(table).pvalue)
                scipy_sample.append(p)  # no sample for a categorical column: the counts themselves
                scipy_all.append(p)
                evidently.append(js_distance(training[name], current))
        statistic = statistics.median(
            _number(f.ks_statistic if f.kind == "numeric" else f.chi2_statistic) for f in judged
        )
        ours_p = _fmt_p(statistics.median(_number(f.pvalue) for f in judged))
        windows_n = len(judged)
        print(
            f"{name:<24} {statistic:>9.3f} {ours_p:>8} {statistics.median(_number(f.psi) for f in judged):>6.2f} "
            f"{sum(f.drifted for f in judged):>2}/{windows_n:<2} "
            f"{_fmt_p(statistics.median(scipy_sample)):>16} {_fmt_p(statistics.median(scipy_all)):>13} "
            f"{sum(p < PLAIN_ALPHA for p in scipy_all):>4}/{windows_n:<2} "
            f"{sum(p < config.alpha / m for p in scipy_all):>3}/{windows_n:<2} "
            f"{statistics.median(evidently):>6.2f} {sum(v >= EVIDENTLY_THRESHOLD for v in evidently):>2}/{windows_n:<2}"
        )
    print("(our stat: KS D, or chi-square for Type; medians over the windows; counts: windows flagged;")
    print(" scipy p (all): against all 4,000 training rows; p<0.05 and p<a/m: scipy p (all) below that level;")
    print(" Evid.: Evidently's default rule for a reference of > 1,000 rows, computed with scipy)")
    print(f"{'window':>13} {'verdict':>9} {'pred. PSI':>10} {'ROC-AUC':>8}  drifted features")
    for start, report, auc in zip(starts, reports, aucs, strict=True):
        print(
            f"{start:>6,}-{start + size - 1:<6,} {report.verdict:>9} {report.prediction_psi or 0.0:>10.3f} "
            f"{auc:>8.3f}  {', '.join(report.drifted_features) or '-'}"
        )
    verdicts = [r.verdict for r in reports]
    print(
        f"verdicts: {verdicts.count('drift')} drift (alarm), {verdicts.count('absorbed')} absorbed, "
        f"{verdicts.count('no_drift')} no_drift; window ROC-AUC {min(aucs):.3f}-{max(aucs):.3f} "
        f"(on the baseline's own 1,000 holdout rows: {holdout_auc:.3f})"
    )


def floors(arguments: argparse.Namespace) -> None:
    schema = load_schema(ROOT / "schemas" / "ai4i2020.schema.json")
    frame = modeling.read_dataset([ROOT / "data" / "ai4i2020.csv"], schema)
    features, _labels = modeling.features_and_labels(frame, schema)
    columns = modeling.baseline_columns(features, schema)
    order = np.random.default_rng(0).permutation(len(features))
    train, pool = order[:BASELINE_ROWS], order[BASELINE_ROWS:]
    baseline = build_baseline(schema, {k: [v[i] for i in train] for k, v in columns.items()}, seed=0)
    config = deployed_thresholds()
    m = len(baseline["numeric"]) + len(baseline["categorical"])
    sample_size = len(next(iter(baseline["numeric"].values()))["sample"])
    print()
    print(
        f"Part 2: rows in random order, one numeric column shifted by a share of its training SD; "
        f"{arguments.trials} windows per case"
    )
    print(
        f"baseline: {BASELINE_ROWS:,} random rows (KS sample {sample_size:,}); windows drawn without "
        f"replacement from the other {len(pool):,} rows"
    )
    for size in (*WINDOW_SIZES, 100_000):
        print(
            f"  {size:>7,}-row windows: KS alone is significant from D = "
            f"{smallest_significant_d(sample_size, size, config.alpha / m):.3f} (p < alpha/m), "
            f"{smallest_significant_d(sample_size, size, PLAIN_ALPHA):.3f} (p < 0.05); min KS is {config.min_ks}"
        )
    print(
        f"{'column':<24} {'shift':>6} {'rows':>6} {'KS D':>6} {'PSI':>6} {'ours':>5} {'no floors':>9} "
        f"{'p<0.05':>6} {'Evid.':>5}"
    )
    rng = np.random.default_rng(1)
    for name in baseline["numeric"]:
        values = np.asarray(columns[name], dtype=np.float64)
        sd = float(baseline["numeric"][name]["std"])
        sample = np.asarray(baseline["numeric"][name]["sample"])
        for shift in SHIFTS_SD:
            for size in WINDOW_SIZES:
                d: list[float] = []
                psis: list[float] = []
                ours = unfloored = plain = evidently = 0
                for _ in range(arguments.trials):
                    picked = rng.choice(pool, size=size, replace=False)
                    window = {k: [v[i] for i in picked] for k, v in columns.items()}
                    window[name] = list(values[picked] + shift * sd)
                    report = assess_drift(baseline, window, config=config)
                    feature = next(f for f in report.features if f.name == name)
                    d.append(_number(feature.ks_statistic))
                    psis.append(_number(feature.psi))
                    ours += feature.drifted
                    unfloored += (feature.pvalue or 1.0) < config.alpha / m
                    plain += sps.ks_2samp(sample, window[name], method="asymp").pvalue < PLAIN_ALPHA
                    evidently += normed_wasserstein(values[train], np.asarray(window[name])) >= EVIDENTLY_THRESHOLD
                share = 100.0 / arguments.trials
                print(
                    f"{name:<24} {shift:>+4.1f}SD {size:>6,} {statistics.median(d):>6.3f} "
                    f"{statistics.median(psis):>6.3f} {ours * share:>4.0f}% {unfloored * share:>8.0f}% "
                    f"{plain * share:>5.0f}% {evidently * share:>4.0f}%"
                )
    print("(ours: p < alpha/m and PSI or KS at least its floor; no floors: p < alpha/m alone;")
    print(" p<0.05: scipy KS on the same sample; Evid.: normed Wasserstein >= 0.1; shares of windows flagged)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="windows per case in part 2")
    parser.add_argument("--window", type=int, default=500, help="rows per file-order window in part 1")
    parser.add_argument("--part", choices=("1", "2", "both"), default="both")
    arguments = parser.parse_args()
    if arguments.part in ("1", "both"):
        file_order(arguments)
    if arguments.part in ("2", "both"):
        floors(arguments)


if __name__ == "__main__":
    main()
