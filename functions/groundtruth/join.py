"""Join labels with captured rows, score the joined rows, and write them as a dataset batch.

Pure functions (no AWS): the handler's logic feeds them what it read and writes what they return.

The batch holds what training needs and nothing it would drop: the schema's columns in file order
minus ``id`` and ``leak`` (which a file may lack), feature values exactly as the client sent them,
the target as labelled, and the time column (when the schema has one) from the label's ``time``
or else the moment the request was served. The validator then checks it like any upload, so a
client that sent out-of-range values produces a quarantined batch, not silently bad training data.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions.groundtruth.capture import CapturedRow, CaptureIndex
from functions.groundtruth.labels import Examples, Label, LabelFile
from pipelines.quality import classification_quality
from pipelines.schema import OPTIONAL_ROLES, Column, DatasetSchema, parse_timestamp

__all__ = ["JoinResult", "JoinedRow", "batch_columns", "feedback_csv", "join_labels", "score", "time_value"]


@dataclass(frozen=True)
class JoinedRow:
    label: Label
    captured: CapturedRow


@dataclass
class JoinResult:
    joined: list[JoinedRow] = field(default_factory=list)
    unknown: Examples = field(default_factory=Examples)


def join_labels(labels: LabelFile, captured: CaptureIndex) -> JoinResult:
    """Pair each accepted label with the captured row of its id, in label-file order.

    A label whose id matches no captured row is ``unknown``: a typo, a request that was not
    captured (sampling), or one older than the lookback (a late label). Counted, never fatal.
    """
    result = JoinResult()
    for label_id, label in labels.labels.items():
        row = captured.rows.get(label_id)
        if row is None:
            result.unknown.add(line=label.line, inferenceId=label_id)
        else:
            result.joined.append(JoinedRow(label, row))
    return result


def score(joined: list[JoinedRow], schema: DatasetSchema, threshold: float) -> dict[str, Any]:
    """Quality of the joined rows (``pipelines.quality``), plus how the predictions were obtained.

    The predicted label is the one the endpoint returned (a JSON response); for a response that
    carries only probabilities (CSV) it is ``probability >= threshold``, the serving model's
    training-time threshold, which is how the endpoint itself labels rows. Rows whose response was
    not captured cannot be scored; they still become training data.
    """
    truth: list[int] = []
    probabilities: list[float] = []
    predicted: list[int] = []
    thresholded = 0
    for row in joined:
        probability = row.captured.probability
        if probability is None:
            continue
        truth.append(1 if schema.is_positive(row.label.value) else 0)
        probabilities.append(probability)
        if row.captured.predicted is None:
            thresholded += 1
            predicted.append(1 if probability >= threshold else 0)
        else:
            predicted.append(row.captured.predicted)
    quality = classification_quality(truth, probabilities, predicted)
    return {**quality, "withoutPrediction": len(joined) - len(truth), "predictedByThreshold": thresholded}


def batch_columns(schema: DatasetSchema) -> tuple[Column, ...]:
    """The batch's columns: the schema's, in file order, without the optional id and leak columns."""
    return tuple(c for c in schema.columns if c.role not in OPTIONAL_ROLES)


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}Z"


def _epoch(moment: datetime, column: Column) -> str:
    seconds = moment.timestamp()
    return str(math.floor(seconds)) if column.type == "integer" else repr(seconds)


def time_value(column: Column, label: Label, captured_time: str | None) -> str:
    """The time column's cell: the label's ``time`` when given, else the capture's inferenceTime.

    A string time column gets ISO-8601 text, a numeric one epoch seconds (docs/ARCHITECTURE.md).
    A label time already in the column's form is written as the client wrote it. An empty cell
    (no time anywhere) is left for the validator to reject, as it would in an upload.
    """
    if label.time is not None:
        if label.time_is_number == column.is_numeric:
            return label.time.strip()
        if label.moment is not None:
            return _epoch(label.moment, column) if column.is_numeric else _iso(label.moment)
    if captured_time is None:
        return ""
    if not column.is_numeric:
        return captured_time
    try:
        return _epoch(parse_timestamp(captured_time), column)
    except ValueError:
        return ""


def _cell(value: Any) -> str:
    """A captured value as CSV text the validator parses back to the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):  # JSON true/false: kept visible (the validator rejects it in a number)
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)  # shortest text that round-trips
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def feedback_csv(joined: list[JoinedRow], schema: DatasetSchema) -> bytes:
    """The joined rows as a CSV batch (header first, ``\\n`` line ends, UTF-8)."""
    columns = batch_columns(schema)
    position = {c.name: i for i, c in enumerate(schema.features)}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    for row in joined:
        cells: list[str] = []
        for column in columns:
            if column.name == schema.target:
                cells.append(_cell(row.label.value))
            elif column.is_time:
                cells.append(time_value(column, row.label, row.captured.inference_time))
            else:
                cells.append(_cell(row.captured.features[position[column.name]]))
        writer.writerow(cells)
    return buffer.getvalue().encode("utf-8")
