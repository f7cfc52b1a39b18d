"""Cold-start import time of each Lambda handler module, against peers measured in the same run.

Each measurement is a fresh interpreter that times ``import <module>`` with ``time.perf_counter``
(the import alone: interpreter start-up is common to every Lambda and reported as the ``python -c
pass`` peer, whose figure is the whole process). The median of ``--runs`` interpreters is reported
per module and per environment:

* ``lambda``: the Lambda environment as CDK and the runtime set it (``LAMBDA_TASK_ROOT``, service
  name, metrics namespace, region) with X-Ray tracing on, the cloud default: Powertools' Tracer
  imports the X-Ray SDK and patches botocore.
* ``no-trace``: the same with ``POWERTOOLS_TRACE_DISABLED=true``: no X-Ray SDK is imported.
* ``local``: no Lambda environment (the tests, the local cloud): tracing is off.

The code is a copy of what the Lambda asset ships (``functions/``, ``pipelines/{__init__,schema,
quality}.py``, ``pipelines/drift/``) in a temporary directory. By default it is imported from
bytecode compiled beforehand; ``--source`` imports it with ``-B`` and no ``__pycache__``, as in
Lambda when the asset ships only ``.py`` files (``/var/task`` is read-only, so every cold start
compiles the project's modules again). Third-party packages are imported from their installed
bytecode in both cases.

Peers: ``python -c pass`` (whole process, start-up only) and ``import boto3`` (the floor of every
Python Lambda that calls AWS). Run from the repository root:

    python benchmarks/lambda_cold_start.py --runs 15
    python benchmarks/lambda_cold_start.py --runs 15 --source
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = sorted(f"functions.{path.parent.name}.handler" for path in (ROOT / "functions").glob("*/handler.py"))
PEERS = ("boto3",)
BUDGET_MS = 500.0

# What CDK and the Lambda runtime set on every function; Powertools reads some of it at import.
_BASE_ENV = {
    "POWERTOOLS_SERVICE_NAME": "benchmark",
    "POWERTOOLS_METRICS_NAMESPACE": "MLOps/Pipeline",
    "LOG_LEVEL": "INFO",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
_LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "benchmark",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python",
}
MODES = ("lambda", "no-trace", "local")
_TIMER = "import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
_CLEARED = ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE", "PYTHONPATH")


def copy_asset(target: Path) -> None:
    """The Python files of the Lambda code asset (see infra/constructs/lambda_functions.py)."""
    sources = [*sorted((ROOT / "functions").rglob("*.py")), *sorted((ROOT / "pipelines" / "drift").rglob("*.py"))]
    sources += [ROOT / "pipelines" / name for name in ("__init__.py", "schema.py", "quality.py")]
    for source in sources:
        relative = source.relative_to(ROOT)
        if "__pycache__" in relative.parts:
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def environment(mode: str, code_root: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _CLEARED}
    env.update(_BASE_ENV, PYTHONPATH=str(code_root))
    if mode in ("lambda", "no-trace"):
        env.update(_LAMBDA_ENV, LAMBDA_TASK_ROOT=str(code_root))
    if mode == "no-trace":
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def import_ms(module: str, env: dict[str, str], code_root: Path, source: bool) -> float:
    """Milliseconds ``import module`` takes in a fresh interpreter."""
    flags = ["-B"] if source else []
    done = subprocess.run(
        [sys.executable, *flags, "-c", _TIMER.format(module=module)],
        cwd=code_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"import {module} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def process_ms(env: dict[str, str], code_root: Path) -> float:
    """Milliseconds of a whole ``python -c pass`` process: interpreter start-up and exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], cwd=code_root, env=env, check=True)
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per module and mode (median)")
    parser.add_argument("--source", action="store_true", help="no bytecode for the project's code (as shipped)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args(argv)
    modes = [mode for mode in args.modes.split(",") if mode]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {MODES}")

    with tempfile.TemporaryDirectory(prefix="lambda-cold-start-") as tmp:
        code_root = Path(tmp)
        copy_asset(code_root)
        if not args.source:
            compileall.compile_dir(code_root, quiet=1)
        envs = {mode: environment(mode, code_root) for mode in modes}
        for env in envs.values():  # warm-up: file-system cache, the X-Ray SDK's touch file
            for module in (*PEERS, *HANDLERS):
                import_ms(module, env, code_root, args.source)
        # Round-robin, so that a busy moment of the machine slows every module alike.
        samples: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.runs):
            for mode, env in envs.items():
                samples.setdefault("python -c pass", {}).setdefault(mode, []).append(process_ms(env, code_root))
                for module in (*PEERS, *HANDLERS):
                    sample = import_ms(module, env, code_root, args.source)
                    samples.setdefault(f"import {module}", {}).setdefault(mode, []).append(sample)
        results = {
            name: {mode: statistics.median(values) for mode, values in row.items()} for name, row in samples.items()
        }

    if args.json:
        print(json.dumps({"runs": args.runs, "source": args.source, "median_ms": results}, indent=2))
        return 0
    code = "source only (-B, as shipped)" if args.source else "bytecode"
    print(f"median ms over {args.runs} fresh interpreters, python {sys.version.split()[0]}, project code: {code}")
    print(f"{'':44}" + "".join(f"{mode:>10}" for mode in modes) + f"{'x boto3':>9}  (first mode)")
    boto3 = results["import boto3"][modes[0]]
    for name, row in results.items():
        ratio = "" if name == "python -c pass" else f"{row[modes[0]] / boto3:9.2f}"
        print(f"{name:44}" + "".join(f"{row[mode]:10.1f}" for mode in modes) + ratio)
    worst = max(row[mode] for name, row in results.items() if name.startswith("import functions.") for mode in modes)
    verdict = "within" if worst <= BUDGET_MS else "OVER"
    print(f"slowest handler import: {worst:.1f} ms (budget {BUDGET_MS:.0f} ms: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
