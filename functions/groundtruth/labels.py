"""Reading a ground-truth label file: ``inferenceId,label[,time]``, one label per served row.

Labels come from outside the system (a ticketing export, a manual review), so the file is read
defensively: a file whose *shape* is wrong (not UTF-8, unparsable CSV, a header without the two
required columns) is rejected as a whole with :class:`LabelFileError`, whose message says what to
fix; a bad *row* is only counted and listed with a few examples, because one typo must not throw
away the thousand good labels around it. The first label of an id wins (a correction is a new row
in a later file, not a second row in the same one) and later ones are counted as duplicates.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.schema import FLOAT_SYNTAX, Column, Value, parse_timestamp

__all__ = [
    "ID_FIELD",
    "LABEL_FIELD",
    "MAX_EXAMPLES",
    "TIME_FIELD",
    "Examples",
    "Label",
    "LabelFile",
    "LabelFileError",
    "parse_labels",
]

ID_FIELD, LABEL_FIELD, TIME_FIELD = "inferenceId", "label", "time"
MAX_EXAMPLES = 5  # examples kept per problem in the report
_NUMBER_RE = re.compile(FLOAT_SYNTAX)  # the schema's number syntax: what validation accepts


class LabelFileError(ValueError):
    """The label file cannot be read at all; the message names the problem and the fix."""


@dataclass
class Examples:
    """How often a problem occurred, with the first few occurrences for the report."""

    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, **example: Any) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": self.examples}


@dataclass(frozen=True)
class Label:
    """One accepted label: the target value parsed as the schema's target column would parse it."""

    inference_id: str
    value: Value
    line: int
    time: str | None = None  # as written; checked to be a timestamp when the schema has a time column
    moment: datetime | None = None  # ``time`` as an instant (``None`` for a bare number: see time_is_number)
    time_is_number: bool = False


@dataclass
class LabelFile:
    """The accepted labels by id (in file order) and what was refused."""

    labels: dict[str, Label] = field(default_factory=dict)
    rows: int = 0
    duplicates: Examples = field(default_factory=Examples)
    invalid: Examples = field(default_factory=Examples)
    ignored_columns: list[str] = field(default_factory=list)
    has_time: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "accepted": len(self.labels),
            "duplicates": self.duplicates.to_dict(),
            "invalid": self.invalid.to_dict(),
            "ignoredColumns": self.ignored_columns,
            "hasTime": self.has_time,
        }


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(
            f"the label file is not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.end]!r}); "
            "save it as UTF-8 CSV"
        ) from None


def _parse_time(raw: str, time_column: Column | None) -> tuple[datetime | None, bool]:
    """``(instant, is_number)`` of a label's time; raises ``ValueError`` when it is neither.

    A bare number is only meaningful to a numeric time column (epoch seconds, or the dataset's own
    counter), so it is kept as written; ISO text is read as an instant (naive = UTC).
    """
    text = raw.strip()
    if _NUMBER_RE.fullmatch(text):
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"time {raw!r} is not a finite number")
        if time_column is not None and not time_column.is_numeric:
            try:
                return datetime.fromtimestamp(number, UTC), True
            except (OverflowError, OSError, ValueError):
                raise ValueError(f"time {raw!r} is not a usable epoch time") from None
        return None, True
    try:
        return parse_timestamp(text), False
    except ValueError:
        raise ValueError(f"time {raw!r} is not an ISO-8601 timestamp or a number") from None


def parse_labels(data: bytes | str, target: Column, time_column: Column | None = None) -> LabelFile:
    """Read a label file (bytes as stored, or text) into accepted labels and counted problems.

    ``target`` parses and checks each label exactly as the validator will check the batch built
    from it; ``time_column`` (the schema's, or ``None``) decides whether a ``time`` value matters
    and so whether a bad one makes the row invalid. Raises :class:`LabelFileError` for a file that
    cannot be read as a label file at all.
    """
    text = _decode(data) if isinstance(data, bytes) else data
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise LabelFileError(f"the header line cannot be parsed as CSV: {exc}") from None
    if header is None or not any(cell.strip() for cell in header):
        raise LabelFileError(f"the label file is empty: expected a header {ID_FIELD},{LABEL_FIELD}[,{TIME_FIELD}]")
    names = [cell.strip() for cell in header]
    missing = [name for name in (ID_FIELD, LABEL_FIELD) if name not in names]
    if missing:
        raise LabelFileError(
            f"the header {names!r} lacks {missing!r}: expected {ID_FIELD},{LABEL_FIELD}[,{TIME_FIELD}] "
            "(names are case-sensitive)"
        )
    repeated = sorted({n for n in names if names.count(n) > 1 and n in (ID_FIELD, LABEL_FIELD, TIME_FIELD)})
    if repeated:
        raise LabelFileError(f"the header repeats {repeated!r}: each column may appear once")
    id_at, label_at = names.index(ID_FIELD), names.index(LABEL_FIELD)
    time_at = names.index(TIME_FIELD) if TIME_FIELD in names else None
    result = LabelFile(
        ignored_columns=[n for n in names if n not in (ID_FIELD, LABEL_FIELD, TIME_FIELD)],
        has_time=time_at is not None,
    )
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or not any(cell.strip() for cell in fields):
                continue  # blank lines, as the validator and pandas skip them
            result.rows += 1
            _add_row(result, fields, line, id_at, label_at, time_at, target, time_column)
    except csv.Error as exc:
        raise LabelFileError(f"line {reader.line_num} cannot be parsed as CSV: {exc}") from None
    return result


def _add_row(
    result: LabelFile,
    fields: list[str],
    line: int,
    id_at: int,
    label_at: int,
    time_at: int | None,
    target: Column,
    time_column: Column | None,
) -> None:
    def cell(at: int | None) -> str | None:
        return fields[at] if at is not None and at < len(fields) else None

    inference_id = (cell(id_at) or "").strip()
    raw_label = cell(label_at)
    if not inference_id:
        result.invalid.add(line=line, inferenceId=inference_id, label=raw_label, reason="empty inferenceId")
        return
    reason = None
    value: Value | None = None
    try:
        value = target.parse((raw_label or "").strip())
    except ValueError as exc:
        reason = str(exc)
    if reason is None and value is None:
        reason = "empty label"
    elif reason is None and target.categories is not None and value not in target.categories:
        reason = f"label {raw_label!r} is not one of the target categories {list(target.categories)!r}"
    raw_time = cell(time_at)
    raw_time = raw_time if raw_time and raw_time.strip() else None
    moment, is_number = None, False
    if reason is None and raw_time is not None and time_column is not None:
        try:
            moment, is_number = _parse_time(raw_time, time_column)
        except ValueError as exc:
            reason = str(exc)
    if reason is not None or value is None:
        result.invalid.add(line=line, inferenceId=inference_id, label=raw_label, reason=reason)
        return
    if inference_id in result.labels:
        first = result.labels[inference_id]
        result.duplicates.add(line=line, inferenceId=inference_id, label=raw_label, firstLine=first.line)
        return
    result.labels[inference_id] = Label(inference_id, value, line, raw_time, moment, is_number)
