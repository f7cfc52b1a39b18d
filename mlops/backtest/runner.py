"""`mlops backtest`: replay a labelled CSV through the local cloud under several retraining policies.

The parent process checks the inputs and cuts the data into windows (`mlops.backtest.windows`),
builds each policy's `mlops` context (`mlops.backtest.policies`), and runs every policy in a
process of its own (spawned: moto's backends, the virtual clock and the code loader are all
process-wide state), at most `jobs` at a time. Each worker synthesizes its context (identical
contexts share one synthesis), deploys it into a fresh local cloud and replays the windows
(`mlops.backtest.replay`). The parent draws the progress line, then prints the table, writes the
PNG and, with `--json`, the JSON document (`mlops.backtest.report`).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from mlops.backtest import generator, report
from mlops.backtest.plot import plot_accuracy
from mlops.backtest.policies import context_for, policies_for
from mlops.backtest.progress import ProgressLine
from mlops.backtest.replay import PolicyTask, run_policy
from mlops.backtest.windows import BacktestInputError, ReplayPlan, plan_replay, read_csv
from mlops.local.assembly import project_root
from mlops.local.context import apply_overrides, base_context
from pipelines.schema import SchemaError, load_schema

DEPLOYMENT_TIMING = {
    "serving.endpointPollSeconds": 1,
    "serving.deployment.waitSeconds": 0,
    "serving.deployment.terminationWaitSeconds": 0,
}

__all__ = ["BacktestOptions", "BacktestResult", "default_jobs", "prepare", "run_backtest"]

_UPDATES: Any = None  # the progress queue, set in each worker by `_init_worker`


@dataclass
class BacktestOptions:
    data: Path | None = None
    schema: Path | None = None
    time_column: str | None = None
    file_order: bool = False
    initial_fraction: float = 0.2
    window_rows: int | None = None
    label_delay: int = 1
    policy: str = "all"
    context: dict[str, Any] = field(default_factory=dict)  # dotted keys under the `mlops` context
    json_path: Path | None = None
    plot_path: Path | None = Path("mlops-backtest") / "accuracy.png"
    jobs: int | None = None
    quiet: bool = False
    generate_rows: int = generator.DEFAULT_ROWS  # when `data` is None
    seed: int = generator.DEFAULT_SEED
    request_rows: int = 100
    work_dir: Path | None = None  # kept when given (the local clouds' scratch, the assemblies)


@dataclass
class BacktestResult:
    ok: bool
    document: dict[str, Any]
    results: list[dict[str, Any]]


@dataclass(frozen=True)
class Prepared:
    plan: ReplayPlan
    tasks: tuple[PolicyTask, ...]
    dataset: str
    rows: int
    changes: tuple[float, ...]  # concept changes as window positions (generated data only)
    warnings: tuple[str, ...]


def default_jobs(policies: int) -> int:
    """One worker per policy, at most three and at most one per core (training is CPU-bound)."""
    return max(1, min(3, os.cpu_count() or 1, policies))


def prepare(options: BacktestOptions, work: Path) -> Prepared:
    """Check everything that can be checked before deploying; raises BacktestInputError."""
    root = project_root()
    changes_rows: tuple[int, ...] = ()
    if options.data is None:
        if options.schema is not None:
            raise BacktestInputError("--schema needs --data (without --data the generated stream is used)")
        data, schema_path = generator.write_stream(work / "data", options.generate_rows, seed=options.seed)
        changes_rows = tuple(round(f * options.generate_rows) for f in generator.CHANGE_FRACTIONS)
    else:
        if options.schema is None:
            raise BacktestInputError("--data needs --schema (the schema file that describes it)")
        data, schema_path = options.data, options.schema
        for path in (data, schema_path):
            if not path.is_file():
                raise BacktestInputError(f"no such file: {path}")
    try:
        schema = load_schema(schema_path)
    except (SchemaError, OSError) as error:
        raise BacktestInputError(f"{schema_path}: {error}") from error

    # A replay sends no traffic while a model deploys, so a blue/green bake has nothing to watch:
    # deployments poll each second and bake for none (the backtest's own override, like the demo's).
    base = apply_overrides(base_context(root), DEPLOYMENT_TIMING)
    user = dict(options.context)
    effective = apply_overrides(base, user)
    header, rows = read_csv(data)
    plan = plan_replay(
        header,
        rows,
        schema,
        time_column=options.time_column,
        file_order=options.file_order,
        initial_fraction=options.initial_fraction,
        window_rows=options.window_rows,
        label_delay=options.label_delay,
        schedule_minutes=int(effective["drift"]["scheduleMinutes"]),
        request_rows=options.request_rows,
    )
    if len(plan.initial) < schema.quality.min_rows:
        raise BacktestInputError(
            f"the initial part has {len(plan.initial)} rows, fewer than the schema's quality.minRows "
            f"{schema.quality.min_rows}: the first upload would be quarantined"
        )
    warnings = list(_warnings(plan, schema.quality.min_rows, effective))

    tasks = []
    try:
        policies = policies_for(options.policy)
    except ValueError as error:
        raise BacktestInputError(str(error)) from error
    for policy in policies:
        context, unsupported = context_for(policy, base, user, schema_file=str(schema_path.resolve()))
        tasks.append(
            PolicyTask(
                policy=policy,
                context=context,
                unsupported=unsupported,
                plan=plan,
                schema_path=schema_path.resolve(),
                root=root,
                work_dir=work / policy.name,
                assembly_cache=work / "assemblies",
            )
        )
    initial = len(plan.initial)
    window_rows = len(plan.windows[0].rows)
    changes = tuple((row - initial) / window_rows for row in changes_rows if row >= initial)
    return Prepared(
        plan=plan, tasks=tuple(tasks), dataset=schema.name, rows=len(rows), changes=changes, warnings=tuple(warnings)
    )


def _warnings(plan: ReplayPlan, min_rows: int, config: Mapping[str, Any]) -> list[str]:
    """Settings under which the learning loop cannot work as intended: said up front, not hidden."""
    out = []
    window_rows = len(plan.windows[0].rows)
    if window_rows < min_rows:
        out.append(
            f"windows of {window_rows} rows are below quality.minRows {min_rows}: "
            "their labelled batches will be quarantined"
        )
    lookback = (config.get("groundTruth") or {}).get("lookbackHours") if isinstance(config, Mapping) else None
    delay = plan.label_delay
    if isinstance(lookback, int | float) and delay >= 1 and len(plan.windows) > delay:
        # The oldest capture of window k is as old as (start of window k+delay - start of window k).
        oldest = max(plan.windows[k + delay].start - plan.windows[k].start for k in range(len(plan.windows) - delay))
        if oldest > timedelta(hours=lookback):
            out.append(
                f"labels arrive up to {oldest.total_seconds() / 3600:.0f} h after their requests, more than "
                f"groundTruth.lookbackHours {lookback}: the oldest will be 'unknown' (raise it with -c)"
            )
    if plan.dropped_rows:
        out.append(f"the last {plan.dropped_rows} rows do not fill a window and are not replayed")
    return out


def _init_worker(updates: Any) -> None:
    global _UPDATES
    _UPDATES = updates


def _worker(task: PolicyTask) -> dict[str, Any]:
    name = task.policy.name

    def progress(done: int, note: str) -> None:
        if _UPDATES is not None:
            _UPDATES.put((name, done, note))

    return run_policy(task, progress)


def run_backtest(
    options: BacktestOptions, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> BacktestResult:
    """The whole backtest (see the module docstring); raises BacktestInputError on bad input."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="mlops-backtest-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        prepared = prepare(options, work)
        plan = prepared.plan
        if not options.quiet:
            print(
                f"mlops backtest: {prepared.dataset}, {prepared.rows} rows: {len(plan.initial)} initial, "
                f"{len(plan.windows)} windows of {len(plan.windows[0].rows)}, labels {plan.label_delay} window(s) "
                f"late, order {plan.ordering}; policies {', '.join(t.policy.name for t in prepared.tasks)}",
                file=err,
                flush=True,
            )
            for warning in prepared.warnings:
                print(f"  warning: {warning}", file=err, flush=True)
        results = _run_tasks(prepared.tasks, options, len(plan.windows), err)
    finally:
        if options.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)

    payload = report.document(
        results,
        windows=len(plan.windows),
        rows=prepared.rows,
        dataset=prepared.dataset,
        options={
            "initialRows": len(plan.initial),
            "windowRows": len(plan.windows[0].rows),
            "labelDelay": plan.label_delay,
            "ordering": plan.ordering,
            "policy": options.policy,
            "context": options.context,
            "warnings": list(prepared.warnings),
            "virtualStart": plan.start.isoformat(),
        },
    )
    print(report.table(results), file=out, flush=True)
    if options.plot_path:
        plot_accuracy(
            results,
            options.plot_path,
            changes=prepared.changes,
            title=f"mlops backtest: {prepared.dataset}, {len(plan.windows)} windows",
        )
        print(f"\naccuracy plot: {options.plot_path}", file=out, flush=True)
    if options.json_path:
        report.write_json(options.json_path, payload)
        print(f"results: {options.json_path}", file=out, flush=True)
    return BacktestResult(ok=all(not r.get("error") for r in results), document=payload, results=results)


def _run_tasks(
    tasks: tuple[PolicyTask, ...], options: BacktestOptions, windows: int, err: TextIO
) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    updates = context.Queue()
    jobs = options.jobs or default_jobs(len(tasks))
    enabled = False if options.quiet else None
    with (
        ProgressLine(updates, [t.policy.name for t in tasks], windows, stream=err, enabled=enabled),
        ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)), mp_context=context, initializer=_init_worker, initargs=(updates,)
        ) as pool,
    ):
        futures = [pool.submit(_worker, task) for task in tasks]
        results = []
        for task, future in zip(tasks, futures, strict=True):
            try:
                results.append(future.result())
            except Exception as error:  # a worker that died (not a replay failure, which returns)
                results.append({"policy": task.policy.name, "error": f"worker failed: {error}"})
    return results
