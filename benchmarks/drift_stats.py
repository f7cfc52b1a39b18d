"""How long the drift verdict takes, next to scipy's KS test on the same data.

The drift Lambda runs ``assess_drift`` once per window, with numpy only. This prints the median wall
time over ``--runs`` runs for a 500-row and a 10,000-row window of the AI4I data (columns as Python
lists, as the Lambda has them after parsing the capture JSON lines), against a baseline built from a
random 8,000-row training part. As a peer, it times ``scipy.stats.ks_2samp`` on the same comparisons
(every numeric feature's baseline sample against the window column), in scipy's default mode and in
``method="asymp"``, and our own ``ks_2samp`` alone on the same pairs.

    python benchmarks/drift_stats.py [--runs 30]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats as sps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlops.local.context import base_context  # noqa: E402
from pipelines.drift.baseline import build_baseline  # noqa: E402
from pipelines.drift.stats import ks_2samp  # noqa: E402
from pipelines.drift.verdict import VerdictThresholds, assess_drift  # noqa: E402
from pipelines.schema import load_schema  # noqa: E402


def median_seconds(task: Callable[[], object], runs: int) -> float:
    task()  # warm-up: imports, caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per measurement (median reported)")
    args = parser.parse_args()

    schema = load_schema(REPO / "schemas" / "ai4i2020.schema.json")
    with (REPO / "data" / "ai4i2020.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = {c.name: [float(r[c.name]) if c.is_numeric else r[c.name] for r in rows] for c in schema.features}
    rng = np.random.default_rng(0)
    order = rng.permutation(len(rows))
    baseline = build_baseline(schema, {k: [v[i] for i in order[:8000]] for k, v in columns.items()})
    numeric = [c.name for c in schema.numeric_features]
    thresholds = VerdictThresholds.from_context(base_context(REPO)["drift"])  # cdk.json, as deployed

    print(
        f"median of {args.runs} runs; baseline: 8,000 rows, KS sample {len(baseline['numeric'][numeric[0]]['sample'])}"
    )
    print(
        f"{'window':>8} {'assess_drift':>13} {'ours: KS only':>14} {'scipy KS auto':>14} {'scipy KS asymp':>15}"
        f" {'auto/assess':>12} {'asymp/ours KS':>14}"
    )
    for size in (500, 10_000):
        picked = rng.choice(len(rows), size=size, replace=False)
        window = {k: [v[i] for i in picked] for k, v in columns.items()}
        pairs = [(np.asarray(baseline["numeric"][n]["sample"]), np.asarray(window[n])) for n in numeric]

        ours = median_seconds(lambda w=window: assess_drift(baseline, w, config=thresholds), args.runs)
        ours_ks = median_seconds(lambda p=pairs: [ks_2samp(a, b) for a, b in p], args.runs)
        scipy_auto = median_seconds(lambda p=pairs: [sps.ks_2samp(a, b) for a, b in p], args.runs)
        scipy_asymp = median_seconds(lambda p=pairs: [sps.ks_2samp(a, b, method="asymp") for a, b in p], args.runs)
        print(
            f"{size:>8,} {ours * 1e3:>10.2f} ms {ours_ks * 1e3:>11.2f} ms {scipy_auto * 1e3:>11.2f} ms "
            f"{scipy_asymp * 1e3:>12.2f} ms {scipy_auto / ours:>11.2f}x {scipy_asymp / ours_ks:>13.2f}x"
        )
    print("assess_drift covers 5 KS tests, 6 PSIs and a chi-square test; the scipy columns only the 5 KS tests.")


if __name__ == "__main__":
    main()
