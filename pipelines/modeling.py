"""Everything that turns a schema and a CSV into a fitted, scored scikit-learn model.

The training script is only orchestration; the pieces that decide what the model sees (which
columns, how they are encoded), how its decision threshold is chosen and how it is scored live here,
where they can be tested one by one. Only this module, ``train.py`` and ``inference.py`` may import
pandas and scikit-learn (the Lambda packages carry neither).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipelines.schema import Column, DatasetSchema

MODEL_TYPES = ("hist_gradient_boosting", "random_forest", "logistic_regression")
DEFAULT_MODEL_TYPE = "hist_gradient_boosting"
METRIC_NAMES = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "threshold")
THRESHOLD_MODES = ("best_f1", "cost")  # or a number in (0, 1), mode "fixed"


class DataError(ValueError):
    """The training data does not match the schema (header, values or labels)."""


# --------------------------------------------------------------------------------------------- data


def read_dataset(paths: Iterable[str | Path], schema: DatasetSchema) -> pd.DataFrame:
    """Read and concatenate CSV files whose header must hold the schema's columns and no other.

    Every field is read as text first and converted per the schema, so that "what is a number" and
    "what is missing" (only an empty field) mean the same here as in the validate Lambda, which
    parses with :meth:`Column.parse`. Pandas' defaults would also turn "NA" or "null" into missing.
    ``id`` and ``leak`` columns may be absent from a file (a batch built from captured traffic has
    none): an absent column is not in that file's frame (nor in the result if no file has it).
    The time column stays text when it is a string (see :func:`time_keys` for its sortable key).
    """
    return read_files(paths, schema)[0]


def read_files(
    paths: Iterable[str | Path], schema: DatasetSchema, *, names: Sequence[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`read_dataset`, plus the position (in ``paths``) of the file each row came from.

    Files are read as text one by one (each header checked on its own) and converted once, after
    concatenation: a training job reads one small file per batch, and per-file conversion would
    cost more than the reading. ``names`` label the files in error messages (default: file names).
    """
    files = [Path(p) for p in paths]
    if not files:
        raise DataError("no CSV file to read")
    labels = list(names) if names is not None else [f.name for f in files]
    if len(labels) != len(files):
        raise ValueError(f"{len(labels)} names for {len(files)} files")
    raws = []
    for path, label in zip(files, labels, strict=True):
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        check_header(list(raw.columns), schema, source=label)
        raws.append(raw)
    origin = np.repeat(np.arange(len(raws)), [len(r) for r in raws])
    combined = raws[0] if len(raws) == 1 else pd.concat(raws, ignore_index=True)
    present = [c for c in schema.columns if c.name in combined.columns]
    frame = combined[[c.name for c in present]].copy()
    row_labels = np.asarray(labels, dtype=object)
    for column in present:
        if column.is_numeric:
            frame[column.name] = _to_number(frame[column.name], column, row_labels, origin)
    return frame, origin


def check_header(header: list[str], schema: DatasetSchema, *, source: str = "data") -> None:
    """Raise a :class:`DataError` naming the missing and unexpected columns, if any.

    Column order is not enforced: columns are addressed by name everywhere downstream. Only the
    schema's optional columns (``id`` and ``leak``) may be missing; an unknown column is refused,
    since it most likely means the file belongs to another dataset or a column was renamed.
    """
    expected = list(schema.column_names)
    missing = [c.name for c in schema.required_columns if c.name not in header]
    extra = [c for c in header if c not in expected]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if missing or extra or duplicated:
        problems = []
        if missing:
            problems.append(f"missing columns {missing}")
        if extra:
            problems.append(f"unexpected columns {extra}")
        if duplicated:
            problems.append(f"duplicated columns {duplicated}")
        raise DataError(f"{source}: header does not match schema {schema.name!r}: " + "; ".join(problems))


def _to_number(values: pd.Series, column: Column, labels: np.ndarray, origin: np.ndarray) -> pd.Series:
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = (numbers.isna() & values.notna()).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{labels[origin[row]]}: column {column.name!r} has {int(bad.sum())} non-numeric value(s), "
            f"e.g. {values.iloc[row]!r}"
        )
    return numbers.astype("float64")


def time_keys(
    frame: pd.DataFrame, schema: DatasetSchema, *, source: str | Sequence[str] | np.ndarray = "data"
) -> np.ndarray | None:
    """The time column as sortable float keys (UTC epoch seconds for ISO text), or ``None``.

    ``None`` when the schema has no time column. Numbers are used as they are; text goes through
    :meth:`Column.time_key`, the validate Lambda's own rule. A missing or unreadable time is a
    :class:`DataError` naming the column and an example, since such a row cannot be placed.
    ``source`` names the data in that message: one label, or one per row (the first bad row's).
    """
    column = schema.time_column
    if column is None:
        return None

    def where(bad: np.ndarray) -> str:
        if isinstance(source, str):
            return source
        return str(source[int(np.argmax(bad))]) if len(source) else "data"

    if column.name not in frame.columns:
        raise DataError(f"{where(np.ones(len(frame), dtype=bool))}: time column {column.name!r} is missing")
    values = frame[column.name]
    missing = values.isna().to_numpy()
    if missing.any():
        raise DataError(f"{where(missing)}: time column {column.name!r} has {int(missing.sum())} missing value(s)")
    if column.is_numeric:
        return values.to_numpy(dtype=np.float64)
    keys: dict[str, float] = {}
    bad_texts: list[str] = []
    for text in pd.unique(values):  # timestamps repeat; parse each distinct text once
        try:
            keys[text] = column.time_key(str(text))
        except ValueError:
            bad_texts.append(str(text))
    if bad_texts:
        bad = values.isin(bad_texts).to_numpy()
        raise DataError(
            f"{where(bad)}: time column {column.name!r} has {int(bad.sum())} value(s) that are not ISO-8601 "
            f"timestamps, e.g. {values.iloc[int(np.argmax(bad))]!r}"
        )
    return values.map(keys).to_numpy(dtype=np.float64)


def features_and_labels(frame: pd.DataFrame, schema: DatasetSchema) -> tuple[pd.DataFrame, np.ndarray]:
    """Split a dataset into the model's input (feature columns only) and 0/1 labels.

    ``id`` and ``leak`` columns are dropped here, so no other code can hand them to a model.
    """
    target = schema.target_column
    raw = frame[target.name]
    if raw.isna().any():
        raise DataError(f"target {target.name!r} has {int(raw.isna().sum())} missing value(s)")
    try:
        # Back through the column's parser: 1.0 (read as a number) becomes 1, while 0.5 is refused
        # instead of being truncated into a label.
        labels = [target.parse(_as_text(v)) for v in raw]
    except ValueError as exc:
        raise DataError(f"target: {exc}") from exc
    unknown = sorted({str(v) for v in labels if v not in (target.categories or ())})
    if unknown:
        raise DataError(f"target {target.name!r} has values outside its categories: {unknown[:5]}")
    y = np.asarray([schema.is_positive(v) for v in labels], dtype=np.int64)
    return feature_frame(frame, schema), y


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def feature_frame(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The feature columns in schema order, numeric as float64 and categorical as text."""
    missing = [c.name for c in schema.features if c.name not in frame.columns]
    if missing:
        raise DataError(f"missing feature columns {missing}")
    out = pd.DataFrame(index=frame.index)
    for column in schema.features:
        values = frame[column.name]
        if column.is_numeric:
            out[column.name] = pd.to_numeric(values, errors="raise").astype("float64")
        else:
            out[column.name] = values.astype("object").where(values.notna(), None)
    return out


# -------------------------------------------------------------------------------------------- model


def build_pipeline(schema: DatasetSchema, model_type: str = DEFAULT_MODEL_TYPE, seed: int = 0) -> Pipeline:
    """The preprocessing + estimator pipeline for ``model_type``.

    Categories come from the schema rather than from the data, so the encoding is the same whatever
    sample a model is trained on, and an unseen category at inference encodes as all zeros instead
    of failing the request.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model type {model_type!r} (known: {', '.join(MODEL_TYPES)})")
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if model_type == "logistic_regression":
        numeric_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[str]]] = []
    numeric = [c.name for c in schema.numeric_features]
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    categorical = list(schema.categorical_features)
    if categorical:
        encoder = OneHotEncoder(
            categories=[list(c.categories or ()) for c in categorical],
            handle_unknown="ignore",
            sparse_output=False,  # HistGradientBoosting does not take sparse input
        )
        transformers.append(("categorical", encoder, [c.name for c in categorical]))
    preprocess = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", preprocess), ("model", _estimator(model_type, seed))])


def _estimator(model_type: str, seed: int) -> Any:
    if model_type == "hist_gradient_boosting":
        # early_stopping off: "auto" switches it on above 10,000 rows, which would make the model
        # depend on the dataset size in a way nobody asked for.
        return HistGradientBoostingClassifier(random_state=seed, early_stopping=False)
    if model_type == "random_forest":
        return RandomForestClassifier(n_estimators=300, min_samples_leaf=2, n_jobs=-1, random_state=seed)
    return LogisticRegression(max_iter=2000)


def positive_probabilities(model: Any, features: pd.DataFrame) -> np.ndarray:
    """Probability of the positive class (label 1) for each row."""
    classes = list(model.classes_)
    if 1 not in classes:
        raise ValueError(f"the model was not trained with a positive class (classes: {classes})")
    return model.predict_proba(features)[:, classes.index(1)]


# ------------------------------------------------------------------------------ threshold, metrics


def out_of_fold_probabilities(
    pipeline: Pipeline, features: pd.DataFrame, labels: np.ndarray, *, seed: int = 0, folds: int = 3
) -> np.ndarray:
    """Positive-class probabilities for every training row from a model that did not see that row.

    These pick the decision threshold; picking it on the holdout would make the holdout F1 an
    optimistic, tuned number instead of an estimate.
    """
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(clone(pipeline), features, labels, cv=splitter, method="predict_proba")
    return proba[:, 1]


def best_f1_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The probability threshold (predict positive when ``p >= t``) that maximises F1."""
    labels = np.asarray(labels)
    if labels.min() == labels.max():
        raise ValueError("both classes are needed to choose a threshold")
    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    # The last precision/recall pair has no threshold (it is the "predict nothing" end point).
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(thresholds[int(np.argmax(f1))])


@dataclass(frozen=True)
class ThresholdRule:
    """How the decision threshold is chosen: ``best_f1``, ``cost`` or ``fixed`` at ``value``.

    Chosen on out-of-fold predictions of the training rows (never on the holdout, which must stay
    an unbiased estimate); a fixed threshold needs none, so the cross-validation is skipped.
    """

    mode: str = "best_f1"
    value: float | None = None
    false_positive_cost: float = 1.0
    false_negative_cost: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in (*THRESHOLD_MODES, "fixed"):
            raise ValueError(f"unknown threshold mode {self.mode!r}")
        if self.mode == "fixed" and (self.value is None or not 0.0 < self.value < 1.0):
            raise ValueError(f"a fixed threshold must be a number in (0, 1), got {self.value!r}")
        for name, cost in (("false-positive", self.false_positive_cost), ("false-negative", self.false_negative_cost)):
            if not (math.isfinite(cost) and cost > 0.0):
                raise ValueError(f"the {name} cost must be a positive number, got {cost!r}")

    @classmethod
    def parse(cls, text: str, false_positive_cost: float = 1.0, false_negative_cost: float = 1.0) -> ThresholdRule:
        """The rule a ``threshold`` hyperparameter names: ``best_f1``, ``cost`` or a number in (0, 1)."""
        mode, value = text.strip(), None
        if mode not in THRESHOLD_MODES:
            try:
                value = float(mode)
            except ValueError:
                raise ValueError(
                    f"threshold must be {' or '.join(THRESHOLD_MODES)} or a number in (0, 1), got {text!r}"
                ) from None
            mode = "fixed"
        return cls(mode, value, false_positive_cost, false_negative_cost)

    @property
    def needs_out_of_fold(self) -> bool:
        return self.mode != "fixed"

    def choose(self, labels: np.ndarray | None = None, probabilities: np.ndarray | None = None) -> float:
        """The threshold: fixed, or chosen on (out-of-fold) ``labels`` and ``probabilities``."""
        if self.mode == "fixed":
            assert self.value is not None  # __post_init__
            return self.value
        if labels is None or probabilities is None:
            raise ValueError(f"threshold mode {self.mode!r} needs labels and out-of-fold probabilities")
        if self.mode == "best_f1":
            return best_f1_threshold(labels, probabilities)
        return min_cost_threshold(labels, probabilities, self.false_positive_cost, self.false_negative_cost)

    def describe(self, value: float) -> dict[str, Any]:
        """The ``threshold`` block of metrics.json."""
        return {
            "mode": self.mode,
            "value": float(value),
            "falsePositiveCost": self.false_positive_cost,
            "falseNegativeCost": self.false_negative_cost,
        }


def min_cost_threshold(
    labels: np.ndarray, probabilities: np.ndarray, false_positive_cost: float, false_negative_cost: float
) -> float:
    """The threshold (predict positive when ``p >= t``) minimising ``fp_cost·FP + fn_cost·FN``.

    Candidates are every distinct probability plus "predict nothing" (just above the largest
    probability), so the optimum over all thresholds is found, in one sort. On a tie the highest
    threshold wins: the same cost with fewer alarms.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(labels) == 0 or labels.min() == labels.max():
        raise ValueError("both classes are needed to choose a threshold")
    order = np.argsort(-probabilities, kind="stable")
    p, y = probabilities[order], labels[order].astype(np.int64)
    # Cut after each run of equal probabilities: rows [0, end) are predicted positive.
    ends = np.flatnonzero(np.r_[p[1:] != p[:-1], True]) + 1
    true_positives = np.cumsum(y)[ends - 1]
    false_positives = ends - true_positives
    false_negatives = int(y.sum()) - true_positives
    costs = false_positive_cost * false_positives + false_negative_cost * false_negatives
    nothing = false_negative_cost * float(y.sum())  # every positive missed, no false alarm
    best = int(np.argmin(costs))  # first minimum = highest threshold among ties
    if nothing <= costs[best]:
        return float(np.nextafter(p[0], np.inf))
    return float(p[ends[best] - 1])


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """Ranking metrics (threshold-free) and decision metrics at ``threshold``."""
    labels = np.asarray(labels)
    predicted = (np.asarray(probabilities) >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)),
        "pr_auc": float(average_precision_score(labels, probabilities)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "threshold": float(threshold),
    }


def permutation_importances(
    model: Any, features: pd.DataFrame, labels: np.ndarray, *, seed: int = 0, repeats: int = 3
) -> dict[str, dict[str, float]]:
    """Permutation importance per feature: the mean and spread of the ROC-AUC drop when the
    feature's values are shuffled (``sklearn.inspection.permutation_importance``), on ``features``."""
    result = permutation_importance(
        model, features, labels, scoring="roc_auc", n_repeats=repeats, random_state=seed, n_jobs=1
    )
    return {
        name: {"mean": float(mean), "std": float(std)}
        for name, mean, std in zip(features.columns, result.importances_mean, result.importances_std, strict=True)
    }


def importance_shares(importances: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Permutation importances clipped at zero and normalised to sum 1.

    The drift monitor weighs feature drift by these shares: drift in a feature the model ignores
    should not start a retraining. If no feature helps at all, every feature gets an equal share
    rather than a division by zero.
    """
    names = list(importances)
    raw = np.clip(np.asarray([importances[name]["mean"] for name in names], dtype=float), 0.0, None)
    total = float(raw.sum())
    if total <= 0.0:
        return {name: 1.0 / len(names) for name in names}
    return {name: float(value / total) for name, value in zip(names, raw, strict=True)}


def segment_metrics(
    schema: DatasetSchema, features: pd.DataFrame, labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, dict[str, dict[str, Any]]]:
    """Holdout metrics per category of each categorical feature (the model card's "by segment").

    ROC-AUC and PR-AUC need both classes in a segment: ``None`` there otherwise, never a made-up number.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    segments: dict[str, dict[str, dict[str, Any]]] = {}
    for column in schema.categorical_features:
        values = features[column.name].astype(str).to_numpy()
        by_category: dict[str, dict[str, Any]] = {}
        for category in sorted(set(values)):
            mask = values == category
            y, p = labels[mask], probabilities[mask]
            predicted = (p >= threshold).astype(int)
            both = 0 < int(y.sum()) < len(y)
            by_category[category] = {
                "rows": int(mask.sum()),
                "positives": int(y.sum()),
                "roc_auc": float(roc_auc_score(y, p)) if both else None,
                "pr_auc": float(average_precision_score(y, p)) if both else None,
                "accuracy": float(accuracy_score(y, predicted)),
                "precision": float(precision_score(y, predicted, zero_division=0)),
                "recall": float(recall_score(y, predicted, zero_division=0)),
                "f1": float(f1_score(y, predicted, zero_division=0)),
            }
        segments[column.name] = by_category
    return segments


def baseline_columns(features: pd.DataFrame, schema: DatasetSchema) -> Mapping[str, list]:
    """Training columns as plain lists (floats for numeric, text for categorical) for the drift baseline."""
    columns: dict[str, list] = {}
    for column in schema.features:
        values = features[column.name]
        if column.is_numeric:
            columns[column.name] = [float(v) for v in values]
        else:
            columns[column.name] = [None if v is None else str(v) for v in values]
    return columns
