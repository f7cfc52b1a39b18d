"""Wall time of `mlops backtest` and where it goes: training jobs against everything else.

Runs one backtest in a fresh process on the generated stream (default 50,000 rows, 50 windows,
the three policies) and reads its JSON: per policy the wall time of its worker, the median window
and the share of the worker's time spent inside training jobs (TrainingStartTime to
TrainingEndTime from DescribeTrainingJob, measured on the replay's clock, which runs at real speed
between its jumps). The rest is synthesis, deployment, traffic, the Lambdas and the waits. The
machine is shared, so quote the figures with the machine's core count.

    python benchmarks/backtest_wall_time.py [--rows 50000] [--windows 50] [--policy all] [--jobs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--windows", type=int, default=50)
    parser.add_argument("--initial-fraction", type=float, default=0.2)
    parser.add_argument("--policy", default="all")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path, help="also keep the backtest's JSON here")
    arguments = parser.parse_args()
    replayed = arguments.rows - round(arguments.rows * arguments.initial_fraction)
    window = replayed // arguments.windows
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "backtest.json"
        command = [
            sys.executable,
            "-m",
            "mlops.cli",
            "backtest",
            "--rows",
            str(arguments.rows),
            "--window",
            str(window),
            "--initial-fraction",
            str(arguments.initial_fraction),
            "--policy",
            arguments.policy,
            "--json",
            str(result),
            "--plot",
            str(Path(scratch) / "a.png"),
            "--quiet",
            *[f"-c={pair}" for pair in arguments.context],
        ]
        if arguments.jobs:
            command += ["--jobs", str(arguments.jobs)]
        started = time.perf_counter()
        # Exit status 1 means a policy failed: its error is in the JSON, reported below.
        process = subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
        total = time.perf_counter() - started
        if not result.is_file():
            raise SystemExit(f"mlops backtest ended with status {process.returncode} and wrote no results")
        document = json.loads(result.read_text())
        if arguments.json:
            arguments.json.parent.mkdir(parents=True, exist_ok=True)
            arguments.json.write_text(result.read_text())

    print(
        f"mlops backtest: {arguments.rows} rows, {document['windows']} windows of {window}, "
        f"policy {arguments.policy}, {os.cpu_count()} cores: {total:.1f} s in all"
    )
    training_all = worker_all = 0.0
    for name, summary in document["policies"].items():
        if summary.get("error"):
            print(f"  {name:<6} failed after {summary.get('seconds')} s: {summary['error']}")
            continue
        windows = [w["seconds"] for w in summary["perWindow"]]
        in_windows = [w.get("trainingSeconds", 0.0) for w in summary["perWindow"]]
        seconds, training = summary["seconds"], summary["trainingSeconds"]
        training_all += training
        worker_all += seconds
        print(
            f"  {name:<6} {seconds:7.1f} s (synthesis {summary.get('synthSeconds', '?')} s), "
            f"median window {statistics.median(windows):5.2f} s, "
            f"training jobs {summary['trainingJobs']:3d} taking {training:6.1f} s = {training / seconds:5.1%} "
            f"of the worker; inside the windows {sum(in_windows) / max(sum(windows), 1e-9):5.1%}"
        )
    if worker_all:
        print(
            f"  all    training {training_all:.1f} s of {worker_all:.1f} worker seconds = "
            f"{training_all / worker_all:.1%}"
        )


if __name__ == "__main__":
    main()
