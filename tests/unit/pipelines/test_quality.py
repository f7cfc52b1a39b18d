"""pipelines.quality against scikit-learn's own metrics, on random data with ties and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from pipelines.quality import QUALITY_KEYS, classification_quality, roc_auc


def sklearn_quality(labels, probabilities, predicted) -> dict:
    return {
        "labelledRecords": len(labels),
        "accuracy": accuracy_score(labels, predicted),
        "rocAuc": roc_auc_score(labels, probabilities) if len(set(labels)) == 2 else None,
        "f1": f1_score(labels, predicted, zero_division=0.0),
        "precision": precision_score(labels, predicted, zero_division=0.0),
        "recall": recall_score(labels, predicted, zero_division=0.0),
        "labelPositiveRate": float(np.mean(labels)),
    }


@pytest.mark.parametrize("seed", range(20))
def test_matches_sklearn_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    labels = (rng.random(n) < rng.uniform(0.02, 0.6)).astype(int)
    # rounded scores: many ties, which roc_auc_score averages like Mann-Whitney's ranks
    probabilities = np.clip(labels * rng.uniform(0, 0.4) + rng.random(n) * 0.7, 0, 1).round(int(rng.integers(1, 4)))
    predicted = (probabilities >= rng.uniform(0.2, 0.8)).astype(int)

    ours = classification_quality(labels.tolist(), probabilities.tolist(), predicted.tolist())

    expected = sklearn_quality(labels.tolist(), probabilities.tolist(), predicted.tolist())
    assert list(ours) == list(QUALITY_KEYS)
    for key, value in expected.items():
        assert ours[key] == (None if value is None else pytest.approx(value, abs=1e-12)), key


def test_all_scores_tied_is_one_half_and_a_perfect_ranking_is_one():
    assert roc_auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0


def test_one_class_has_no_roc_auc_and_zero_division_is_zero():
    quality = classification_quality([0, 0, 0], [0.1, 0.7, 0.2], [0, 1, 0])
    assert quality["rocAuc"] is None
    assert quality["recall"] == 0.0 and quality["precision"] == 0.0 and quality["f1"] == 0.0
    assert quality["accuracy"] == pytest.approx(2 / 3) and quality["labelPositiveRate"] == 0.0
    nothing_predicted = classification_quality([1, 0, 1], [0.1, 0.2, 0.3], [0, 0, 0])
    assert nothing_predicted["precision"] == 0.0 and nothing_predicted["rocAuc"] == pytest.approx(0.5)


def test_no_records_measures_nothing():
    expected = {key: (0 if key == "labelledRecords" else None) for key in QUALITY_KEYS}
    assert classification_quality([], [], []) == expected


@pytest.mark.parametrize(
    ("labels", "probabilities", "predicted", "message"),
    [
        ([0, 1], [0.1], [0, 1], "differ in length"),
        ([0, 2], [0.1, 0.2], [0, 1], r"labels\[1\]"),
        ([0, 1], [0.1, float("nan")], [0, 1], r"probabilities\[1\]"),
        ([0, 1], [0.1, 0.2], ["0", 1], r"predicted\[0\]"),
    ],
)
def test_bad_input_is_named(labels, probabilities, predicted, message):
    with pytest.raises(ValueError, match=message):
        classification_quality(labels, probabilities, predicted)
