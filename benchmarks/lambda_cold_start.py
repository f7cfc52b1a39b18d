"""Cold-start import cost of each Lambda handler module, against ``import boto3`` alone.

Each measurement is a fresh interpreter running ``python -X importtime -c "import <module>"``; the
import cost is the sum of the cumulative times of the top-level imports that the statement
triggered (modules the bare interpreter already imports at startup are excluded, since every
Lambda pays those anyway). The median of N runs is reported, after one discarded warm-up run per
module that writes the ``.pyc`` files (a deployment package should ship them too).

The peer, ``import boto3``, is the floor every Python Lambda that talks to AWS pays; the handlers
add Powertools (logger, metrics, tracer -- the tracer pulls in the X-Ray SDK) and their own code.
Run from the repository root:

    python benchmarks/lambda_cold_start.py --runs 15
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = [
    f"functions.{name}.handler" for name in ("trigger", "validate", "champion", "evaluate", "register", "drift")
]
PEER = "boto3"
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")

# What CDK sets on every function; Powertools reads some of it at import time.
_ENV = {
    "POWERTOOLS_SERVICE_NAME": "benchmark",
    "POWERTOOLS_METRICS_NAMESPACE": "MLOps/Pipeline",
    "LOG_LEVEL": "INFO",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _importtime(statement: str) -> list[tuple[int, str, int]]:
    """``(depth, module, cumulative microseconds)`` for every import ``statement`` performs."""
    env = {**os.environ, **_ENV, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            rows.append((len(match.group(3)) // 2, match.group(4), int(match.group(2))))
    return rows


def _startup_modules() -> set[str]:
    return {name for depth, name, _ in _importtime("pass") if depth == 0}


def import_ms(module: str, startup: set[str]) -> float:
    """Milliseconds spent importing ``module`` in a fresh interpreter."""
    rows = _importtime(f"import {module}")
    return sum(cum for depth, name, cum in rows if depth == 0 and name not in startup) / 1000.0


def measure(module: str, runs: int, startup: set[str]) -> float:
    import_ms(module, startup)  # warm-up: compiles and caches bytecode
    return statistics.median(import_ms(module, startup) for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per module (median reported)")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args(argv)
    startup = _startup_modules()
    results = {PEER: measure(PEER, args.runs, startup)}
    for module in HANDLERS:
        results[module] = measure(module, args.runs, startup)
    if args.json:
        print(json.dumps({"runs": args.runs, "median_import_ms": results}, indent=2))
        return 0
    peer = results[PEER]
    print(f"median import time over {args.runs} fresh interpreters (python {sys.version.split()[0]})")
    print(f"{'module':34} {'ms':>8} {'x boto3':>8} {'+ms over boto3':>15}")
    for module, ms in results.items():
        print(f"{module:34} {ms:8.1f} {ms / peer:8.2f} {ms - peer:15.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
