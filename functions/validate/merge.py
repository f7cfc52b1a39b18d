"""The partial results of a file's parts merged into one :class:`~functions.validate.checks.ValidationResult`.

Counts add up, the first :data:`~functions.validate.checks.MAX_EXAMPLES` lines are the smallest over
the parts (shifted by the lines of the parts before), and repeats are counted over all parts'
partitions together, so a row repeated across parts is a duplicate too. Column means are float
sums, so a merged mean may differ from a single pass's in the last bits. ``min_rows`` and
``label_balance`` are not reported for a file with a malformed record: their counts are of a file
that could not be read whole, and the malformed record is the problem to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from functions.validate.checks import (
    CATEGORIES,
    ENCODING,
    MALFORMED_CSV,
    MAX_EXAMPLES,
    NULLS,
    RANGE,
    ROW_WIDTH,
    TYPE,
    UNIQUE,
    Failure,
    ValidationResult,
    dataset_failures,
    header_block,
    header_failures,
    unread_header,
)
from functions.validate.limits import Limits
from functions.validate.partial import ROWS_KEYSET, ColumnTally, PartialResult, Tally, unique_keyset
from functions.validate.spill import count_repeats, open_store
from pipelines.schema import Column, DatasetSchema

__all__ = ["discard", "merge"]


def merge(
    partials: Sequence[PartialResult], schema: DatasetSchema, *, limits: Limits | None = None
) -> ValidationResult:
    """One report from the partial results of a file's parts, in file order (a part alone is a whole file)."""
    limits = limits or Limits.from_env()
    if not partials:
        raise ValueError("merge needs the partial result of at least one part")
    for partial in partials:
        if partial.fatal is not None and partial.fatal.check == ENCODING:
            return _unread(schema, partial.fatal)
    first = partials[0]
    if first.fatal is not None or first.header is None:
        assert first.fatal is not None
        return _unread(schema, first.fatal)
    header = first.header
    bases: list[int] = []
    for k, partial in enumerate(partials):
        if partial.first_line is not None:
            bases.append(partial.first_line - 1)
        else:
            bases.append(bases[-1] + partials[k - 1].line_count if k else 0)

    rows = sum(p.rows for p in partials)
    positives = sum(p.positives for p in partials)
    width, malformed = Tally(), Tally()
    columns: dict[str, ColumnTally] = {}
    for partial, base in zip(partials, bases, strict=True):
        partial.width.shifted_into(width, base)
        partial.malformed.shifted_into(malformed, base)
        for name, tally in partial.columns.items():
            _merge_column(columns.setdefault(name, ColumnTally(name, tally.position)), tally, base)

    failures = header_failures(header, schema)
    message = next((p.malformed_message for p in partials if p.malformed_message), None)
    if malformed.count:
        text = message or "the CSV cannot be parsed"
        if malformed.count > 1:
            text += f" ({malformed.count} malformed records in all)"
        failures.append(Failure(MALFORMED_CSV, None, text, malformed.count, malformed.lines, []))
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
    duplicates: dict[str, Tally] = {}
    for column in schema.columns:
        if column.name in columns and column.unique:
            repeats = count_repeats(
                [(p.keysets[unique_keyset(column.name)], b) for p, b in zip(partials, bases, strict=True)],
                keep=MAX_EXAMPLES,
                memory_bytes=limits.hash_memory_bytes,
                scratch_dir=limits.spill_dir,
            )
            examples = [t.decode("utf-8", "ignore") for t in repeats.texts]
            duplicates[column.name] = Tally(repeats.count, repeats.lines, examples)
    duplicate_rows = count_repeats(
        [(p.keysets[ROWS_KEYSET], b) for p, b in zip(partials, bases, strict=True) if ROWS_KEYSET in p.keysets],
        keep=0,
        memory_bytes=limits.hash_memory_bytes,
        scratch_dir=limits.spill_dir,
    ).count
    profiles: dict[str, dict[str, Any]] = {}
    time_range: dict[str, Any] | None = None
    for column in schema.columns:
        if column.name not in columns:
            continue
        tally = columns[column.name]
        profiles[column.name] = _profile(column, tally, rows, duplicates.get(column.name))
        failures.extend(_column_failures(column, tally, rows, schema, duplicates.get(column.name)))
        if column.is_time:
            time_range = _time_range(tally)
    has_target = schema.target in columns
    dataset = dataset_failures(schema, rows, positives, duplicate_rows, has_target)
    if malformed.count:  # the counts are of a file that could not be read whole: report the real problem
        dataset = [f for f in dataset if f.check not in ("min_rows", "label_balance")]
    failures.extend(dataset)
    return ValidationResult(
        schema=schema.name,
        rows=rows,
        positives=positives,
        duplicate_rows=duplicate_rows,
        header=header_block(header, schema),
        columns=profiles,
        failures=failures,
        time_range=time_range,
    )


def _unread(schema: DatasetSchema, failure: Failure) -> ValidationResult:
    return ValidationResult(schema.name, 0, 0, 0, unread_header(schema), {}, [failure])


def _merge_column(total: ColumnTally, part: ColumnTally, base: int) -> None:
    total.values += part.values
    for name in ColumnTally._TALLIES:
        getattr(part, name).shifted_into(getattr(total, name), base)
    total.low, total.high, total.total = min(total.low, part.low), max(total.high, part.high), total.total + part.total
    for key, n in part.category_counts.items():
        total.category_counts[key] = total.category_counts.get(key, 0) + n
    for attr, sign in (("first_time", 1), ("last_time", -1)):
        mine = getattr(part, attr)
        if mine is None:
            continue
        candidate = [mine[0], mine[1], mine[2] + base]
        current = getattr(total, attr)
        # the earlier (latest) instant wins; at a tie, the earlier line, as a single pass would keep
        if current is None or (sign * candidate[0], candidate[2]) < (sign * current[0], current[2]):
            setattr(total, attr, candidate)


def _time_range(tally: ColumnTally) -> dict[str, Any] | None:
    if tally.first_time is None or tally.last_time is None:
        return None
    return {"min": tally.first_time[1], "max": tally.last_time[1]}


def _profile(column: Column, tally: ColumnTally, rows: int, duplicates: Tally | None) -> dict[str, Any]:
    """The column's statistics for the report (a light data profile as well as the verdict)."""
    out: dict[str, Any] = {
        "type": column.type,
        "role": column.role,
        "values": tally.values,
        "nulls": tally.nulls.count,
        "nullFraction": tally.nulls.count / rows if rows else 0.0,
        "parseErrors": tally.parse_errors.count,
    }
    if column.is_numeric and tally.values:
        out.update(min=tally.low, max=tally.high, mean=tally.total / tally.values)
        out["outOfRange"] = tally.out_of_range.count
    if column.categories is not None:
        out["categoryCounts"] = {str(k): tally.category_counts.get(str(k), 0) for k in column.categories}
        out["unknownCategories"] = tally.unknown_categories.count
    if column.unique:
        out["duplicates"] = duplicates.count if duplicates else 0
    if column.is_time:
        out["timeRange"] = _time_range(tally)
    return out


def _column_failures(
    column: Column, tally: ColumnTally, rows: int, schema: DatasetSchema, duplicates: Tally | None
) -> list[Failure]:
    found: list[Failure] = []

    def fail(check: str, t: Tally, message: str) -> None:
        found.append(Failure(check, column.name, message, t.count, t.lines, t.examples))

    if tally.parse_errors.count:
        fail(TYPE, tally.parse_errors, f"{tally.parse_errors.count} value(s) are not of type {column.type}")
    if tally.nulls.count:
        fraction = tally.nulls.count / rows if rows else 1.0
        max_null_fraction = schema.quality.max_null_fraction
        if not column.nullable:
            fail(NULLS, tally.nulls, f"{tally.nulls.count} empty value(s) in a non-nullable column")
        elif fraction > max_null_fraction:
            fail(NULLS, tally.nulls, f"null fraction {fraction:.4f} exceeds maxNullFraction {max_null_fraction}")
    if tally.out_of_range.count:
        fail(RANGE, tally.out_of_range, f"{tally.out_of_range.count} value(s) outside [{column.min}, {column.max}]")
    if tally.unknown_categories.count:
        fail(
            CATEGORIES,
            tally.unknown_categories,
            f"{tally.unknown_categories.count} value(s) not in {list(column.categories or ())}",
        )
    if duplicates is not None and duplicates.count:
        fail(UNIQUE, duplicates, f"{duplicates.count} repeated value(s) in a unique column")
    return found


def discard(partials: Iterable[PartialResult]) -> None:
    """Remove the spilled key partitions of the parts (after :func:`merge`)."""
    for partial in partials:
        if partial.spill:
            try:
                store = open_store(partial.spill)
            except NotImplementedError:
                continue
            store.remove()
