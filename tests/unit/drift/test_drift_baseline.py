"""pipelines.drift.baseline: the baseline.json document of docs/ARCHITECTURE.md."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.drift.baseline import build_baseline


def test_document_has_the_contracted_shape(ai4i) -> None:
    predictions = np.random.default_rng(0).beta(0.3, 8.0, size=ai4i.rows)
    baseline = build_baseline(ai4i.schema, ai4i.columns, predictions, {"Torque [Nm]": 3.0, "Type": 1.0})
    assert baseline["version"] == 1
    assert baseline["dataset"] == "ai4i2020"
    assert baseline["rows"] == 10_000
    assert list(baseline["numeric"]) == [c.name for c in ai4i.schema.numeric_features]
    assert list(baseline["categorical"]) == ["Type"]
    for name, spec in baseline["numeric"].items():
        edges, proportions = np.array(spec["edges"]), np.array(spec["proportions"])
        assert np.all(np.diff(edges) > 0), name
        assert len(proportions) == len(edges) + 1
        assert proportions.sum() == pytest.approx(1.0)
        assert len(spec["sample"]) == 2000 and spec["sample"] == sorted(spec["sample"])
        column = ai4i.columns[name]
        assert spec["min"] == column.min() and spec["max"] == column.max()
        assert spec["mean"] == pytest.approx(column.mean()) and spec["std"] == pytest.approx(column.std(ddof=1))
        assert set(spec["sample"]) <= set(column.tolist())
    # deciles of continuous-ish readings: every bin near 10 %
    assert np.allclose(baseline["numeric"]["Torque [Nm]"]["proportions"], 0.1, atol=0.01)
    assert baseline["categorical"]["Type"]["proportions"] == pytest.approx({"L": 0.6, "M": 0.2997, "H": 0.1003})
    assert baseline["importance"] == pytest.approx(
        {
            "Air temperature [K]": 0,
            "Process temperature [K]": 0,
            "Rotational speed [rpm]": 0,
            "Torque [Nm]": 0.75,
            "Tool wear [min]": 0,
            "Type": 0.25,
        }
    )
    assert sum(baseline["prediction"]["proportions"]) == pytest.approx(1.0)
    # strict JSON (no NaN / Infinity) survives a round trip unchanged
    assert json.loads(json.dumps(baseline, allow_nan=False)) == baseline


def test_sample_is_deterministic_per_seed(synthetic) -> None:
    first = build_baseline(synthetic.schema, synthetic.columns, seed=3, sample_size=100)
    again = build_baseline(synthetic.schema, synthetic.columns, seed=3, sample_size=100)
    other = build_baseline(synthetic.schema, synthetic.columns, seed=4, sample_size=100)
    assert first == again
    assert first["numeric"]["x"]["sample"] != other["numeric"]["x"]["sample"]
    assert len(first["numeric"]["x"]["sample"]) == 100


def test_constant_column_keeps_a_single_edge(synthetic) -> None:
    spec = build_baseline(synthetic.schema, synthetic.columns)["numeric"]["const"]
    assert spec["edges"] == [7.0]
    assert spec["proportions"] == [1.0, 0.0]
    assert spec["std"] == 0.0


def test_categories_declared_but_unseen_and_seen_but_undeclared(synthetic) -> None:
    columns = dict(synthetic.columns)
    columns["color"] = np.array(["red"] * 6 + ["teal"] * 2 + [None, ""], dtype=object)
    columns = {k: (v if k == "color" else v[:10]) for k, v in columns.items()}
    shares = build_baseline(synthetic.schema, columns)["categorical"]["color"]["proportions"]
    # declared order first (0 for never seen), then observed extras; missing values are not a category
    assert shares == {"red": 0.75, "green": 0.0, "blue": 0.0, "never": 0.0, "teal": 0.25}


def test_missing_values_are_ignored_and_parsed_from_text(synthetic) -> None:
    columns = {k: v[:6] for k, v in synthetic.columns.items()}
    columns["x"] = ["1.5", "", None, "nan", "2.5", "3.5"]
    spec = build_baseline(synthetic.schema, columns, bins=2)["numeric"]["x"]
    assert spec["sample"] == [1.5, 2.5, 3.5]
    assert spec["min"] == 1.5 and spec["max"] == 3.5


def test_prediction_bins_ignore_differences_below_the_resolution() -> None:
    rng = np.random.default_rng(5)
    # a rare-positive classifier: 93 % of scores between 1e-6 and 1e-3, a few confident positives
    scores = np.concatenate([10 ** rng.uniform(-6, -3, size=9300), rng.uniform(0.2, 1.0, size=700)])
    spec = _baseline_with_predictions(scores)["prediction"]
    edges = np.array(spec["edges"])
    assert edges[0] == pytest.approx(0.005)  # everything that rounds to 0.00 shares one bin
    assert np.allclose((edges / 0.01 - 0.5) % 1, 0) or np.allclose((edges / 0.01 - 0.5) % 1, 1)
    assert spec["proportions"][0] == pytest.approx(0.93, abs=0.001)
    assert len(edges) == 3  # the deciles collapse, the 95th and 99th percentiles resolve the top tail


def _baseline_with_predictions(scores: np.ndarray) -> dict:
    from pipelines.schema import parse_schema

    schema = parse_schema(
        {
            "name": "p",
            "problemType": "binary_classification",
            "target": "y",
            "positiveLabel": 1,
            "columns": [
                {"name": "a", "type": "float"},
                {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
            ],
        }
    )
    return build_baseline(schema, {"a": np.arange(scores.size, dtype=float)}, scores)


def test_importance_is_clipped_and_normalised(synthetic) -> None:
    importance = build_baseline(
        synthetic.schema, synthetic.columns, importance={"x": 0.3, "color": 0.1, "const": -0.02}
    )["importance"]
    assert importance == pytest.approx({"x": 0.75, "const": 0.0, "color": 0.25})


@pytest.mark.parametrize(
    ("mutate", "kwargs", "message"),
    [
        (lambda c: c.pop("x"), {}, "lack the schema feature"),
        (lambda c: c.update(x=c["x"][:10]), {}, "differ in length"),
        (lambda c: c.update(x=np.full(len(c["x"]), np.nan)), {}, "no finite values"),
        (lambda c: c.update(color=np.full(len(c["color"]), None)), {}, "no values"),
        (lambda c: None, {"importance": {"nope": 1.0}}, "unknown feature"),
        (lambda c: None, {"importance": {"x": float("inf")}}, "finite"),
        (lambda c: None, {"bins": 1}, "bins"),
        (lambda c: None, {"predictions": [float("nan")]}, "predictions"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(synthetic, mutate, kwargs, message) -> None:
    columns = dict(synthetic.columns)
    mutate(columns)
    with pytest.raises(ValueError, match=message):
        build_baseline(synthetic.schema, columns, **kwargs)
