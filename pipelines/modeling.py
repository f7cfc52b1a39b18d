"""Everything that turns a schema and a CSV into a fitted, scored scikit-learn model.

The training script is only orchestration; the pieces that decide what the model sees (which
columns, how they are encoded), how its decision threshold is chosen and how it is scored live here,
where they can be tested one by one. Only this module, ``train.py`` and ``inference.py`` may import
pandas and scikit-learn (the Lambda packages carry neither).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


class DataError(ValueError):
    """The training data does not match the schema (header, values or labels)."""


# --------------------------------------------------------------------------------------------- data


def read_dataset(paths: Iterable[str | Path], schema: DatasetSchema) -> pd.DataFrame:
    """Read and concatenate CSV files whose header must hold exactly the schema's columns.

    Every field is read as text first and converted per the schema, so that "what is a number" and
    "what is missing" (only an empty field) mean the same here as in the validate Lambda, which
    parses with :meth:`Column.parse`. Pandas' defaults would also turn "NA" or "null" into missing.
    """
    frames = [_read_one(Path(p), schema) for p in paths]
    if not frames:
        raise DataError("no CSV file to read")
    return pd.concat(frames, ignore_index=True)


def _read_one(path: Path, schema: DatasetSchema) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    check_header(list(raw.columns), schema, source=path.name)
    frame = raw[list(schema.column_names)].copy()
    for column in schema.columns:
        if column.is_numeric:
            frame[column.name] = _to_number(frame[column.name], column, path.name)
    return frame


def check_header(header: list[str], schema: DatasetSchema, *, source: str = "data") -> None:
    """Raise a :class:`DataError` naming the missing and unexpected columns, if any.

    Column order is not enforced: columns are addressed by name everywhere downstream.
    """
    expected = list(schema.column_names)
    missing = [c for c in expected if c not in header]
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


def _to_number(values: pd.Series, column: Column, source: str) -> pd.Series:
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        first = values[bad].iloc[0]
        raise DataError(
            f"{source}: column {column.name!r} has {int(bad.sum())} non-numeric value(s), e.g. {first!r}"
        )
    return numbers.astype("float64")


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


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, float]:
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


def importance_shares(
    model: Any, features: pd.DataFrame, labels: np.ndarray, *, seed: int = 0, repeats: int = 3
) -> dict[str, float]:
    """Permutation importance (ROC-AUC drop) per feature, clipped at zero and normalised to sum 1.

    The drift monitor weighs feature drift by these shares: drift in a feature the model ignores
    should not start a retraining. If no feature helps at all, every feature gets an equal share
    rather than a division by zero.
    """
    result = permutation_importance(
        model, features, labels, scoring="roc_auc", n_repeats=repeats, random_state=seed, n_jobs=1
    )
    raw = np.clip(result.importances_mean, 0.0, None)
    names = list(features.columns)
    total = float(raw.sum())
    if total <= 0.0:
        return {name: 1.0 / len(names) for name in names}
    return {name: float(value / total) for name, value in zip(names, raw, strict=True)}


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
