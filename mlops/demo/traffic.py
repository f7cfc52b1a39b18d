"""Prediction traffic for the demo, built from the dataset through its schema, and its labels.

Requests are headerless CSV rows of the schema's features in schema order (the inference
contract). The drift phase's shift is generic, not tied to a dataset: it moves the `count` numeric features
the serving model leans on most (permutation importance, from its drift baseline) up by `sigmas`
of their standard deviation in the data. A shift of features the model barely uses would be drift
it absorbs, which the drift verdict reports without alarming; the demo wants the alarm.
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.schema import DatasetSchema


@dataclass(frozen=True)
class Shift:
    features: tuple[str, ...]
    offsets: tuple[float, ...]
    sigmas: float

    def describe(self) -> str:
        moves = ", ".join(f"{name} {offset:+.3g}" for name, offset in zip(self.features, self.offsets, strict=True))
        return f"+{self.sigmas:g} standard deviation on {len(self.features)} feature(s): {moves}"


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sample_rows(rows: Sequence[dict[str, str]], count: int, seed: int) -> list[dict[str, str]]:
    generator = random.Random(seed)
    return generator.sample(list(rows), min(count, len(rows)))


def write_csv(rows: Sequence[dict[str, str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plan_shift(
    schema: DatasetSchema,
    rows: Sequence[dict[str, str]],
    importance: Mapping[str, float] | None = None,
    *,
    count: int = 2,
    sigmas: float = 1.0,
) -> Shift:
    """The `count` most important numeric features (schema order without importances), +`sigmas` SD."""
    numeric = [column.name for column in schema.numeric_features]
    ranked = sorted(numeric, key=lambda name: -(importance or {}).get(name, 0.0))
    names = tuple(ranked[:count])
    offsets = []
    for name in names:
        values = [float(row[name]) for row in rows if row.get(name) not in (None, "")]
        offsets.append(sigmas * statistics.pstdev(values))
    return Shift(features=names, offsets=tuple(offsets), sigmas=sigmas)


def apply_shift(schema: DatasetSchema, rows: Iterable[dict[str, str]], shift: Shift) -> list[dict[str, str]]:
    """Shifted copies of the rows; integer columns stay integers (the schema is the contract)."""
    integer = {column.name for column in schema.numeric_features if column.type == "integer"}
    shifted = []
    for row in rows:
        moved = dict(row)
        for name, offset in zip(shift.features, shift.offsets, strict=True):
            value = float(row[name]) + offset
            moved[name] = str(round(value)) if name in integer else f"{value:.4f}"
        shifted.append(moved)
    return shifted


def csv_requests(schema: DatasetSchema, rows: Sequence[dict[str, str]], batch_size: int) -> list[bytes]:
    """Headerless CSV request bodies of the feature columns, `batch_size` rows each."""
    names = schema.feature_names
    bodies = []
    for start in range(0, len(rows), batch_size):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in rows[start : start + batch_size]:
            writer.writerow([row[name] for name in names])
        bodies.append(buffer.getvalue().encode("utf-8"))
    return bodies


def predict(
    runtime: Any,
    endpoint_name: str,
    schema: DatasetSchema,
    rows: Sequence[dict[str, str]],
    batch_size: int,
    prefix: str,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Send the rows to the endpoint through `runtime` (a sagemaker-runtime client), `batch_size` a
    request, request `n` with the InferenceId `<prefix>-<n>`; the rows' ground-truth ids (their
    labels name them later) and the predictions, in row order."""
    ids: list[str] = []
    predictions: list[dict[str, Any]] = []
    for number, body in enumerate(csv_requests(schema, rows, batch_size)):
        inference_id = f"{prefix}-{number}"
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType="text/csv",
            Accept="application/json",
            Body=body,
            InferenceId=inference_id,
        )
        answered = json.loads(response["Body"].read())["predictions"]
        ids.extend(row_ids(inference_id, len(answered)))
        predictions.extend(answered)
    return ids, predictions


def row_ids(inference_id: str, rows: int) -> list[str]:
    """The ground-truth ids of a request's rows (docs/ARCHITECTURE.md, "Ground truth")."""
    return [inference_id] if rows == 1 else [f"{inference_id}:{i}" for i in range(rows)]


@dataclass(frozen=True)
class ConceptChange:
    """A changed relationship between features and label: failures now follow one other feature.

    The demo's second act needs labels a stale model cannot predict. The feature chosen is the
    numeric feature the serving model relies on least, and rows in its top `rate` quantile are
    labelled positive: a mechanism the old model never learned, so its quality on these labels
    collapses, while a model trained on them can learn it.
    """

    feature: str
    cutoff: float
    rate: float

    def describe(self) -> str:
        return f"labels now follow {self.feature} >= {self.cutoff:.4g} (the top {self.rate:.0%})"

    def labels(self, schema: DatasetSchema, rows: Iterable[dict[str, str]]) -> list[str]:
        target = schema.target_column
        positive = str(schema.positive_label)
        negative = next(str(c) for c in (target.categories or ()) if str(c) != positive)
        return [positive if float(row[self.feature]) >= self.cutoff else negative for row in rows]


def plan_concept_change(
    schema: DatasetSchema,
    rows: Sequence[dict[str, str]],
    importance: Mapping[str, float] | None = None,
    *,
    exclude: Sequence[str] = (),
    rate: float = 0.2,
) -> ConceptChange:
    """The least important numeric feature (not among `exclude`) drives the new labels."""
    numeric = [c.name for c in schema.numeric_features if c.name not in exclude] or [
        c.name for c in schema.numeric_features
    ]
    if not numeric:
        raise ValueError("a concept change needs a numeric feature")
    feature = min(numeric, key=lambda name: (importance or {}).get(name, 0.0))
    values = sorted(float(row[feature]) for row in rows if row.get(feature) not in (None, ""))
    cutoff = values[min(len(values) - 1, int(len(values) * (1.0 - rate)))]
    return ConceptChange(feature=feature, cutoff=cutoff, rate=rate)


def ground_truth_csv(ids: Sequence[str], labels: Sequence[str]) -> bytes:
    """A ground-truth file: `inferenceId,label` per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["inferenceId", "label"])
    writer.writerows(zip(ids, labels, strict=True))
    return buffer.getvalue().encode("utf-8")
