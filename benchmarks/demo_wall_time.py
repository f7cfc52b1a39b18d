"""Wall time of `mlops demo` (the whole lifecycle, two training runs) against its core work.

The peer, measured in the same run, is one training run of `pipelines/train.py` on the same data
outside the local cloud: the ratio says what the cloud around the training costs. Each figure is
the median of `--runs` fresh processes; the machine is shared, so only medians and ratios are quoted.

    python benchmarks/demo_wall_time.py --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _training_run(work: Path) -> list[str]:
    code = work / "code"
    shutil.copytree(ROOT / "pipelines", code / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "schemas" / "ai4i2020.schema.json", code / "schema.json")
    (work / "train").mkdir(exist_ok=True)
    shutil.copy(ROOT / "data" / "ai4i2020.csv", work / "train" / "data.csv")
    for name in ("model", "output"):
        shutil.rmtree(work / name, ignore_errors=True)
        (work / name).mkdir()
    return [
        sys.executable,
        str(code / "pipelines" / "train.py"),
        "--train",
        str(work / "train"),
        "--model-dir",
        str(work / "model"),
        "--output-data-dir",
        str(work / "output"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    demo, training = [], []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for run in range(arguments.runs):
            demo.append(_time([sys.executable, "-m", "mlops.cli", "demo", "--quiet", "--out", str(work / "out")], ROOT))
            training.append(_time(_training_run(work / f"train-{run}"), ROOT))
            print(f"run {run + 1}: demo {demo[-1]:.1f} s, one training run {training[-1]:.1f} s", flush=True)
    demo_median, training_median = statistics.median(demo), statistics.median(training)
    print(f"mlops demo (10,000 rows, synth + deploy + 2 trainings + traffic + drift): median {demo_median:.1f} s")
    print(f"pipelines/train.py alone on the same data:                               median {training_median:.1f} s")
    print(f"ratio demo / one training run: {demo_median / training_median:.1f}x")


if __name__ == "__main__":
    main()
