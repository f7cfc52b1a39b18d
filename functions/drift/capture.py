"""Turn SageMaker data-capture JSONL into feature columns and predictions.

One capture line is one request, and one request may hold many rows (CSV lines, JSON instances),
so rows are what is counted. The input formats mirror what ``pipelines/inference.py`` accepts:
header-less CSV in the schema's feature order, CSV whose first row names every feature, and JSON
``{"instances": [...]}`` or a bare list, each instance an object keyed by feature name or an array
in feature order. Payloads arrive as ``CSV``/``JSON`` text or ``BASE64`` bytes.

A malformed line or request is skipped and counted, never fatal: one bad client must not blind the
monitor to everyone else's traffic. The skips are reported so a broken client is still visible.

Cost: a window holds up to hundreds of thousands of rows, so nothing runs in Python per *value* on
the common path. A line costs its ``json.loads`` calls and, for CSV without quotes, one
``str.split`` per row instead of a ``csv`` reader; rows are kept as they came and typed column by
column when :attr:`CaptureWindow.columns` is read: a column whose texts are all plain ASCII numbers
(checked at once, with one ``bytes.translate`` over the joined column) is converted by
``map(float, ...)``, numbers from JSON are taken as they are, and anything else is typed by
``Column.parse`` once per distinct text. The columns are identical to typing each value on its own
with :func:`_typed`, the reference (tests/unit/functions/test_drift_capture_columns.py).
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import io
import json
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.schema import Column

__all__ = ["CaptureWindow", "decode_payload", "parse_inputs", "parse_outputs"]

CSV_TYPE = "text/csv"
JSON_TYPE = "application/json"
MAX_PROBLEMS_KEPT = 10

# Plain ASCII numbers: texts made only of these characters are, for int() and float(), exactly the
# texts Column.parse accepts as an integer / a float (its patterns, minus their Unicode digits and
# surrounding blanks), on which it returns int(text) / float(text). A column with any other text, or
# one int()/float() refuses, is typed by Column.parse itself.
_INTEGER_CHARS = b"0123456789+-"
_FLOAT_CHARS = b"0123456789+-.eE"
# Characters after which csv.reader would split differently from str.split(",") (quotes, CR, NUL).
_CSV_SPECIAL = frozenset('"\r\x00')


def _media_type(value: str | None) -> str:
    if isinstance(value, str):
        return _media_type_of_text(value)  # a window has a handful of distinct content types
    return (value or "").split(",")[0].split(";")[0].strip().lower()


@functools.lru_cache(maxsize=64)
def _media_type_of_text(value: str) -> str:
    return value.split(",")[0].split(";")[0].strip().lower()


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
    if _CSV_SPECIAL.isdisjoint(text):  # no quoting, CR or NUL: csv.reader splits at "\n" and ","
        # A row of blank cells is a line that is blank once its commas are gone.
        return [line.split(",") for line in text.split("\n") if line.replace(",", "").strip()]
    return [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]


_DECODER = json.JSONDecoder()  # json.loads' own decoder, without its wrapper on every line


def _json_loads(text: str) -> Any:
    """``json.loads(text)`` for a ``str``, one Python call shorter (this runs twice per capture line)."""
    if not isinstance(text, str) or text.startswith("\ufeff"):
        return json.loads(text)  # bytes, or its BOM error word for word
    return _DECODER.decode(text)


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # the ABC check only for non-dicts


def parse_inputs(media: str, text: str, features: Sequence[Column]) -> list[list[Any]]:
    """Rows of raw feature values in ``features`` order; raises ValueError for an unusable request."""
    return _parse_inputs(media, text, [c.name for c in features])


def _parse_inputs(media: str, text: str, names: Sequence[str]) -> list[list[Any]]:
    width = len(names)
    if media == CSV_TYPE:
        rows: list[Any] = _csv_rows(text)
        # Split without quoting, every cell is a substring of the text: without the first feature's
        # name in it there is no header, and rows of the right width are the answer as they are.
        plain = width and names[0] not in text and _CSV_SPECIAL.isdisjoint(text)
        if plain and all(len(row) == width for row in rows):
            return rows
    elif media == JSON_TYPE:
        payload = _json_loads(text)
        if _is_mapping(payload):
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
    if header is None and media == CSV_TYPE and all(len(row) == width for row in rows):
        return rows  # fresh lists of text, one per row, in feature order
    out: list[list[Any]] = []
    for i, row in enumerate(rows):
        if _is_mapping(row):
            out.append(list(map(row.get, names)))
        elif isinstance(row, list):
            if header is not None:
                if len(row) != len(header):
                    raise ValueError(f"row {i}: {len(row)} values under a header of {len(header)}")
                by_name = dict(zip(header, row, strict=True))
                out.append(list(map(by_name.get, names)))
            elif len(row) == width:
                out.append(list(row))
            else:
                raise ValueError(f"row {i}: {len(row)} values, expected {width} features")
        else:
            raise ValueError(f"row {i}: expected an object or an array, got {type(row).__name__}")
    return out


def parse_outputs(media: str, text: str) -> list[float]:
    """Positive-class probabilities from a JSON ``{"predictions": [{"probability"}]}`` or CSV body."""
    if media == JSON_TYPE:
        payload = _json_loads(text)
        items = payload.get("predictions") if _is_mapping(payload) else payload
        if not isinstance(items, list):
            raise ValueError('JSON output must be {"predictions": [...]}')
        return [float(item["probability"] if _is_mapping(item) else item) for item in items]
    if media == CSV_TYPE:
        return [float(row[0]) for row in _csv_rows(text)]
    raise ValueError(f"unsupported output content type {media!r}")


def _typed(column: Column, value: Any) -> Any:
    """Numeric features as floats (``None`` when unusable), categorical ones as their text.

    The reference for one value; :func:`_typed_column` gives the same result for a whole column.
    """
    if value is None:
        return None
    if column.is_numeric:
        if isinstance(value, bool):
            return None
        try:
            if isinstance(value, int | float):
                return float(value)
            parsed = column.parse(str(value))
            return None if parsed is None else float(parsed)
        except (ValueError, OverflowError):  # not a number, or an integer beyond the float range
            return None
    # Categories are compared as text by the drift statistics; a nested value is kept visible as JSON.
    return json.dumps(value) if isinstance(value, list | dict) else value


def _typed_column(column: Column, values: Sequence[Any]) -> list[Any]:
    """``[_typed(column, v) for v in values]``, without a Python call per value on the common paths."""
    kinds = set(map(type, values))
    if not column.is_numeric:
        return [_typed(column, v) for v in values] if kinds & {list, dict} else list(values)
    if kinds <= {float, int}:  # numbers from JSON (bool is a type of its own, so not among them)
        try:
            return list(map(float, values))
        except OverflowError:  # an integer beyond the float range: _typed makes it None
            return [_typed(column, v) for v in values]
    if kinds == {str}:
        plain = _plain_numbers(column, values)
        if plain is not None:
            return plain
    if kinds <= {str, type(None)}:  # no two of these values are equal across types
        typed = {value: _typed(column, value) for value in set(values)}  # Column.parse once per text
        return list(map(typed.__getitem__, values))
    return [_typed(column, v) for v in values]


def _plain_numbers(column: Column, texts: Sequence[str]) -> list[float] | None:
    """The floats of a column whose every text is a plain ASCII number, else ``None``.

    The texts are checked together: joined by newlines, their characters are checked with one
    ``bytes.translate`` (a text holding a newline itself shows up as a newline too many).
    """
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1 or not joined.isascii():
        return None
    integer = column.type == "integer"
    if joined.encode("ascii").translate(None, (_INTEGER_CHARS if integer else _FLOAT_CHARS) + b"\n"):
        return None  # some other character: blanks, letters, separators...
    try:
        if integer:
            return list(map(float, map(int, texts)))  # Column.parse gives int(text); _typed, its float
        floats = list(map(float, texts))
    except (ValueError, OverflowError):  # "1-2", "e", "": not numbers after all; or too large
        return None
    return floats if all(map(math.isfinite, floats)) else None  # out of range: Column.parse refuses


@dataclass
class CaptureWindow:
    """Feature columns (by name) and predictions accumulated from capture lines.

    Rows are kept as the requests held them and typed, column by column, when :attr:`columns` is
    read (see the module docstring); reading it again after more lines only types the new rows.
    """

    features: Sequence[Column]
    predictions: list[float] = field(default_factory=list)
    requests: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    unmatched_predictions: int = 0
    _typed_columns: dict[str, list[Any]] = field(init=False, repr=False)
    _pending: list[list[Any]] = field(init=False, repr=False, default_factory=list)
    _names: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._names = [c.name for c in self.features]
        self._typed_columns = {name: [] for name in self._names}

    @property
    def columns(self) -> dict[str, list[Any]]:
        """Feature columns by name: numeric values as floats (``None`` when unusable), categories as text."""
        if self._pending:
            pending, self._pending = self._pending, []
            for index, column in enumerate(self.features):
                values = list(map(operator.itemgetter(index), pending))
                self._typed_columns[column.name].extend(_typed_column(column, values))
        return self._typed_columns

    @property
    def rows(self) -> int:
        return len(next(iter(self._typed_columns.values()), [])) + len(self._pending)

    def _problem(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(f"{where}: {why}")

    def add_lines(self, lines: Iterable[str | bytes], source: str) -> None:
        for number, line in enumerate(lines, start=1):
            if isinstance(line, bytes):
                line = line.decode("utf-8", errors="replace")
            if line.strip():
                self._add(line, source, number)

    def add_record(self, line: str, where: str) -> None:
        """Add one capture line; a request that cannot be read is skipped as a whole."""
        self._add(line, where, None)

    def _add(self, line: str, where: str, number: int | None) -> None:
        try:
            record = _json_loads(line)
            capture = record["captureData"]
            rows = _parse_inputs(*decode_payload(capture["endpointInput"]), self._names)
            output = capture.get("endpointOutput")
            predictions = parse_outputs(*decode_payload(output)) if output else []
        # csv.Error: a bare CR in a CSV payload; RecursionError: JSON nested past the recursion limit.
        except (ValueError, KeyError, TypeError, csv.Error, RecursionError) as exc:
            self._problem(where if number is None else f"{where}:{number}", f"{type(exc).__name__}: {exc}")
            return
        self.requests += 1
        self._pending.extend(rows)
        if len(predictions) != len(rows):
            self.unmatched_predictions += 1
        total = sum(predictions)  # NaN exactly when some prediction is NaN (or +inf meets -inf)
        self.predictions.extend(predictions if total == total else (p for p in predictions if p == p))  # drop NaN
