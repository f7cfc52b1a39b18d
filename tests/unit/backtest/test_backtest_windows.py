"""Cutting a CSV into the replay: initial part, windows, times, requests and their label ids."""

import random
from datetime import timedelta

import pytest

from mlops.backtest import generator
from mlops.backtest.windows import FILE_ORDER_START, BacktestInputError, label_ids, plan_replay
from pipelines.schema import parse_schema


@pytest.fixture(scope="module")
def schema():
    return parse_schema(generator.schema_document())


@pytest.fixture(scope="module")
def data():
    stream = generator.generate(2_300)
    header = stream.columns
    return header, [dict(zip(header, row, strict=True)) for row in stream.rows]


def test_initial_part_then_whole_windows_in_time_order(schema, data):
    header, rows = data
    plan = plan_replay(header, rows, schema, initial_fraction=0.2, window_rows=500, request_rows=100)
    assert len(plan.initial) == 460 and plan.initial[0] == rows[0]
    assert [len(w.rows) for w in plan.windows] == [500, 500, 500]
    assert plan.dropped_rows == 2_300 - 460 - 1_500
    assert plan.ordering == "time:time" and plan.time_column == "time"
    first = plan.windows[0]
    assert first.rows[0] == rows[460]
    assert plan.start == first.start
    assert first.start.isoformat().startswith("2026-01-02T14:20")  # row 460, five minutes apart
    assert first.span == timedelta(minutes=5 * 500)
    assert first.request_sizes == (100,) * 5
    assert first.request_offsets == tuple(timedelta(minutes=5 * 100 * j) for j in range(5))
    assert plan.windows[-1].span == timedelta(minutes=5 * 500)  # the last row lasts a typical step


def test_rows_are_sorted_by_the_time_column_stably(schema, data):
    header, rows = data
    shuffled = list(rows)
    random.Random(1).shuffle(shuffled)
    plan = plan_replay(header, shuffled, schema, window_rows=500)
    assert plan.initial == tuple(rows[: len(plan.initial)])
    assert plan.windows[1].rows == tuple(rows[len(plan.initial) + 500 : len(plan.initial) + 1000])


def test_file_order_keeps_the_order_and_uses_the_schedule(schema, data):
    header, rows = data
    reversed_rows = rows[::-1]
    plan = plan_replay(
        header, reversed_rows, schema, file_order=True, window_rows=600, schedule_minutes=60, request_rows=250
    )
    assert plan.ordering == "file" and plan.time_column is None
    assert plan.initial[0] == reversed_rows[0]
    assert [w.start for w in plan.windows] == [FILE_ORDER_START + timedelta(hours=i) for i in range(3)]
    assert plan.windows[0].request_sizes == (250, 250, 100)
    assert plan.windows[0].request_offsets == (timedelta(0), timedelta(minutes=20), timedelta(minutes=40))


def test_label_ids_follow_the_ground_truth_contract(schema, data):
    header, rows = data
    plan = plan_replay(header, rows, schema, initial_fraction=0.2, window_rows=201, request_rows=100)
    window = plan.windows[2]
    ids = window.label_ids()
    assert ids[:2] == ["w2-0:0", "w2-0:1"] and ids[100] == "w2-1:0"
    assert ids[-1] == "w2-2"  # a one-row request is labelled by its InferenceId itself
    assert [r[1] for r in window.requests()] == ["w2-0", "w2-1", "w2-2"]
    assert label_ids("x", 1) == ["x"] and label_ids("x", 3) == ["x:0", "x:1", "x:2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"window_rows": 5_000}, "larger than"),
        ({"initial_fraction": 1.0}, "--initial-fraction"),
        ({"label_delay": -1}, "--label-delay"),
        ({"time_column": "when"}, "not a column"),
    ],
)
def test_bad_options_end_with_one_reason(schema, data, change, message):
    header, rows = data
    with pytest.raises(BacktestInputError, match=message):
        plan_replay(header, rows, schema, **change)


def test_bad_data_ends_with_one_reason(schema, data):
    header, rows = data
    with pytest.raises(BacktestInputError, match="lacks"):
        plan_replay([h for h in header if h != "load"], rows, schema)
    broken = [dict(row) for row in rows]
    broken[7]["time"] = "yesterday"
    with pytest.raises(BacktestInputError, match="ISO-8601"):
        plan_replay(header, broken, schema)
    broken = [dict(row) for row in rows]
    broken[3]["failure"] = "maybe"
    with pytest.raises(BacktestInputError, match="outside"):
        plan_replay(header, broken, schema)
