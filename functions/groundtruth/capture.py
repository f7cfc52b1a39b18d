"""Index captured requests by the ids their labels will carry.

SageMaker records the caller's ``InferenceId`` as ``eventMetadata.inferenceId``. One capture line is
one request and may hold many rows, so a row's id is the InferenceId for a one-row request and
``<InferenceId>:<i>`` (0-based) for row *i* of a larger one (docs/ARCHITECTURE.md, "Ground truth").
Payloads are decoded with the drift monitor's own readers (``functions.drift.capture``), so a
request the endpoint accepted is read here exactly as drift reads it.

Only requests some label may refer to are decoded (``wanted``): a lookback of a week of traffic
is mostly rows nobody has labelled yet, and decoding them would cost time and memory for nothing.
A request that cannot be read is skipped and counted, never fatal, as in the drift monitor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.drift.capture import JSON_TYPE, decode_payload, parse_inputs, parse_outputs
from pipelines.schema import Column

__all__ = ["CaptureIndex", "CapturedRow", "parse_predictions", "request_ids", "row_ids"]

MAX_PROBLEMS_KEPT = 10


@dataclass(frozen=True)
class CapturedRow:
    """One served row: its feature values as the client sent them and what the model answered."""

    row_id: str
    features: tuple[Any, ...]  # raw values in the schema's feature order
    probability: float | None  # None when the response was not captured or does not match the rows
    predicted: int | None  # the label the endpoint returned (JSON responses), else None
    inference_time: str | None  # eventMetadata.inferenceTime (ISO-8601), or the object's LastModified
    source: str  # <capture key>:<line>, for the report


def row_ids(inference_id: str, rows: int) -> list[str]:
    """The label ids of a request's rows: the InferenceId itself for one row, ``<id>:<i>`` otherwise."""
    return [inference_id] if rows == 1 else [f"{inference_id}:{i}" for i in range(rows)]


def request_ids(label_ids: Iterable[str]) -> set[str]:
    """The InferenceIds whose requests may hold a row with one of ``label_ids``.

    ``a:3`` may be row 3 of request ``a`` or the one row of a request whose InferenceId is ``a:3``,
    so both are wanted; the join decides by the rows the request actually holds.
    """
    wanted: set[str] = set()
    for label_id in label_ids:
        wanted.add(label_id)
        base, sep, index = label_id.rpartition(":")
        if sep and base and index.isdigit():
            wanted.add(base)
    return wanted


def parse_predictions(media: str, text: str) -> list[tuple[float, int | None]]:
    """``(probability, label or None)`` per row of a response body.

    Probabilities are read by the drift monitor's ``parse_outputs`` (the same errors for the same
    bodies); a JSON response of ``{"predictions": [{"probability", "label"}]}`` also gives the
    label the endpoint decided, which is the prediction the client acted on.
    """
    probabilities = parse_outputs(media, text)
    labels: list[int | None] = [None] * len(probabilities)
    if media == JSON_TYPE:
        payload = json.loads(text)
        items = payload.get("predictions") if isinstance(payload, Mapping) else payload
        for i, item in enumerate(items if isinstance(items, list) else []):
            label = item.get("label") if isinstance(item, Mapping) else None
            if not isinstance(label, bool) and label in (0, 1):
                labels[i] = int(label)
    return list(zip(probabilities, labels, strict=True))


@dataclass
class CaptureIndex:
    """Captured rows by label id, with counts of what could not be used."""

    features: tuple[Column, ...]
    wanted: set[str] | None = None  # InferenceIds worth decoding; None = all
    rows: dict[str, CapturedRow] = field(default_factory=dict)
    objects: int = 0
    requests: int = 0  # requests read (with an InferenceId)
    unidentified: int = 0  # requests sent without an InferenceId: nothing can be joined to them
    duplicate_ids: int = 0  # rows whose id an earlier captured row already had (client retries)
    unmatched_predictions: int = 0  # requests whose response does not have one prediction per row
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def _problem(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(f"{where}: {why}")

    def add_lines(self, lines: Iterable[str | bytes], source: str, fallback_time: str | None = None) -> None:
        """Add one capture object's lines; ``fallback_time`` stands in for a missing inferenceTime."""
        self.objects += 1
        for number, line in enumerate(lines, start=1):
            if isinstance(line, bytes):
                line = line.decode("utf-8", errors="replace")
            if line.strip():
                self.add_record(line, f"{source}:{number}", fallback_time)

    def add_record(self, line: str, where: str, fallback_time: str | None = None) -> None:
        """Add one capture line; the first captured row of an id wins, as the first label does."""
        try:
            record = json.loads(line)
            metadata = record.get("eventMetadata") or {}
            inference_id = metadata.get("inferenceId")
            if not isinstance(inference_id, str) or not inference_id:
                self.unidentified += 1
                return
            if self.wanted is not None and inference_id not in self.wanted:
                return
            capture = record["captureData"]
            rows = parse_inputs(*decode_payload(capture["endpointInput"]), self.features)
            output = capture.get("endpointOutput")
            predictions: list[tuple[float | None, int | None]] = (
                list(parse_predictions(*decode_payload(output))) if output else []
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._problem(where, f"{type(exc).__name__}: {exc}")
            return
        self.requests += 1
        if len(predictions) != len(rows):
            if output:
                self.unmatched_predictions += 1
            predictions = [(None, None)] * len(rows)
        moment = metadata.get("inferenceTime") if isinstance(metadata.get("inferenceTime"), str) else None
        for row_id, values, (probability, predicted) in zip(
            row_ids(inference_id, len(rows)), rows, predictions, strict=True
        ):
            if row_id in self.rows:
                self.duplicate_ids += 1
                continue
            usable = probability if probability is not None and probability == probability else None  # NaN
            self.rows[row_id] = CapturedRow(row_id, tuple(values), usable, predicted, moment or fallback_time, where)

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "requests": self.requests,
            "rows": len(self.rows),
            "unidentifiedRequests": self.unidentified,
            "duplicateIds": self.duplicate_ids,
            "unmatchedPredictions": self.unmatched_predictions,
            "skipped": self.skipped,
            "problems": self.problems,
        }
