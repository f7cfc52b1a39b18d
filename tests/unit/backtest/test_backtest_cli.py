"""`mlops backtest` ends bad input with one line and exit 1, before deploying anything."""

import json

import pytest

from mlops.backtest import generator
from mlops.backtest.runner import BacktestOptions, _warnings, prepare
from mlops.cli import main


@pytest.fixture()
def stream(tmp_path):
    return generator.write_stream(tmp_path / "stream", 1_000)


def _fails(capsys, argv, message):
    assert main(["backtest", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err and message in err[-1], err


def test_missing_files_and_lonely_options(capsys, tmp_path, stream):
    data, schema = stream
    _fails(capsys, ["--data", str(tmp_path / "nope.csv"), "--schema", str(schema)], "no such file")
    _fails(capsys, ["--data", str(data)], "--data needs --schema")
    _fails(capsys, ["--schema", str(schema)], "--schema needs --data")


def test_generator_options_do_not_apply_to_own_data(capsys, stream):
    data, schema = stream
    _fails(capsys, ["--data", str(data), "--schema", str(schema), "--rows", "500"], "do not apply to --data")


def test_a_bad_schema_is_named(capsys, tmp_path, stream):
    data, _ = stream
    bad = tmp_path / "bad.schema.json"
    bad.write_text(json.dumps({"name": "x", "problemType": "regression"}))
    _fails(capsys, ["--data", str(data), "--schema", str(bad)], "problemType")


def test_a_window_larger_than_the_data(capsys, stream):
    data, schema = stream
    _fails(capsys, ["--data", str(data), "--schema", str(schema), "--window", "5000"], "larger than")


def test_an_initial_part_below_the_schema_minimum(capsys, stream):
    data, schema = stream
    _fails(capsys, ["--data", str(data), "--schema", str(schema), "--initial-fraction", "0.05"], "minRows")


def test_generate_writes_the_stream(capsys, tmp_path):
    assert main(["backtest", "--generate", "250", "--out", str(tmp_path / "g")]) == 0
    assert (tmp_path / "g" / "stream.csv").read_text().count("\n") == 251
    assert (tmp_path / "g" / "stream.schema.json").is_file()


def test_prepare_builds_one_task_per_policy_with_its_context(tmp_path, stream):
    data, schema = stream
    options = BacktestOptions(data=data, schema=schema, window_rows=200, context={"gate.thresholds.roc_auc": 0.5})
    prepared = prepare(options, tmp_path / "work")
    assert [t.policy.name for t in prepared.tasks] == ["never", "every", "drift"]
    assert len(prepared.plan.windows) == 4
    for task in prepared.tasks:
        assert task.context["gate"]["thresholds"]["roc_auc"] == 0.5
        assert task.context["schemaFile"] == str(schema.resolve())
    never = prepared.tasks[0].context["retraining"]
    assert never.get("onAlarm", False) is False


def test_labels_older_than_the_lookback_are_warned_about(tmp_path, stream):
    data, schema = stream
    prepared = prepare(BacktestOptions(data=data, schema=schema, window_rows=200, policy="never"), tmp_path / "w")
    assert not [w for w in prepared.warnings if "lookback" in w]
    warnings = _warnings(prepared.plan, 100, {"groundTruth": {"lookbackHours": 1}})
    assert any("lookbackHours 1" in w for w in warnings)
