"""Schema and quality checks of a CSV file: the report's types, and the entry point ``validate_csv``.

The checking itself is columnar and streaming (:mod:`functions.validate.columnar`: pyarrow parses
blocks of lines, numpy and pyarrow.compute check them), with memory bounded by a constant whatever
the file's size: uniqueness and duplicate-row keys past a budget are spilled to hashed partition
files on local storage (:mod:`functions.validate.spill`). pyarrow and numpy come from the AWS SDK
for pandas Lambda layer and are imported on the first validation, not with the handler.

Every rule of the schema is checked and *all* failures are reported together, so a data owner can
fix a file in one pass instead of discovering problems one rejected upload at a time. Line
numbers are the file's physical lines (the header is line 1), also when a quoted field holds a
newline.

Columns with role ``id`` or ``leak`` may be absent from a file: training drops them anyway, and a
batch built from production traffic (ground truth joined with captured features) never has them.
When the schema has a ``time`` column, the file's time range is reported (``timeRange``) so the
training window ("the last D days") can be chosen from the reports without reading the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.schema import OPTIONAL_ROLES, DatasetSchema

if TYPE_CHECKING:
    from functions.validate.columnar import Limits

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
        header=unread_header(schema),
        columns={},
        failures=[Failure(check, None, message, 1, [line] if line else [])],
    )


def validate_csv(
    source: Any,
    schema: DatasetSchema,
    *,
    limits: Limits | None = None,
    progress: Callable[[int], None] | None = None,
) -> ValidationResult:
    """Check a CSV file (header first) against ``schema``: one part, validated and merged.

    ``source`` is a binary stream (what the validate Lambda and ``mlops validate`` pass: the bytes
    as stored, so a file that is not UTF-8 is reported, not crashed on), a text stream opened with
    ``newline=""``, or an iterable of text lines. ``progress(rows)`` is called after each block of
    the file. Spilled key partitions, if the file needed any, are removed before returning.
    """
    from functions.validate.columnar import discard, merge, validate_part

    part = validate_part(source, schema, limits=limits, spill_all=False, progress=progress)
    try:
        return merge([part], schema, limits=limits)
    finally:
        discard([part])


def unread_header(schema: DatasetSchema) -> dict[str, list[str]]:
    """The header block of a file whose header could not be read: every required column is missing."""
    expected = list(schema.column_names)
    required = [c.name for c in schema.required_columns]
    absent = [c.name for c in schema.optional_columns]
    return {"expected": expected, "found": [], "missing": required, "extra": [], "absent": absent}


def header_block(header: list[str], schema: DatasetSchema) -> dict[str, list[str]]:
    """The report's ``header``: the expected and found names, and which are missing, extra or absent."""
    expected = list(schema.column_names)
    missing, absent = _missing_columns(header, schema)
    extra = [h for h in header if h not in expected]
    return {"expected": expected, "found": list(header), "missing": missing, "extra": extra, "absent": absent}


def _missing_columns(header: list[str], schema: DatasetSchema) -> tuple[list[str], list[str]]:
    """``(missing, absent)``: required columns not in the header, and optional ones not in it.

    Only the first is a failure; the second is reported so a reader sees which optional columns
    (and therefore which of their checks, e.g. ``unique``) were skipped.
    """
    present = set(header)
    missing = [c.name for c in schema.columns if c.name not in present and c.role not in OPTIONAL_ROLES]
    absent = [c.name for c in schema.columns if c.name not in present and c.role in OPTIONAL_ROLES]
    return missing, absent


def header_failures(header: list[str], schema: DatasetSchema) -> list[Failure]:
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


def dataset_failures(
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
