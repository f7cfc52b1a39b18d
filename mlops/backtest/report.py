"""What a backtest reports: per-policy summaries, the table on stdout and the JSON document.

Pure functions over the workers' results, so the figures people compare policies by are defined
in one place and tested without a cloud:

- `meanAccuracy` / `meanRocAuc`: means over the windows of the served labels' accuracy and the
  served probabilities' ROC-AUC against the true labels (NaN windows — one class, no endpoint —
  are left out; NaN when no window has a value);
- `retrainings`: runs after the first model that actually trained (a run the plan skipped, or
  one that failed before training, is not a retraining);
- `approved`: those retrainings the gate approved;
- `seconds`: the policy's wall time in its worker (synthesis and deployment included).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["document", "flags", "mean", "summarize", "table", "write_json"]


def mean(values: Iterable[Any]) -> float:
    """The mean of the finite numbers among `values`; NaN when there are none."""
    finite = [
        float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    ]
    return sum(finite) / len(finite) if finite else math.nan


def _runs(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [run for window in result.get("perWindow", []) for run in window.get("runs", [])]


def summarize(result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of one policy's result (the contract of `--json`, see the module docstring)."""
    if result.get("error"):
        return {
            "error": result["error"],
            "traceback": result.get("traceback", []),
            "seconds": result.get("seconds"),
            "perWindow": [],
        }
    windows = list(result.get("perWindow", []))
    retrained = [run for run in _runs(result) if run.get("trained")]
    jobs = result.get("trainingJobs", [])
    return {
        "meanAccuracy": mean(w.get("accuracy") for w in windows),
        "meanRocAuc": mean(w.get("rocAuc") for w in windows),
        "retrainings": len(retrained),
        "approved": sum(1 for run in retrained if run.get("approved")),
        "deployed": sum(1 for run in retrained if run.get("outcome") == "deployed"),
        "skipped": sum(1 for run in _runs(result) if run.get("outcome") == "skipped"),
        "triggerSkips": sum(len(w.get("skips", [])) for w in windows),
        "seconds": result.get("seconds"),
        "synthSeconds": result.get("synthSeconds"),
        "deploySeconds": result.get("deploySeconds"),
        "trainingSeconds": round(sum(job.get("seconds", 0.0) for job in jobs), 1),
        "trainingJobs": len(jobs),
        "emulated": result.get("emulated", []),
        "notes": result.get("notes", []),
        "initial": result.get("initial"),
        "perWindow": windows,
    }


def document(
    results: Sequence[Mapping[str, Any]], *, windows: int, rows: int, dataset: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The `--json` document: `{"windows", "policies": {name: summary}, ...}`."""
    return {
        "windows": windows,
        "rows": rows,
        "dataset": dataset,
        "options": dict(options),
        "policies": {result["policy"]: summarize(result) for result in results},
    }


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Strict JSON: NaN (a window without a score) is written as null, which every parser reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(_finite_or_none(payload), indent=2, default=str, allow_nan=False) + "\n", encoding="utf-8"
    )


def flags(window: Mapping[str, Any]) -> str:
    """One-character marks of what happened in a window (the legend is printed under the table)."""
    marks = ""
    if (window.get("drift") or {}).get("verdict") == "drift":
        marks += "D"
    if any(state == "ALARM" for state in (window.get("alarms") or {}).values()) or any(
        move.endswith("-> ALARM") for move in window.get("alarmTransitions", [])
    ):
        marks += "A"
    for run in window.get("runs", []):
        marks += {"deployed": "+", "rejected": "-", "skipped": "=", "failed": "!"}.get(run.get("outcome", ""), "?")
    return marks


LEGEND = (
    "D drift verdict 'drift'   A an alarm in or into ALARM   + retrained and deployed   - retrained, rejected "
    "by the gate   = run skipped by its plan   ! run failed"
)


def _score(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) and math.isfinite(value) else "  -  "


def table(results: Sequence[Mapping[str, Any]]) -> str:
    """Per-window accuracy, serving version and marks per policy, then one summary line each."""
    ok = [r for r in results if not r.get("error")]
    lines = []
    if ok:
        cell = 20
        header = f"{'win':>4}  {'window start (UTC)':<17} {'rows':>5}  " + "".join(f"{r['policy']:<{cell}}" for r in ok)
        lines += [header, "-" * len(header)]
        count = max(len(r.get("perWindow", [])) for r in ok)
        for index in range(count):
            first = next(r["perWindow"][index] for r in ok if index < len(r["perWindow"]))
            row = f"{index:>4}  {first['windowStart'][:16].replace('T', ' '):<17} {first['rows']:>5}  "
            for result in ok:
                windows = result.get("perWindow", [])
                if index >= len(windows):
                    row += " " * cell
                    continue
                window = windows[index]
                text = f"{_score(window.get('accuracy'))} v{window.get('servingVersion')} {flags(window)}"
                row += f"{text:<{cell}}"
            lines.append(row.rstrip())
        lines += ["", LEGEND, ""]
    lines.append(
        f"{'policy':<8} {'mean acc':>8} {'mean ROC-AUC':>12} {'retrainings':>11} {'approved':>8} "
        f"{'training s':>10} {'seconds':>8}"
    )
    for result in results:
        summary = summarize(result)
        if summary.get("error"):
            lines.append(f"{result['policy']:<8} failed: {summary['error']}")
            continue
        lines.append(
            f"{result['policy']:<8} {_score(summary['meanAccuracy']):>8} {_score(summary['meanRocAuc']):>12} "
            f"{summary['retrainings']:>11} {summary['approved']:>8} {summary['trainingSeconds']:>10} "
            f"{summary['seconds']:>8}"
        )
        for note in [*summary["emulated"], *summary["notes"]]:
            lines.append(f"         note: {note}")
    return "\n".join(lines)
