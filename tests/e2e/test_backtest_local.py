"""`mlops backtest` end to end: a small generated stream replayed through the local cloud under the
two baselines, each policy in its own process with its own synthesized context, real training."""

from __future__ import annotations

import io
import json

import pytest

from mlops.backtest import generator
from mlops.backtest.runner import BacktestOptions, run_backtest

pytestmark = pytest.mark.e2e

WINDOWS = 3


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    directory = tmp_path_factory.mktemp("backtest")
    data, schema = generator.write_stream(directory / "data", 3_000)
    out = io.StringIO()
    result = run_backtest(
        BacktestOptions(
            data=data,
            schema=schema,
            initial_fraction=0.4,
            window_rows=600,
            policy="never,every",
            jobs=2,
            json_path=directory / "backtest.json",
            plot_path=directory / "accuracy.png",
            quiet=True,
        ),
        stdout=out,
        stderr=io.StringIO(),
    )
    return result, directory, out.getvalue()


def test_the_replay_succeeds_and_writes_json_table_and_plot(backtest):
    result, directory, table = backtest
    assert result.ok, [r.get("error") for r in result.results]
    loaded = json.loads((directory / "backtest.json").read_text())
    assert loaded["windows"] == WINDOWS
    assert set(loaded["policies"]) == {"never", "every"}
    for summary in loaded["policies"].values():
        assert {"meanAccuracy", "meanRocAuc", "retrainings", "approved", "seconds", "perWindow"} <= set(summary)
        assert len(summary["perWindow"]) == WINDOWS
        assert 0.2 < summary["meanAccuracy"] <= 1.0
        first = summary["perWindow"][0]
        assert first["servingVersion"] == 1 and first["rows"] == 600
        assert first["drift"]["records"] == 600  # the drift window held exactly the window's traffic
    assert (directory / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "never" in table and "every" in table and "mean acc" in table


def test_never_retrains_nothing(backtest):
    result, _, _ = backtest
    never = result.document["policies"]["never"]
    assert never["retrainings"] == 0
    assert all(not run["trained"] for window in never["perWindow"] for run in window["runs"])
    assert {window["servingVersion"] for window in never["perWindow"]} == {1}


def test_every_retrains_once_per_window_through_the_pipeline(backtest):
    result, _, _ = backtest
    every = result.document["policies"]["every"]
    for window in every["perWindow"]:
        assert window["manual"]["started"], window["manual"]
        manual = [run for run in window["runs"] if run["reason"] == "manual"]
        assert len(manual) == 1, window["runs"]
        run = manual[0]
        # The plan skips a run only when no labelled batch is new (the first window's labels are late).
        assert run["trained"] or run["skipped"] == "no_new_data", run
    trained = sum(1 for window in every["perWindow"] for run in window["runs"] if run["trained"])
    assert every["retrainings"] == trained >= WINDOWS - 1
