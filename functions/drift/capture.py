"""Turn SageMaker data-capture JSONL into feature columns and predictions.

One capture line is one request, and one request may hold many rows (CSV lines, JSON instances),
so rows are what is counted. The input formats mirror what ``pipelines/inference.py`` accepts:
header-less CSV in the schema's feature order, CSV whose first row names every feature, and JSON
``{"instances": [...]}`` or a bare list, each instance an object keyed by feature name or an array
in feature order. Payloads arrive as ``CSV``/``JSON`` text or ``BASE64`` bytes.

A malformed line or request is skipped and counted, never fatal: one bad client must not blind the
monitor to everyone else's traffic. The skips are reported so a broken client is still visible.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.schema import Column

__all__ = ["CaptureWindow", "decode_payload", "parse_inputs", "parse_outputs"]

CSV_TYPE = "text/csv"
JSON_TYPE = "application/json"
MAX_PROBLEMS_KEPT = 10


def _media_type(value: str | None) -> str:
    return (value or "").split(",")[0].split(";")[0].strip().lower()


def decode_payload(part: Mapping[str, Any]) -> tuple[str, str]:
    """``(media type, text)`` of a capture ``endpointInput``/``endpointOutput`` block."""
    encoding = str(part.get("encoding", "")).upper()
    data = part.get("data")
    if not isinstance(data, str):
        raise ValueError("capture payload has no 'data' text")
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8-sig")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"BASE64 payload does not decode to UTF-8 text: {exc}") from exc
    elif encoding not in {"CSV", "JSON"}:
        raise ValueError(f"unknown capture encoding {encoding!r}")
    media = _media_type(part.get("observedContentType"))
    if not media:  # SageMaker always records it; infer from the encoding for hand-made captures
        media = JSON_TYPE if encoding == "JSON" else CSV_TYPE
    return media, data


def _csv_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]


def parse_inputs(media: str, text: str, features: Sequence[Column]) -> list[list[Any]]:
    """Rows of raw feature values in ``features`` order; raises ValueError for an unusable request."""
    names = [c.name for c in features]
    if media == CSV_TYPE:
        rows: list[Any] = _csv_rows(text)
    elif media == JSON_TYPE:
        payload = json.loads(text)
        if isinstance(payload, Mapping):
            payload = payload.get("instances")
        if not isinstance(payload, list):
            raise ValueError('JSON input must be {"instances": [...]} or a list')
        rows = payload
    else:
        raise ValueError(f"unsupported input content type {media!r}")
    header: list[str] | None = None
    if rows and isinstance(rows[0], list) and all(isinstance(c, str) for c in rows[0]):
        cells = [c.strip() for c in rows[0]]
        if set(names) <= set(cells):
            header, rows = cells, rows[1:]
    out: list[list[Any]] = []
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            out.append([row.get(n) for n in names])
        elif isinstance(row, list):
            if header is not None:
                if len(row) != len(header):
                    raise ValueError(f"row {i}: {len(row)} values under a header of {len(header)}")
                by_name = dict(zip(header, row, strict=True))
                out.append([by_name.get(n) for n in names])
            elif len(row) == len(names):
                out.append(list(row))
            else:
                raise ValueError(f"row {i}: {len(row)} values, expected {len(names)} features")
        else:
            raise ValueError(f"row {i}: expected an object or an array, got {type(row).__name__}")
    return out


def parse_outputs(media: str, text: str) -> list[float]:
    """Positive-class probabilities from a JSON ``{"predictions": [{"probability"}]}`` or CSV body."""
    if media == JSON_TYPE:
        payload = json.loads(text)
        items = payload.get("predictions") if isinstance(payload, Mapping) else payload
        if not isinstance(items, list):
            raise ValueError('JSON output must be {"predictions": [...]}')
        return [float(item["probability"] if isinstance(item, Mapping) else item) for item in items]
    if media == CSV_TYPE:
        return [float(row[0]) for row in _csv_rows(text)]
    raise ValueError(f"unsupported output content type {media!r}")


def _typed(column: Column, value: Any) -> Any:
    """Numeric features as floats (``None`` when unusable), categorical ones as their text."""
    if value is None:
        return None
    if column.is_numeric:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
        try:
            parsed = column.parse(str(value))
        except ValueError:
            return None
        return None if parsed is None else float(parsed)
    # Categories are compared as text by the drift statistics; a nested value is kept visible as JSON.
    return json.dumps(value) if isinstance(value, list | dict) else value


@dataclass
class CaptureWindow:
    """Feature columns (by name) and predictions accumulated from capture lines."""

    features: Sequence[Column]
    columns: dict[str, list[Any]] = field(init=False)
    predictions: list[float] = field(default_factory=list)
    requests: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    unmatched_predictions: int = 0

    def __post_init__(self) -> None:
        self.columns = {c.name: [] for c in self.features}

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def _problem(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(f"{where}: {why}")

    def add_lines(self, lines: Iterable[str | bytes], source: str) -> None:
        for number, line in enumerate(lines, start=1):
            if isinstance(line, bytes):
                line = line.decode("utf-8", errors="replace")
            if line.strip():
                self.add_record(line, f"{source}:{number}")

    def add_record(self, line: str, where: str) -> None:
        """Add one capture line; a request that cannot be read is skipped as a whole."""
        try:
            record = json.loads(line)
            capture = record["captureData"]
            rows = parse_inputs(*decode_payload(capture["endpointInput"]), self.features)
            output = capture.get("endpointOutput")
            predictions = parse_outputs(*decode_payload(output)) if output else []
        except (ValueError, KeyError, TypeError) as exc:
            self._problem(where, f"{type(exc).__name__}: {exc}")
            return
        self.requests += 1
        for row in rows:
            for column, value in zip(self.features, row, strict=True):
                self.columns[column.name].append(_typed(column, value))
        if len(predictions) != len(rows):
            self.unmatched_predictions += 1
        self.predictions.extend(p for p in predictions if p == p)  # drop NaN
