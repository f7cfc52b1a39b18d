"""The generated stream: deterministic, schema-valid, and its concept changes are real changes."""

import csv

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from mlops.backtest import generator
from pipelines.schema import load_schema, parse_schema

ROWS = 12_000


@pytest.fixture(scope="module")
def stream():
    return generator.generate(ROWS)


def _matrix(stream, rows):
    columns = stream.columns
    features = [columns.index(name) for name in generator.FEATURES]
    line = columns.index("line")
    return np.array([[float(row[i]) for i in features] + [generator.LINES.index(row[line])] for row in rows])


def test_same_seed_same_stream_and_another_seed_another_one():
    assert generator.generate(400, seed=3).rows == generator.generate(400, seed=3).rows
    assert generator.generate(400, seed=3).rows != generator.generate(400, seed=4).rows


def test_rows_follow_their_schema_and_the_clock(stream):
    schema = parse_schema(generator.schema_document())
    assert schema.column_names == stream.columns
    assert schema.time_column is not None and schema.time_column.name == generator.TIME_COLUMN
    assert generator.TIME_COLUMN not in schema.feature_names
    for row in stream.rows[:: ROWS // 50]:
        for column, raw in zip(schema.columns, row, strict=True):
            assert column.violation(column.parse(raw)) is None, (column.name, raw)
    assert stream.rows[0][0] == "2026-01-01T00:00:00Z"
    assert stream.rows[12][0] == "2026-01-01T01:00:00Z"  # five minutes apart


def test_every_regime_has_a_moderate_positive_rate(stream):
    labels = stream.labels()
    assert stream.change_rows == (round(0.45 * ROWS), round(0.75 * ROWS))
    for regime in range(3):
        rate = labels[stream.regimes == regime].mean()
        assert 0.25 <= rate <= 0.45, (regime, rate)


def test_a_model_of_one_regime_fails_on_the_next(stream):
    X, y = _matrix(stream, stream.rows), stream.labels()
    for regime in (0, 1):
        rows = np.flatnonzero(stream.regimes == regime)
        train, holdout = rows[: len(rows) * 3 // 4], rows[len(rows) * 3 // 4 :]
        model = HistGradientBoostingClassifier(random_state=0).fit(X[train], y[train])
        fresh = (model.predict(X[holdout]) == y[holdout]).mean()
        after = stream.regimes == regime + 1
        stale = (model.predict(X[after]) == y[after]).mean()
        assert 0.84 <= fresh <= 0.93, (regime, fresh)
        assert 0.55 <= stale <= 0.72, (regime, stale)


def test_the_temperature_drifts_but_the_label_ignores_it(stream):
    temperature = _matrix(stream, stream.rows)[:, 0]
    start, end = temperature[: ROWS // 10], temperature[-ROWS // 10 :]
    assert end.mean() - start.mean() > 2 * start.std()  # a drift any test sees
    labels = stream.labels()
    for regime in range(3):
        mask = stream.regimes == regime
        assert abs(np.corrcoef(temperature[mask], labels[mask])[0, 1]) < 0.05


def test_change_one_moves_the_load_and_change_two_moves_no_input(stream):
    load = _matrix(stream, stream.rows)[:, generator.FEATURES.index("load")]
    first, second = stream.change_rows
    sd = load[:first].std()
    assert load[first:second].mean() - load[:first].mean() > 0.8 * sd
    assert abs(load[second:].mean() - load[first:second].mean()) < 0.1 * sd


def test_write_stream_writes_the_csv_and_a_loadable_schema(tmp_path):
    data, schema_path = generator.write_stream(tmp_path, 300, seed=5)
    schema = load_schema(schema_path)
    with data.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == schema.column_names
    assert len(rows) == 301


@pytest.mark.parametrize("kwargs", [{"rows": 5}, {"interval_minutes": 0}, {"change_fractions": (0.8, 0.2)}])
def test_bad_arguments_are_refused(kwargs):
    rows = kwargs.pop("rows", 100)
    with pytest.raises(ValueError):
        generator.generate(rows, **kwargs)
