"""The stdlib validator this project used before the columnar one, kept ONLY as a benchmark baseline.

A verbatim copy of ``functions/validate/checks.py``'s checking code before issue 17 (stdlib ``csv``,
one Python ``Column.parse`` per field, every duplicate-row digest and unique value in memory);
``benchmarks/validation_throughput.py`` runs it next to the columnar validator. Nothing in the
package imports it. Its original docstring follows.

Streaming schema and quality checks of a CSV file, with the standard library only.

The validate Lambda must stay light (no pandas: its import alone would cost a second of cold
start) and must handle files larger than its memory, so rows are checked one at a time and only
small per-column tallies are kept; uniqueness and duplicate-row checks keep a set of values or
16-byte row digests, which is the one cost that grows with the file.

Every rule of the schema is checked and *all* failures are reported together, so a data owner can
fix a file in one pass instead of discovering problems one rejected upload at a time.

Columns with role ``id`` or ``leak`` may be absent from a file: training drops them anyway, and a
batch built from production traffic (ground truth joined with captured features) never has them.
When the schema has a ``time`` column, the file's time range is reported (``timeRange``) so the
training window ("the last D days") can be chosen from the reports without reading the data.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipelines.schema import OPTIONAL_ROLES, Column, DatasetSchema

__all__ = ["MAX_EXAMPLES", "Failure", "ValidationResult", "unreadable", "validate_csv"]

MAX_EXAMPLES = 5  # line numbers and example values kept per failing check

# Check names as they appear in reports and error messages.
HEADER_MISSING = "missing_columns"
HEADER_EXTRA = "extra_columns"
HEADER_DUPLICATE = "duplicate_header"
EMPTY_FILE = "empty_file"
ENCODING = "encoding"
MALFORMED_CSV = "malformed_csv"
ROW_WIDTH = "row_width"
TYPE = "type"
NULLS = "nulls"
RANGE = "range"
CATEGORIES = "categories"
UNIQUE = "unique"
DUPLICATE_ROWS = "duplicate_rows"
MIN_ROWS = "min_rows"
LABEL_BALANCE = "label_balance"


@dataclass
class Failure:
    """One failed check: which column (``None`` for dataset-wide checks), how often and where."""

    check: str
    column: str | None
    message: str
    count: int = 0
    lines: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "column": self.column,
            "count": self.count,
            "lines": self.lines,
            "examples": self.examples,
            "message": self.message,
        }

    def summary(self) -> str:
        where = f"column {self.column!r}" if self.column else "dataset"
        detail = self.message
        if self.lines:
            detail += f"; first at line(s) {', '.join(map(str, self.lines))}"
        if self.examples:
            detail += f"; e.g. {', '.join(repr(e) for e in self.examples[:3])}"
        return f"{where}: {self.check} ({detail})"


class _Tally:
    """Count, first few line numbers and first few example values of one problem."""

    __slots__ = ("count", "examples", "lines")

    def __init__(self) -> None:
        self.count = 0
        self.lines: list[int] = []
        self.examples: list[str] = []

    def add(self, line: int, example: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_EXAMPLES:
            self.lines.append(line)
            self.examples.append(example)


class _ColumnCheck:
    """Running tallies for one schema column."""

    def __init__(self, column: Column) -> None:
        self.column = column
        self.values = 0
        self.nulls = _Tally()
        self.parse_errors = _Tally()
        self.out_of_range = _Tally()
        self.unknown_categories = _Tally()
        self.duplicates = _Tally()
        self.seen: set[Any] | None = set() if column.unique else None
        self.low = math.inf
        self.high = -math.inf
        self.total = 0.0
        self.category_counts: Counter[Any] = Counter()
        self.is_time = column.is_time
        # (sort key, value as written) of the earliest and latest time seen: the key compares
        # timestamps (or numbers), the value is what the report shows.
        self.first_time: tuple[float, Any] | None = None
        self.last_time: tuple[float, Any] | None = None

    def observe(self, raw: str, line: int) -> Any:
        """Check one field; return its parsed value (``None`` when null or unparsable)."""
        column = self.column
        try:
            value = column.parse(raw)
        except ValueError:
            self.parse_errors.add(line, raw)
            return None
        if value is None:
            self.nulls.add(line, raw)
            return None
        self.values += 1
        if column.is_numeric:
            number = float(value)
            self.low, self.high, self.total = (
                min(self.low, number),
                max(self.high, number),
                self.total + number,
            )
            if (column.min is not None and number < column.min) or (column.max is not None and number > column.max):
                self.out_of_range.add(line, raw)
        if column.categories is not None:
            if value in column.categories:
                self.category_counts[value] += 1
            else:
                self.unknown_categories.add(line, raw)
        if self.seen is not None:
            if value in self.seen:
                self.duplicates.add(line, raw)
            else:
                self.seen.add(value)
        if self.is_time:
            self._observe_time(value)
        return value

    def _observe_time(self, value: Any) -> None:
        """Track the time range: numbers compare as numbers, text as ISO-8601 timestamps.

        ``Column.parse`` has already rejected (as a type error) a value that is not a timestamp,
        so ``time_key`` cannot fail here; the value kept is the one written in the file.
        """
        key = self.column.time_key(value)
        if self.first_time is None or key < self.first_time[0]:
            self.first_time = (key, value)
        if self.last_time is None or key > self.last_time[0]:
            self.last_time = (key, value)

    def time_range(self) -> dict[str, Any] | None:
        """``{"min", "max"}`` as written in the file, or ``None`` when no valid time was seen."""
        if self.first_time is None or self.last_time is None:
            return None
        return {"min": self.first_time[1], "max": self.last_time[1]}

    def profile(self, rows: int) -> dict[str, Any]:
        """The column's statistics for the report (a light data profile as well as the verdict)."""
        out: dict[str, Any] = {
            "type": self.column.type,
            "role": self.column.role,
            "values": self.values,
            "nulls": self.nulls.count,
            "nullFraction": self.nulls.count / rows if rows else 0.0,
            "parseErrors": self.parse_errors.count,
        }
        if self.column.is_numeric and self.values:
            out.update(min=self.low, max=self.high, mean=self.total / self.values)
            out["outOfRange"] = self.out_of_range.count
        if self.column.categories is not None:
            out["categoryCounts"] = {str(k): self.category_counts[k] for k in self.column.categories}
            out["unknownCategories"] = self.unknown_categories.count
        if self.seen is not None:
            out["duplicates"] = self.duplicates.count
        if self.is_time:
            out["timeRange"] = self.time_range()
        return out

    def failures(self, rows: int, max_null_fraction: float) -> list[Failure]:
        name, col = self.column.name, self.column
        found: list[Failure] = []

        def fail(check: str, tally: _Tally, message: str) -> None:
            found.append(Failure(check, name, message, tally.count, tally.lines, tally.examples))

        if self.parse_errors.count:
            fail(TYPE, self.parse_errors, f"{self.parse_errors.count} value(s) are not of type {col.type}")
        if self.nulls.count:
            fraction = self.nulls.count / rows if rows else 1.0
            if not col.nullable:
                fail(NULLS, self.nulls, f"{self.nulls.count} empty value(s) in a non-nullable column")
            elif fraction > max_null_fraction:
                fail(
                    NULLS,
                    self.nulls,
                    f"null fraction {fraction:.4f} exceeds maxNullFraction {max_null_fraction}",
                )
        if self.out_of_range.count:
            fail(RANGE, self.out_of_range, f"{self.out_of_range.count} value(s) outside [{col.min}, {col.max}]")
        if self.unknown_categories.count:
            fail(
                CATEGORIES,
                self.unknown_categories,
                f"{self.unknown_categories.count} value(s) not in {list(col.categories or ())}",
            )
        if self.duplicates.count:
            fail(UNIQUE, self.duplicates, f"{self.duplicates.count} repeated value(s) in a unique column")
        return found


@dataclass
class ValidationResult:
    """Everything the report needs; ``valid`` is true only when no check failed."""

    schema: str
    rows: int
    positives: int
    duplicate_rows: int
    header: dict[str, list[str]]
    columns: dict[str, dict[str, Any]]
    failures: list[Failure]
    time_range: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return not self.failures

    @property
    def positive_fraction(self) -> float | None:
        return self.positives / self.rows if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "schema": self.schema,
            "rows": self.rows,
            "positives": self.positives,
            "positiveFraction": self.positive_fraction,
            "duplicateRows": self.duplicate_rows,
            "duplicateRowFraction": self.duplicate_rows / self.rows if self.rows else 0.0,
            "header": self.header,
            "columns": self.columns,
            "failures": [f.to_dict() for f in self.failures],
            "timeRange": self.time_range,
        }


def unreadable(schema: DatasetSchema, check: str, message: str, line: int | None = None) -> ValidationResult:
    """The result for a file that fails before any row can be read (empty, not UTF-8, broken header)."""
    return ValidationResult(
        schema=schema.name,
        rows=0,
        positives=0,
        duplicate_rows=0,
        header=_unread_header(schema),
        columns={},
        failures=[Failure(check, None, message, 1, [line] if line else [])],
    )


def validate_csv(lines: Iterable[str], schema: DatasetSchema) -> ValidationResult:
    """Check a CSV text stream (header first) against ``schema``.

    ``lines`` is anything ``csv.reader`` accepts, e.g. a text file opened with ``newline=""``.
    Line numbers in the result are the file's physical line numbers (the header is line 1), so a
    reader of the report can jump straight to the offending line.
    """
    # strict: malformed quoting is an error, not a silent merge of the rest of the file into one field.
    reader = csv.reader(lines, strict=True)
    expected = list(schema.column_names)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return ValidationResult(
            schema.name,
            0,
            0,
            0,
            _unread_header(schema),
            {},
            [Failure(MALFORMED_CSV, None, f"the header cannot be parsed: {exc}", 1, [1])],
        )
    if header is None:
        return ValidationResult(
            schema.name,
            0,
            0,
            0,
            _unread_header(schema),
            {},
            [Failure(EMPTY_FILE, None, "the file is empty: no header row")],
        )
    # Names are compared exactly (no stripping): training reads the header the same way, so a
    # column that passes here is a column training finds.
    failures: list[Failure] = []
    failures.extend(_header_failures(header, schema))
    positions = {name: i for i, name in reversed(list(enumerate(header)))}  # first occurrence wins
    checks = [(positions[c.name], _ColumnCheck(c)) for c in schema.columns if c.name in positions]
    target_index = next((i for i, (_, chk) in enumerate(checks) if chk.column.name == schema.target), None)

    rows = positives = duplicate_rows = 0
    width = _Tally()
    row_digests: set[bytes] = set()
    try:
        for fields in reader:
            line = reader.line_num
            if not fields:  # a blank line: csv yields [], pandas skips it too
                continue
            rows += 1
            if len(fields) != len(header):
                width.add(line, f"{len(fields)} fields")
            digest = hashlib.blake2b("\x1f".join(fields).encode("utf-8"), digest_size=16).digest()
            if digest in row_digests:
                duplicate_rows += 1
            else:
                row_digests.add(digest)
            for n, (position, check) in enumerate(checks):
                value = check.observe(fields[position] if position < len(fields) else "", line)
                if n == target_index and schema.is_positive(value):
                    positives += 1
    except csv.Error as exc:
        # Unparsable CSV (e.g. a field over csv.field_size_limit, an unterminated quote at EOF):
        # the rows after it cannot be trusted, so stop here and report where it happened.
        failures.append(Failure(MALFORMED_CSV, None, f"the CSV cannot be parsed: {exc}", 1, [reader.line_num]))

    if width.count:
        failures.append(
            Failure(
                ROW_WIDTH,
                None,
                f"{width.count} row(s) do not have {len(header)} fields",
                width.count,
                width.lines,
                width.examples,
            )
        )
    for _, check in checks:
        failures.extend(check.failures(rows, schema.quality.max_null_fraction))
    failures.extend(_dataset_failures(schema, rows, positives, duplicate_rows, target_index is not None))
    missing, absent = _missing_columns(header, schema)
    extra = [h for h in header if h not in expected]
    time_check = next((check for _, check in checks if check.is_time), None)
    return ValidationResult(
        schema=schema.name,
        rows=rows,
        positives=positives,
        duplicate_rows=duplicate_rows,
        header={"expected": expected, "found": header, "missing": missing, "extra": extra, "absent": absent},
        columns={check.column.name: check.profile(rows) for _, check in checks},
        failures=failures,
        time_range=time_check.time_range() if time_check else None,
    )


def _unread_header(schema: DatasetSchema) -> dict[str, list[str]]:
    """The header block of a file whose header could not be read: every required column is missing."""
    expected = list(schema.column_names)
    required = [c.name for c in schema.required_columns]
    absent = [c.name for c in schema.optional_columns]
    return {"expected": expected, "found": [], "missing": required, "extra": [], "absent": absent}


def _missing_columns(header: list[str], schema: DatasetSchema) -> tuple[list[str], list[str]]:
    """``(missing, absent)``: required columns not in the header, and optional ones not in it.

    Only the first is a failure; the second is reported so a reader sees which optional columns
    (and therefore which of their checks, e.g. ``unique``) were skipped.
    """
    present = set(header)
    missing = [c.name for c in schema.columns if c.name not in present and c.role not in OPTIONAL_ROLES]
    absent = [c.name for c in schema.columns if c.name not in present and c.role in OPTIONAL_ROLES]
    return missing, absent


def _header_failures(header: list[str], schema: DatasetSchema) -> list[Failure]:
    expected = set(schema.column_names)
    found: list[Failure] = []
    missing, _ = _missing_columns(header, schema)
    extra = [h for h in header if h not in expected]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if missing:
        found.append(Failure(HEADER_MISSING, None, f"header lacks column(s) {missing}", len(missing), [1], missing))
    if extra:
        found.append(Failure(HEADER_EXTRA, None, f"header has unexpected column(s) {extra}", len(extra), [1], extra))
    if repeated:
        found.append(
            Failure(HEADER_DUPLICATE, None, f"header repeats column(s) {repeated}", len(repeated), [1], repeated)
        )
    return found


def _dataset_failures(
    schema: DatasetSchema, rows: int, positives: int, duplicate_rows: int, has_target: bool
) -> list[Failure]:
    rules = schema.quality
    found: list[Failure] = []
    if rows < rules.min_rows:
        found.append(Failure(MIN_ROWS, None, f"{rows} data row(s), fewer than minRows {rules.min_rows}", rows))
    if rows:
        fraction = duplicate_rows / rows
        if fraction > rules.max_duplicate_row_fraction:
            found.append(
                Failure(
                    DUPLICATE_ROWS,
                    None,
                    f"duplicate row fraction {fraction:.4f} exceeds maxDuplicateRowFraction "
                    f"{rules.max_duplicate_row_fraction}",
                    duplicate_rows,
                )
            )
    if rows and has_target:
        fraction = positives / rows
        if not rules.min_positive_fraction <= fraction <= rules.max_positive_fraction:
            found.append(
                Failure(
                    LABEL_BALANCE,
                    schema.target,
                    f"positive fraction {fraction:.4f} ({positives}/{rows} rows labelled "
                    f"{schema.positive_label!r}) "
                    f"is outside [{rules.min_positive_fraction}, {rules.max_positive_fraction}]",
                    positives,
                )
            )
    return found
