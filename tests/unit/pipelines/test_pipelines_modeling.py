"""pipelines.modeling: reading data against the schema, the model pipeline, threshold and metrics."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from pipelines import modeling
from pipelines.schema import DatasetSchema, load_schema, parse_schema

REPO = Path(__file__).resolve().parents[3]
SCHEMA = load_schema(REPO / "schemas" / "ai4i2020.schema.json")
DATA = REPO / "data" / "ai4i2020.csv"


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """Small fits are fastest single-threaded, and OpenMP spin-waits badly on a busy 2-core runner."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stratified 900-row sample of the real data, written as the raw CSV text."""
    frame = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    sample, _ = train_test_split(frame, train_size=900, stratify=frame["Machine failure"], random_state=0)
    path = tmp_path_factory.mktemp("data") / "data.csv"
    sample.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def xy(sample_csv: Path) -> tuple[pd.DataFrame, np.ndarray]:
    return modeling.features_and_labels(modeling.read_dataset([sample_csv], SCHEMA), SCHEMA)


# ------------------------------------------------------------------------------------------- data


def test_features_drop_id_and_leak_columns_and_labels_are_binary(xy: tuple[pd.DataFrame, np.ndarray]) -> None:
    features, labels = xy
    assert list(features.columns) == list(SCHEMA.feature_names)
    assert not {"UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF", "Machine failure"} & set(features.columns)
    assert features["Torque [Nm]"].dtype == np.float64
    assert set(features["Type"]) <= {"L", "M", "H"}
    assert set(np.unique(labels)) == {0, 1}
    assert 15 <= labels.sum() <= 45  # ~3.4 % of 900, kept by the stratified sample


def test_read_dataset_concatenates_files_in_any_column_order(sample_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(sample_csv, dtype=str, keep_default_na=False)
    reordered = tmp_path / "b.csv"
    frame[list(reversed(frame.columns))].head(10).to_csv(reordered, index=False)
    both = modeling.read_dataset([sample_csv, reordered], SCHEMA)
    assert len(both) == 910
    assert list(both.columns) == list(SCHEMA.column_names)


def test_header_mismatch_names_missing_and_extra_columns(sample_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(sample_csv, dtype=str, keep_default_na=False)
    bad = frame.drop(columns=["Torque [Nm]"]).assign(Humidity="1")
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(modeling.DataError) as caught:
        modeling.read_dataset([path], SCHEMA)
    message = str(caught.value)
    assert "bad.csv" in message and "missing columns ['Torque [Nm]']" in message
    assert "unexpected columns ['Humidity']" in message


def test_non_numeric_value_names_the_column(sample_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(sample_csv, dtype=str, keep_default_na=False)
    frame.loc[frame.index[3], "Tool wear [min]"] = "twelve"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(modeling.DataError, match=r"'Tool wear \[min\]' has 1 non-numeric value.*'twelve'"):
        modeling.read_dataset([path], SCHEMA)


def test_only_an_empty_field_is_missing(tmp_path: Path) -> None:
    """'NA' is a category here, as it is for the validate Lambda's Column.parse; '' is missing."""
    schema = _tiny_schema(categories=["NA", "B"], nullable=True)
    path = tmp_path / "d.csv"
    path.write_text("x,c,y\n1.5,NA,0\n,B,1\n2.5,,0\n", encoding="utf-8")
    frame = modeling.read_dataset([path], schema)
    features, labels = modeling.features_and_labels(frame, schema)
    assert features["c"].tolist() == ["NA", "B", None]
    assert np.isnan(features["x"].iloc[1]) and features["x"].iloc[0] == 1.5
    assert labels.tolist() == [0, 1, 0]


@pytest.mark.parametrize(("value", "message"), [("2", "outside its categories"), ("0.5", "not an integer")])
def test_bad_label_is_refused(tmp_path: Path, value: str, message: str) -> None:
    schema = _tiny_schema()
    path = tmp_path / "d.csv"
    path.write_text(f"x,c,y\n1,A,0\n2,B,{value}\n", encoding="utf-8")
    with pytest.raises(modeling.DataError, match=message):
        modeling.features_and_labels(modeling.read_dataset([path], schema), schema)


def test_text_labels_map_positive_label_to_one(tmp_path: Path) -> None:
    raw = _tiny_raw()
    raw["columns"][2].update(type="categorical", categories=["ok", "fail"])
    raw["positiveLabel"] = "fail"
    schema = parse_schema(raw)
    path = tmp_path / "d.csv"
    path.write_text("x,c,y\n1,A,ok\n2,B,fail\n3,A,ok\n", encoding="utf-8")
    _, labels = modeling.features_and_labels(modeling.read_dataset([path], schema), schema)
    assert labels.tolist() == [0, 1, 0]


# ------------------------------------------------------------------------------------------ model


@pytest.mark.parametrize("model_type", modeling.MODEL_TYPES)
def test_every_model_type_fits_and_ranks_better_than_chance(
    model_type: str, xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    features, labels = xy
    x_tr, x_te, y_tr, y_te = train_test_split(features, labels, test_size=0.3, stratify=labels, random_state=1)
    pipeline = modeling.build_pipeline(SCHEMA, model_type, seed=1).fit(x_tr, y_tr)
    proba = modeling.positive_probabilities(pipeline, x_te)
    assert proba.shape == (len(y_te),) and ((proba >= 0) & (proba <= 1)).all()
    assert modeling.classification_metrics(y_te, proba, 0.5)["roc_auc"] > 0.75


def test_only_the_linear_model_is_scaled() -> None:
    def has_scaler(model_type: str) -> bool:
        numeric = modeling.build_pipeline(SCHEMA, model_type).named_steps["preprocess"].transformers[0][1]
        return any(isinstance(step, StandardScaler) for _, step in numeric.steps)

    assert has_scaler("logistic_regression")
    assert not has_scaler("hist_gradient_boosting") and not has_scaler("random_forest")


def test_unknown_model_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model type 'xgboost'"):
        modeling.build_pipeline(SCHEMA, "xgboost")


def test_unseen_category_and_missing_number_still_predict(xy: tuple[pd.DataFrame, np.ndarray]) -> None:
    features, labels = xy
    pipeline = modeling.build_pipeline(SCHEMA).fit(features, labels)
    odd = features.head(2).copy()
    odd.loc[odd.index[0], "Type"] = "Z"
    odd.loc[odd.index[1], "Torque [Nm]"] = np.nan
    proba = modeling.positive_probabilities(pipeline, odd)
    assert np.isfinite(proba).all()
    # The encoder's categories come from the schema, not from whatever the sample held.
    encoder = pipeline.named_steps["preprocess"].named_transformers_["categorical"]
    assert [list(c) for c in encoder.categories_] == [["L", "M", "H"]]


# -------------------------------------------------------------------------------- threshold, metrics


def test_best_f1_threshold_on_a_worked_example() -> None:
    # t=0.35 -> predicted {0.35, 0.4, 0.8}: TP 2, FP 1 -> F1 0.8, better than every other cut.
    assert modeling.best_f1_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.35


def test_best_f1_threshold_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 150)
    proba = np.clip(labels * 0.3 + rng.normal(0.35, 0.2, 150), 0, 1)
    best = max(np.unique(proba), key=lambda t: f1_score(labels, proba >= t))
    chosen = modeling.best_f1_threshold(labels, proba)
    assert f1_score(labels, proba >= chosen) == pytest.approx(f1_score(labels, proba >= best))


def test_best_f1_threshold_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        modeling.best_f1_threshold(np.zeros(5, dtype=int), np.linspace(0, 1, 5))


def test_classification_metrics_at_a_threshold() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    proba = np.array([0.1, 0.2, 0.7, 0.6, 0.9])
    metrics = modeling.classification_metrics(labels, proba, 0.5)
    # predicted 0,0,1,1,1: TP 2, FP 1, FN 0
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == 1.0
    assert metrics["f1"] == pytest.approx(0.8)
    assert metrics["accuracy"] == pytest.approx(0.8)
    assert metrics["roc_auc"] == pytest.approx(5 / 6)  # one of six positive/negative pairs misordered
    assert metrics["threshold"] == 0.5
    assert set(metrics) == set(modeling.METRIC_NAMES)
    json.dumps(metrics)  # plain floats, ready for metrics.json


def test_out_of_fold_probabilities_are_deterministic_and_not_in_sample(
    xy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    features, labels = xy
    pipeline = modeling.build_pipeline(SCHEMA, seed=2)
    first = modeling.out_of_fold_probabilities(pipeline, features, labels, seed=2)
    again = modeling.out_of_fold_probabilities(pipeline, features, labels, seed=2)
    assert first.shape == (len(labels),)
    np.testing.assert_array_equal(first, again)
    in_sample = modeling.positive_probabilities(pipeline.fit(features, labels), features)
    # A boosted model nearly memorises its own training rows; held-out rows score worse.
    in_auc = modeling.classification_metrics(labels, in_sample, 0.5)["roc_auc"]
    oof_auc = modeling.classification_metrics(labels, first, 0.5)["roc_auc"]
    assert oof_auc < in_auc


def test_importance_shares_find_the_informative_feature() -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    frame = pd.DataFrame({"x": x, "c": rng.choice(["A", "B"], n), "y": (x + rng.normal(0, 0.3, n) > 1).astype(int)})
    schema = _tiny_schema()
    features, labels = modeling.features_and_labels(frame, schema)
    pipeline = modeling.build_pipeline(schema, seed=0).fit(features, labels)
    importances = modeling.permutation_importances(pipeline, features, labels, seed=0)
    assert set(importances) == {"x", "c"} and importances["x"]["mean"] > 0.1 and importances["x"]["std"] >= 0.0
    shares = modeling.importance_shares(importances)
    assert set(shares) == {"x", "c"}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert min(shares.values()) >= 0.0
    assert shares["x"] > 0.9
    # No feature helps: equal shares rather than a division by zero.
    assert modeling.importance_shares({"a": {"mean": -0.1, "std": 0.0}, "b": {"mean": 0.0, "std": 0.0}}) == {
        "a": 0.5,
        "b": 0.5,
    }


def test_segment_metrics_are_per_category_and_honest_about_one_class() -> None:
    frame = pd.DataFrame(
        {"x": [0.1, 0.9, 0.2, 0.8, 0.3, 0.4], "c": ["A", "A", "A", "A", "B", "B"], "y": [0, 1, 0, 1, 0, 0]}
    )
    schema = _tiny_schema()
    features, labels = modeling.features_and_labels(frame, schema)
    probabilities = np.asarray([0.1, 0.9, 0.3, 0.7, 0.2, 0.6])
    segments = modeling.segment_metrics(schema, features, labels, probabilities, threshold=0.5)
    assert set(segments) == {"c"}
    a, b = segments["c"]["A"], segments["c"]["B"]
    assert (a["rows"], a["positives"], a["roc_auc"], a["accuracy"]) == (4, 2, 1.0, 1.0)
    assert (b["rows"], b["positives"], b["roc_auc"], b["pr_auc"]) == (2, 0, None, None)
    assert b["accuracy"] == 0.5  # 0.6 >= 0.5 is a false positive


def test_baseline_columns_are_plain_python(xy: tuple[pd.DataFrame, np.ndarray]) -> None:
    features, _ = xy
    columns = modeling.baseline_columns(features, SCHEMA)
    assert list(columns) == list(SCHEMA.feature_names)
    assert all(type(v) is float for v in columns["Torque [Nm]"])
    assert all(type(v) is str for v in columns["Type"])
    assert len(columns["Type"]) == len(features)


# ---------------------------------------------------------------------------------------- helpers


def _tiny_raw(categories: list[str] | None = None, nullable: bool = False) -> dict:
    return {
        "name": "tiny",
        "problemType": "binary_classification",
        "target": "y",
        "positiveLabel": 1,
        "columns": [
            {"name": "x", "type": "float", "nullable": nullable},
            {
                "name": "c",
                "type": "categorical",
                "categories": categories or ["A", "B"],
                "nullable": nullable,
            },
            {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
        ],
    }


def _tiny_schema(categories: list[str] | None = None, nullable: bool = False) -> DatasetSchema:
    return parse_schema(_tiny_raw(categories, nullable))


# ------------------------------------------------------------------------- optional columns, time


def test_id_and_leak_columns_may_be_absent(sample_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(sample_csv, dtype=str, keep_default_na=False)
    optional = [c.name for c in SCHEMA.optional_columns]
    lean = tmp_path / "lean.csv"
    frame.drop(columns=optional).head(20).to_csv(lean, index=False)
    alone = modeling.read_dataset([lean], SCHEMA)
    assert list(alone.columns) == [c.name for c in SCHEMA.required_columns]  # absent, not invented
    features, labels = modeling.features_and_labels(alone, SCHEMA)
    assert list(features.columns) == list(SCHEMA.feature_names) and len(labels) == 20

    both = modeling.read_dataset([sample_csv, lean], SCHEMA)
    assert len(both) == 920 and list(both.columns) == list(SCHEMA.column_names)  # schema order kept
    assert both["UDI"].iloc[-20:].isna().all() and both["UDI"].iloc[:900].notna().all()


def test_a_missing_required_column_is_still_refused(sample_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(sample_csv, dtype=str, keep_default_na=False)
    path = tmp_path / "no-target.csv"
    frame.drop(columns=["Machine failure", "UDI"]).to_csv(path, index=False)
    with pytest.raises(modeling.DataError, match=r"missing columns \['Machine failure'\]$"):
        modeling.read_dataset([path], SCHEMA)


def _timed_schema(time_type: str) -> DatasetSchema:
    raw = _tiny_raw()
    raw["columns"].insert(0, {"name": "t", "type": time_type, "role": "time"})
    return parse_schema(raw)


def test_iso_time_column_is_text_with_utc_sort_keys(tmp_path: Path) -> None:
    schema = _timed_schema("string")
    path = tmp_path / "d.csv"
    path.write_text(
        "t,x,c,y\n2026-01-01T02:00:00+02:00,1,A,0\n2026-01-01T00:30:00Z,2,B,1\n2025-12-31,3,A,0\n", encoding="utf-8"
    )
    frame = modeling.read_dataset([path], schema)
    assert frame["t"].tolist() == ["2026-01-01T02:00:00+02:00", "2026-01-01T00:30:00Z", "2025-12-31"]
    keys = modeling.time_keys(frame, schema)
    assert keys is not None
    midnight = pd.Timestamp("2026-01-01", tz="UTC").timestamp()
    assert keys.tolist() == [midnight, midnight + 1800, midnight - 86_400]
    assert list(np.argsort(keys, kind="stable")) == [2, 0, 1]
    assert "t" not in modeling.feature_frame(frame, schema).columns


def test_numeric_time_column_keys_are_its_numbers(tmp_path: Path) -> None:
    schema = _timed_schema("integer")
    path = tmp_path / "d.csv"
    path.write_text("t,x,c,y\n30,1,A,0\n10,2,B,1\n", encoding="utf-8")
    keys = modeling.time_keys(modeling.read_dataset([path], schema), schema)
    assert keys is not None and keys.tolist() == [30.0, 10.0]
    assert modeling.time_keys(pd.DataFrame({"x": [1.0]}), _tiny_schema()) is None  # no time column


def test_bad_or_missing_timestamps_are_data_errors_naming_the_column(tmp_path: Path) -> None:
    schema = _timed_schema("string")
    frame = pd.DataFrame({"t": ["2026-01-01", "soon", "soon", "2026-02-30"], "x": 1.0, "c": "A", "y": 0})
    with pytest.raises(modeling.DataError, match=r"b\.csv: time column 't' has 3 value\(s\) .*ISO-8601.*'soon'"):
        modeling.time_keys(frame, schema, source="b.csv")
    with pytest.raises(modeling.DataError, match=r"time column 't' has 1 missing value"):
        modeling.time_keys(pd.DataFrame({"t": ["2026-01-01", None]}), schema)


# ------------------------------------------------------------------------------ threshold choosers


def _brute_force_cost(labels: np.ndarray, proba: np.ndarray, fp: float, fn: float) -> float:
    """The lowest cost over every threshold that changes a decision, plus "predict nothing"."""
    best = fn * labels.sum()
    for t in np.unique(proba):
        predicted = proba >= t
        best = min(best, fp * np.sum(predicted & (labels == 0)) + fn * np.sum(~predicted & (labels == 1)))
    return float(best)


def _cost(labels: np.ndarray, proba: np.ndarray, t: float, fp: float, fn: float) -> float:
    predicted = proba >= t
    return float(fp * np.sum(predicted & (labels == 0)) + fn * np.sum(~predicted & (labels == 1)))


@pytest.mark.parametrize(("fp", "fn"), [(1.0, 1.0), (1.0, 10.0), (5.0, 1.0), (0.3, 2.7)])
def test_min_cost_threshold_matches_brute_force(fp: float, fn: float) -> None:
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, 300)
    # Rounded, so ties between probabilities are exercised too.
    proba = np.clip(labels * 0.25 + rng.normal(0.4, 0.2, 300), 0, 1).round(2)
    chosen = modeling.min_cost_threshold(labels, proba, fp, fn)
    assert _cost(labels, proba, chosen, fp, fn) == pytest.approx(_brute_force_cost(labels, proba, fp, fn))


def test_min_cost_threshold_on_a_worked_example() -> None:
    labels = np.array([0, 0, 1, 0, 1])
    proba = np.array([0.1, 0.3, 0.4, 0.6, 0.9])
    # FP and FN cost alike: t=0.9 (FN 1) and t=0.4 (FP 1) tie at cost 1; the higher threshold wins.
    assert modeling.min_cost_threshold(labels, proba, 1.0, 1.0) == 0.9
    # A miss costing 5 false alarms: catch both positives at t=0.4 (cost 1).
    assert modeling.min_cost_threshold(labels, proba, 1.0, 5.0) == 0.4
    # The top score is a negative and a false alarm costs 10 misses: predict nothing (cost 2), with a
    # threshold above every probability.
    proba = np.array([0.1, 0.3, 0.4, 0.9, 0.6])
    assert modeling.min_cost_threshold(labels, proba, 1.0, 1.0) == 0.4  # FP 1, FN 0: the one optimum
    nothing = modeling.min_cost_threshold(labels, proba, 10.0, 1.0)
    assert nothing > 0.9 and not (proba >= nothing).any()


def test_min_cost_threshold_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        modeling.min_cost_threshold(np.ones(4, dtype=int), np.linspace(0, 1, 4), 1.0, 1.0)


def test_threshold_rule_parses_and_chooses() -> None:
    labels = np.array([0, 0, 1, 1])
    proba = np.array([0.1, 0.4, 0.35, 0.8])
    assert modeling.ThresholdRule.parse("best_f1").choose(labels, proba) == 0.35
    assert modeling.ThresholdRule.parse(" cost ", 1.0, 1.0).choose(labels, proba) == pytest.approx(
        modeling.min_cost_threshold(labels, proba, 1.0, 1.0)
    )
    fixed = modeling.ThresholdRule.parse("0.25")
    assert (fixed.mode, fixed.needs_out_of_fold, fixed.choose()) == ("fixed", False, 0.25)
    assert fixed.describe(0.25) == {"mode": "fixed", "value": 0.25, "falsePositiveCost": 1.0, "falseNegativeCost": 1.0}
    with pytest.raises(ValueError, match="needs labels"):
        modeling.ThresholdRule("best_f1").choose()


@pytest.mark.parametrize(
    ("text", "fp", "fn", "message"),
    [
        ("f1", 1.0, 1.0, "best_f1 or cost or a number"),
        ("1", 1.0, 1.0, r"in \(0, 1\)"),
        ("0.0", 1.0, 1.0, r"in \(0, 1\)"),
        ("nan", 1.0, 1.0, r"in \(0, 1\)"),
        ("cost", 0.0, 1.0, "false-positive cost must be a positive number"),
        ("cost", 1.0, math.inf, "false-negative cost must be a positive number"),
    ],
)
def test_threshold_rule_refuses_bad_settings(text: str, fp: float, fn: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        modeling.ThresholdRule.parse(text, fp, fn)


def test_read_files_tracks_each_rows_file_and_names_the_bad_one(tmp_path: Path) -> None:
    schema = _tiny_schema()
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("x,c,y\n1,A,0\n2,B,1\n", encoding="utf-8")
    second.write_text("c,y,x\nA,1,3\n", encoding="utf-8")
    frame, origin = modeling.read_files([first, second], schema, names=["batch a", "batch b"])
    assert frame["x"].tolist() == [1.0, 2.0, 3.0] and origin.tolist() == [0, 0, 1]
    second.write_text("x,c,y\n3,A,1\nthree,B,0\n", encoding="utf-8")
    with pytest.raises(modeling.DataError, match=r"^batch b: column 'x' has 1 non-numeric value\(s\), e\.g\. 'three'"):
        modeling.read_files([first, second], schema, names=["batch a", "batch b"])
