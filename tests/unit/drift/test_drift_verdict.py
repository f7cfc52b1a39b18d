"""pipelines.drift.verdict: the decision rule and its behaviour on awkward windows."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from pipelines.drift.baseline import build_baseline
from pipelines.drift.verdict import DriftReport, VerdictThresholds, assess_drift


@pytest.fixture(scope="module")
def baseline(synthetic) -> dict:
    rng = np.random.default_rng(1)
    predictions = rng.beta(2.0, 5.0, size=synthetic.rows)
    return build_baseline(
        synthetic.schema, synthetic.columns, predictions, importance={"x": 0.8, "color": 0.2, "const": 0.0}
    )


def _feature(report: DriftReport, name: str):
    return next(f for f in report.features if f.name == name)


def _assert_strict_json(report: DriftReport) -> None:
    document = report.to_dict()
    assert json.loads(json.dumps(document, allow_nan=False)) == document


def test_window_from_the_baseline_distribution_is_no_drift(baseline, make_window, thresholds) -> None:
    report = assess_drift(baseline, make_window(500, seed=1), config=thresholds)
    assert report.verdict == "no_drift" and report.drift_detected is False
    assert report.records == 500 and report.drift_share == 0.0 and report.impact == 0.0
    assert report.feature_alpha == pytest.approx(thresholds.alpha / 3)  # Bonferroni over the three features
    assert [f.name for f in report.features] == ["x", "const", "color"]
    x = _feature(report, "x")
    assert x.kind == "numeric" and x.pvalue == x.ks_pvalue and x.chi2_statistic is None
    assert x.reason.startswith("not significant")
    color = _feature(report, "color")
    assert color.kind == "categorical" and color.pvalue == color.chi2_pvalue and color.ks_statistic is None
    assert report.prediction_psi is None  # no predictions given
    _assert_strict_json(report)


def test_a_one_sd_shift_is_drift_and_impact_follows_importance(baseline, make_window, thresholds) -> None:
    report = assess_drift(baseline, make_window(500, seed=2, shift=1.0), config=thresholds)
    assert report.verdict == "drift" and report.drift_detected
    assert report.drifted_features == ("x",)
    x = _feature(report, "x")
    assert x.pvalue < report.feature_alpha and x.psi >= thresholds.min_psi and x.ks_statistic >= thresholds.min_ks
    assert x.reason.startswith("drift:")
    assert report.drift_share == pytest.approx(1 / 3)
    assert report.impact == pytest.approx(0.8)
    _assert_strict_json(report)


def test_impact_falls_back_to_drift_share_without_importance(synthetic, make_window, thresholds) -> None:
    plain = build_baseline(synthetic.schema, synthetic.columns)
    assert "importance" not in plain and "prediction" not in plain
    report = assess_drift(plain, make_window(500, seed=2, shift=1.0), predictions=[0.5] * 500, config=thresholds)
    assert report.impact == report.drift_share == pytest.approx(1 / 3)
    assert report.prediction_psi is None  # nothing to compare predictions with


def test_significance_alone_is_not_drift(baseline, make_window, thresholds) -> None:
    """A large window makes a harmless 0.15 SD shift highly significant; the effect size gate holds."""
    report = assess_drift(baseline, make_window(20_000, seed=3, shift=0.15), config=thresholds)
    x = _feature(report, "x")
    assert x.pvalue < report.feature_alpha
    assert x.psi < thresholds.min_psi and x.ks_statistic < thresholds.min_ks
    assert not x.drifted and x.reason.startswith("significant but small")
    assert report.verdict == "no_drift"


def test_an_effect_size_alone_is_not_drift(baseline, make_window, thresholds) -> None:
    """A 1 SD shift in 12 values has a large PSI and KS but no significance after correction."""
    config = dataclasses.replace(thresholds, min_records=10)
    report = assess_drift(baseline, make_window(12, seed=4, shift=1.0), config=config)
    x = _feature(report, "x")
    assert x.ks_statistic >= thresholds.min_ks and x.pvalue >= report.feature_alpha
    assert not x.drifted and report.verdict == "no_drift"


def test_bonferroni_correction_prevents_an_alarm_a_single_test_would_raise(synthetic, thresholds) -> None:
    """Find a window whose KS p-value lies between alpha/3 and alpha: drift for a one-feature baseline,
    none for the three-feature baseline (effect-size gates off to isolate the correction)."""
    three = build_baseline(synthetic.schema, synthetic.columns)
    one = {**three, "numeric": {"x": three["numeric"]["x"]}, "categorical": {}}
    config = dataclasses.replace(thresholds, min_psi=0.0, min_ks=0.0)
    rng = np.random.default_rng(8)
    for _ in range(500):
        window = {"x": rng.normal(loc=0.2, size=300), "const": np.full(300, 7.0), "color": ["red"] * 300}
        p = _feature(assess_drift(one, window, config=config), "x").pvalue
        if thresholds.alpha / 3 < p < thresholds.alpha:
            break
    else:
        pytest.fail("no window with a p-value between alpha/3 and alpha")
    assert assess_drift(one, window, config=config).drifted_features == ("x",)
    assert "x" not in assess_drift(three, window, config=config).drifted_features


def test_tiny_window_is_insufficient_data_even_when_it_shifted(baseline, make_window, thresholds) -> None:
    report = assess_drift(baseline, make_window(50, seed=5, shift=3.0), config=thresholds)
    assert report.verdict == "insufficient_data" and report.drift_detected is False
    assert report.records == 50 and report.drift_share == 0.0
    x = _feature(report, "x")
    assert x.psi is not None and x.psi > 1.0  # the statistics are still there, for the record
    assert x.reason.startswith(f"insufficient data: 50 records < {thresholds.min_records}")
    _assert_strict_json(report)


def test_empty_window_is_insufficient_data(baseline, thresholds) -> None:
    report = assess_drift(baseline, {}, config=thresholds)
    assert report.verdict == "insufficient_data" and report.records == 0
    assert all(f.psi is None and "absent" in f.reason for f in report.features)
    empty_columns = assess_drift(baseline, {"x": [], "const": [], "color": []}, config=thresholds)
    assert empty_columns.records == 0 and not empty_columns.drift_detected
    assert all(f.reason == "no usable values in the window" for f in empty_columns.features)
    _assert_strict_json(report)
    _assert_strict_json(empty_columns)


def test_feature_absent_from_the_window_is_reported_not_fatal(baseline, make_window, thresholds) -> None:
    window = make_window(500, seed=6, shift=1.0)
    del window["color"]
    report = assess_drift(baseline, window, config=thresholds)
    color = _feature(report, "color")
    assert color.reason.startswith("absent") and color.missing_fraction == 1.0
    assert color.psi is None and color.pvalue is None and not color.drifted
    assert report.drifted_features == ("x",)  # the others are still judged
    _assert_strict_json(report)


def test_missing_values_are_dropped_and_reported(baseline, make_window, thresholds) -> None:
    window = make_window(1000, seed=7)
    x = window["x"].astype(object)
    x[:100], x[100:200], x[200:250], x[250:300] = None, np.nan, "", "not a number"
    color = window["color"].copy()
    color[:100] = None
    report = assess_drift(baseline, {**window, "x": x, "color": color}, config=thresholds)
    assert _feature(report, "x").missing_fraction == pytest.approx(0.3)
    assert _feature(report, "x").values == 700
    assert _feature(report, "color").missing_fraction == pytest.approx(0.1)
    assert report.verdict == "no_drift"
    _assert_strict_json(report)


def test_feature_with_too_few_usable_values_is_not_judged(baseline, make_window, thresholds) -> None:
    window = make_window(500, seed=8, shift=2.0)
    x = window["x"].astype(object)
    x[50:] = None  # 50 usable values left
    report = assess_drift(baseline, {**window, "x": x}, config=thresholds)
    feature = _feature(report, "x")
    assert not feature.drifted and feature.reason.startswith("not judged: 50 usable values")
    assert feature.missing_fraction == pytest.approx(0.9)


def test_unseen_categories_are_drift_evidence(baseline, make_window, thresholds) -> None:
    window = make_window(500, seed=9)
    color = window["color"].copy()
    color[:75] = "purple"
    report = assess_drift(baseline, {**window, "color": color}, config=thresholds)
    feature = _feature(report, "color")
    assert feature.drifted and feature.unseen_categories == ("purple",)
    assert feature.window_proportions[-1] == pytest.approx(0.15)
    assert len(feature.window_proportions) == 5  # red, green, blue, never, (unseen)
    assert math.isfinite(feature.chi2_statistic)


def test_a_single_unseen_value_is_significant_but_small(baseline, make_window, thresholds) -> None:
    window = make_window(500, seed=10)
    color = window["color"].copy()
    color[0] = "purple"
    feature = _feature(assess_drift(baseline, {**window, "color": color}, config=thresholds), "color")
    assert feature.pvalue < thresholds.alpha / 3 and feature.psi < thresholds.min_psi
    assert not feature.drifted and feature.reason.startswith("significant but small")


def test_constant_column(baseline, make_window, thresholds) -> None:
    same = _feature(assess_drift(baseline, make_window(500, seed=11), config=thresholds), "const")
    assert same.psi == pytest.approx(0.0, abs=1e-12) and same.ks_statistic == 0.0 and not same.drifted
    window = make_window(500, seed=11)
    moved = _feature(assess_drift(baseline, {**window, "const": np.full(500, 8.0)}, config=thresholds), "const")
    assert moved.drifted and moved.ks_statistic == 1.0 and math.isfinite(moved.psi)


def test_prediction_psi_separates_stable_from_moved_predictions(baseline, thresholds) -> None:
    rng = np.random.default_rng(12)
    window = {"x": rng.normal(size=500), "const": np.full(500, 7.0), "color": ["red"] * 500}
    stable = assess_drift(baseline, window, predictions=rng.beta(2.0, 5.0, size=500), config=thresholds)
    moved = assess_drift(baseline, window, predictions=rng.beta(5.0, 2.0, size=500), config=thresholds)
    assert stable.prediction_psi < 0.1 < 0.25 < moved.prediction_psi
    assert sum(moved.prediction_proportions) == pytest.approx(1.0)
    assert assess_drift(baseline, window, predictions=[None, float("nan")], config=thresholds).prediction_psi is None


def test_window_columns_of_different_lengths_are_refused(baseline, thresholds) -> None:
    with pytest.raises(ValueError, match="differ in length"):
        assess_drift(baseline, {"x": [1.0, 2.0], "color": ["red"]}, config=thresholds)
    # columns the baseline does not monitor are not read
    report = assess_drift(baseline, {"x": [1.0, 2.0], "id": [1, 2, 3]}, config=thresholds)
    assert report.records == 2


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"numeric": {}, "categorical": {}}, "monitors no feature"),
        ({"version": 2, "numeric": {"x": {}}}, "version 2"),
        ({"numeric": {"x": {"edges": [0.0], "proportions": [0.5, 0.5]}}}, "lacks \\['sample'\\]"),
        ({"categorical": {"c": {"shares": {}}}}, "categorical feature 'c' lacks"),
    ],
)
def test_malformed_baseline_is_refused_with_a_clear_message(broken: dict, message: str, thresholds) -> None:
    with pytest.raises(ValueError, match=message):
        assess_drift(broken, {"x": [1.0]}, config=thresholds)


@pytest.mark.parametrize(
    "kwargs", [{"alpha": 0.0}, {"alpha": 1.0}, {"min_psi": -0.1}, {"min_ks": 1.5}, {"min_records": 0}]
)
def test_thresholds_are_validated(kwargs, thresholds) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(thresholds, **kwargs)


def test_thresholds_have_no_defaults_and_come_from_cdk_json(thresholds, drift_context) -> None:
    """The only defaults are cdk.json's: the class and the verdict need every value passed."""
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(VerdictThresholds))
    assert dataclasses.fields(DriftReport)[-1].default is dataclasses.MISSING  # config
    with pytest.raises(TypeError):
        VerdictThresholds()  # type: ignore[call-arg]
    drift = drift_context
    assert thresholds.to_dict() == {k: drift[k] for k in ("alpha", "minPsi", "minKs", "minRecords", "minPredictionPsi")}
    with pytest.raises(ValueError, match="minKs"):
        VerdictThresholds.from_context({k: v for k, v in drift.items() if k != "minKs"})


def test_report_document_is_camel_case_and_names_its_thresholds(
    baseline, make_window, thresholds, drift_context
) -> None:
    """report.json's keys are camelCase throughout (docs/ARCHITECTURE.md); the config block names the
    thresholds with cdk.json's own keys and values."""
    document = assess_drift(baseline, make_window(500, seed=13, shift=1.0), config=thresholds).to_dict()
    drift = drift_context
    assert document["config"] == {k: drift[k] for k in ("alpha", "minPsi", "minKs", "minRecords", "minPredictionPsi")}
    assert set(document) == {
        "verdict",
        "driftDetected",
        "driftShare",
        "records",
        "impact",
        "predictionPsi",
        "featureAlpha",
        "driftedFeatures",
        "features",
        "predictionProportions",
        "config",
    }
    assert document["driftedFeatures"] == ["x"] and document["driftDetected"] is True
    for feature in document["features"]:
        assert set(feature) == {
            "name",
            "kind",
            "psi",
            "ksStatistic",
            "ksPvalue",
            "chi2Statistic",
            "chi2Pvalue",
            "pvalue",
            "drifted",
            "reason",
            "missingFraction",
            "values",
            "windowProportions",
            "unseenCategories",
        }


def test_feature_drift_the_predictions_do_not_feel_is_absorbed_not_alarmed(baseline, make_window, thresholds) -> None:
    """Input drift with unmoved predictions is reported but does not feed the alarm; moved
    predictions (or none captured) make the same feature drift an alarm."""
    window = make_window(500, seed=21, shift=1.0)
    base_predictions = baseline["prediction"]
    assert base_predictions, "the fixture baseline carries a prediction distribution"
    calm = np.random.default_rng(5).beta(2.0, 5.0, size=500)  # the baseline's prediction distribution
    alarmed = np.random.default_rng(5).beta(5.0, 2.0, size=500)

    absorbed = assess_drift(baseline, window, predictions=calm, config=thresholds)
    moved = assess_drift(baseline, window, predictions=alarmed, config=thresholds)
    unknown = assess_drift(baseline, window, config=thresholds)
    gate_off = assess_drift(
        baseline, window, predictions=calm, config=dataclasses.replace(thresholds, min_prediction_psi=0.0)
    )

    assert absorbed.drifted_features == ("x",)
    assert (absorbed.verdict, absorbed.drift_detected) == ("absorbed", False)
    assert absorbed.prediction_psi is not None and absorbed.prediction_psi < 0.1
    assert (moved.verdict, moved.drift_detected) == ("drift", True)
    assert (unknown.verdict, unknown.drift_detected) == ("drift", True)
    assert (gate_off.verdict, gate_off.drift_detected) == ("drift", True)
