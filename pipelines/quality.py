"""Model quality on labelled traffic: the metrics the groundtruth Lambda publishes.

Standard library only, like ``pipelines.schema``: the Lambda package carries neither scikit-learn
nor pandas, yet these figures are compared with the ones training computed with scikit-learn on the
holdout (``metrics.json``), so each one follows scikit-learn's definition exactly, edge cases
included (the unit tests check them against ``sklearn.metrics`` on random data):

- ``rocAuc`` is the Mann-Whitney statistic with average ranks for tied scores, which is what
  ``roc_auc_score`` computes (ties count one half); ``None`` when the labels hold a single class,
  where scikit-learn raises because the area is undefined.
- ``precision``, ``recall`` and ``f1`` are ``0.0`` when their denominator is zero, scikit-learn's
  ``zero_division`` default (it also warns), so a model that predicts no positive scores 0, not a
  missing value that would hide the problem from an alarm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["QUALITY_KEYS", "classification_quality", "roc_auc"]

# The keys of the quality dict, in report order.
QUALITY_KEYS = ("labelledRecords", "accuracy", "rocAuc", "f1", "precision", "recall", "labelPositiveRate")


def _check_binary(values: Sequence[Any], name: str) -> list[int]:
    out: list[int] = []
    for i, value in enumerate(values):
        # Equality, so numpy integers, 1.0 and True count as 1; "1" or 2 are errors, not guesses.
        if value not in (0, 1):
            raise ValueError(f"{name}[{i}] must be 0 or 1, got {value!r}")
        out.append(int(value))
    return out


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve of 0/1 ``labels`` ranked by ``scores``; ``None`` with one class.

    AUC = (sum of the positives' ranks - P(P+1)/2) / (P·N), ranks averaged over tied scores: the
    probability that a random positive outranks a random negative, a tie counting one half.
    """
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")
    positives = sum(1 for y in labels if y == 1)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        average_rank = (start + end) / 2 + 1  # ranks are 1-based
        rank_sum += average_rank * sum(1 for i in order[start : end + 1] if labels[i] == 1)
        start = end + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def classification_quality(
    labels: Sequence[int], probabilities: Sequence[float], predicted: Sequence[int]
) -> dict[str, Any]:
    """The quality of binary predictions against true labels (1 = the positive label).

    ``probabilities`` are the positive-class probabilities the model returned, ``predicted`` the
    labels it returned (or that its threshold gives). Returns ``{"labelledRecords", "accuracy",
    "rocAuc", "f1", "precision", "recall", "labelPositiveRate"}``; with no records every figure
    but the count is ``None`` (there is nothing to measure, which is not a score of zero).
    Raises ``ValueError`` for sequences of different lengths, labels other than 0/1 or a
    probability that is not a finite number.
    """
    if not len(labels) == len(probabilities) == len(predicted):
        raise ValueError(
            f"labels, probabilities and predicted differ in length: "
            f"{len(labels)}, {len(probabilities)}, {len(predicted)}"
        )
    truth = _check_binary(labels, "labels")
    guess = _check_binary(predicted, "predicted")
    scores: list[float] = []
    for i, p in enumerate(probabilities):
        if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p):
            raise ValueError(f"probabilities[{i}] must be a finite number, got {p!r}")
        scores.append(float(p))
    n = len(truth)
    if n == 0:
        return dict.fromkeys(QUALITY_KEYS, None) | {"labelledRecords": 0}
    tp = sum(1 for y, g in zip(truth, guess, strict=True) if y == 1 and g == 1)
    fp = sum(1 for y, g in zip(truth, guess, strict=True) if y == 0 and g == 1)
    fn = sum(1 for y, g in zip(truth, guess, strict=True) if y == 1 and g == 0)
    tn = n - tp - fp - fn
    positives = tp + fn
    return {
        "labelledRecords": n,
        "accuracy": (tp + tn) / n,
        "rocAuc": roc_auc(truth, scores),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, positives),
        "labelPositiveRate": positives / n,
    }
