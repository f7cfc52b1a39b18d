"""Summaries, the table, the JSON document and the PNG, from workers' results without a cloud."""

import json
import math

from mlops.backtest import report
from mlops.backtest.plot import plot_accuracy


def _run(outcome, trained=True, approved=None):
    return {
        "name": f"run-{outcome}",
        "reason": "drift",
        "trained": trained,
        "approved": outcome == "deployed" if approved is None else approved,
        "outcome": outcome,
    }


def _result(policy="drift"):
    return {
        "policy": policy,
        "seconds": 12.5,
        "trainingJobs": [{"name": "a", "seconds": 2.0}, {"name": "b", "seconds": 3.5}],
        "initial": {"runs": [_run("deployed")]},
        "perWindow": [
            {
                "index": 0,
                "windowStart": "2026-01-05T04:00:00+00:00",
                "rows": 600,
                "accuracy": 0.8,
                "rocAuc": 0.9,
                "servingVersion": 1,
                "runs": [],
                "skips": [{"skipped": "no_new_data"}],
                "drift": {"verdict": "drift"},
                "alarms": {"drift": "ALARM"},
            },
            {
                "index": 1,
                "windowStart": "2026-01-07T06:00:00+00:00",
                "rows": 600,
                "accuracy": 0.6,
                "rocAuc": math.nan,
                "servingVersion": 1,
                "runs": [_run("rejected"), _run("skipped", trained=False)],
                "skips": [],
                "drift": None,
                "alarms": {},
            },
            {
                "index": 2,
                "windowStart": "2026-01-09T08:00:00+00:00",
                "rows": 600,
                "accuracy": 0.7,
                "rocAuc": 0.7,
                "servingVersion": 2,
                "runs": [_run("deployed")],
                "skips": [],
                "drift": {"verdict": "absorbed"},
                "alarms": {"quality": "OK"},
                "alarmTransitions": ["quality: OK -> ALARM", "quality: ALARM -> OK"],
            },
        ],
    }


def test_summary_counts_only_runs_that_trained_and_skips_nan():
    summary = report.summarize(_result())
    assert summary["retrainings"] == 2 and summary["approved"] == 1 and summary["deployed"] == 1
    assert summary["skipped"] == 1 and summary["triggerSkips"] == 1
    assert math.isclose(summary["meanAccuracy"], 0.7)
    assert math.isclose(summary["meanRocAuc"], 0.8)  # the NaN window is left out
    assert summary["trainingSeconds"] == 5.5 and summary["seconds"] == 12.5


def test_mean_of_nothing_is_nan():
    assert math.isnan(report.mean([None, math.nan, "x"]))


def test_json_document_has_the_issue_shape_and_is_strict_json(tmp_path):
    failed = {"policy": "every", "error": "RuntimeError: boom", "seconds": 1.0}
    payload = report.document([_result("never"), failed], windows=3, rows=3000, dataset="d", options={})
    path = tmp_path / "out" / "backtest.json"
    report.write_json(path, payload)
    loaded = json.loads(path.read_text(), parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert loaded["windows"] == 3
    never = loaded["policies"]["never"]
    for key, kind in (
        ("meanAccuracy", float),
        ("meanRocAuc", float),
        ("retrainings", int),
        ("approved", int),
        ("seconds", float),
        ("perWindow", list),
    ):
        assert isinstance(never[key], kind), key
    assert never["perWindow"][1]["rocAuc"] is None  # NaN is written as null
    assert loaded["policies"]["every"]["error"].startswith("RuntimeError")


def test_flags_mark_drift_alarms_and_run_outcomes():
    windows = _result()["perWindow"]
    assert report.flags(windows[0]) == "DA"
    assert report.flags(windows[1]) == "-="
    assert report.flags(windows[2]) == "A+"  # the quality alarm went to ALARM inside the window


def test_table_has_a_row_per_window_and_a_summary_per_policy():
    text = report.table([_result("never"), _result("drift"), {"policy": "every", "error": "boom"}])
    lines = text.splitlines()
    assert "never" in lines[0] and "drift" in lines[0]
    assert any(line.lstrip().startswith("2 ") and "v2" in line for line in lines)
    assert any(line.startswith("never ") and "0.700" in line for line in lines)
    assert any(line.startswith("every ") and "failed: boom" in line for line in lines)


def test_plot_writes_a_png(tmp_path):
    path = plot_accuracy([_result("never"), _result("drift")], tmp_path / "accuracy.png", changes=[1.5])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
