"""The schema's column checks on a parsed batch, tallied into the part's result.

Each batch (a block, or a batch of the csv module's records) arrives as one :class:`Parsed` per
checked column, whichever path read it; the checks count nulls, type errors, out-of-range values
and unknown categories with their first lines and examples, keep the column's statistics (range,
sum, category counts, earliest and latest time), count the target's positives, and hand each
unique column's values to the spill buffer (:mod:`functions.validate.keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.validate.keys import value_hashes
from functions.validate.parsing import Parsed, np_bool
from functions.validate.partial import ColumnTally, PartialResult, unique_keyset
from functions.validate.spill import SpillBuffer
from pipelines.schema import Column, DatasetSchema

__all__ = ["ColumnChecks"]


class ColumnChecks:
    """The checks of the schema's columns that a header holds (the first occurrence of a name counts)."""

    def __init__(self, schema: DatasetSchema, header: Sequence[str], result: PartialResult, spill: SpillBuffer) -> None:
        self.schema = schema
        self.result = result
        self.spill = spill
        self.checked: list[tuple[int, Column, ColumnTally]] = []  # (position in the header, column, tally)
        self.categories: dict[str, Any] = {}
        positions = {name: i for i, name in reversed(list(enumerate(header)))}  # the first occurrence wins
        for column in schema.columns:
            if column.name not in positions:
                continue
            position = positions[column.name]
            tally = ColumnTally(column.name, position)
            if column.categories is not None:
                tally.category_counts = {str(k): 0 for k in column.categories}
                self.categories[column.name] = (
                    np.asarray(column.categories, dtype=object)
                    if column.type == "integer"
                    else pa.array([str(c) for c in column.categories], pa.string())
                )
            self.checked.append((position, column, tally))
            result.columns[column.name] = tally
            if column.unique:
                spill.declare(unique_keyset(column.name), with_text=True)
        self.target: Column | None = next((c for _, c, _ in self.checked if c.name == schema.target), None)

    def check(self, columns: list[Parsed], lines: np.ndarray, raw_field: Callable[[int, int], str]) -> None:
        """Check a batch's parsed columns; ``raw_field(i, position)`` is row ``i``'s field as written."""
        for (position, column, tally), parsed in zip(self.checked, columns, strict=True):
            if parsed.text is not None:
                example = _text_example(parsed.text)
            elif parsed.dictionary is not None:
                example = _code_example(parsed.dictionary, parsed.codes)
            else:
                example = _field_example(raw_field, position)
            self._check_column(column, tally, parsed, lines, example)

    def _check_column(
        self, column: Column, tally: ColumnTally, parsed: Parsed, lines: np.ndarray, example: Callable[[int], str]
    ) -> None:
        tally.parse_errors.add_rows(lines, parsed.error, example)
        tally.nulls.add_rows(lines, parsed.null, example)
        valid = ~parsed.null & ~parsed.error
        count = int(valid.sum())
        tally.values += count
        if not count:
            return
        if column.is_numeric:
            assert parsed.number is not None
            numbers = parsed.number[valid]
            tally.low = min(tally.low, float(numbers.min()))
            tally.high = max(tally.high, float(numbers.max()))
            tally.total += float(numbers.sum())
            if column.min is not None or column.max is not None:
                with np.errstate(invalid="ignore"):
                    outside = np.zeros(len(valid), dtype=bool)
                    if column.min is not None:
                        outside |= parsed.number < column.min
                    if column.max is not None:
                        outside |= parsed.number > column.max
                tally.out_of_range.add_rows(lines, valid & outside, example)
        if column.categories is not None:
            known = self._known(column, parsed, valid, tally)
            tally.unknown_categories.add_rows(lines, valid & ~known, example)
        if column.unique:
            self._unique(column, parsed, valid, lines)
        if column.is_time:
            self._time(column, parsed, valid, lines, tally, example)
        if self.target is column:
            self.result.positives += int(np.count_nonzero(valid & self._is_positive(column, parsed)))

    def _known(self, column: Column, parsed: Parsed, valid: np.ndarray, tally: ColumnTally) -> np.ndarray:
        """Which rows hold one of the column's categories; counts them per category."""
        assert column.categories is not None
        if column.type == "integer":
            assert parsed.integer is not None
            categories = [int(c) for c in column.categories]
            fits = [c for c in categories if -(2**63) <= c < 2**63]
            known = np.isin(parsed.integer, np.asarray(fits, dtype=np.int64))
            for i, value in parsed.big.items():
                known[i] = value in categories
            chosen = parsed.integer[valid & known]
            values, counts = np.unique(chosen, return_counts=True)
            for value, n in zip(values.tolist(), counts.tolist(), strict=True):
                tally.category_counts[str(value)] += n
            for i, value in parsed.big.items():
                if valid[i] and known[i]:
                    tally.category_counts[str(value)] += 1
            return known
        if parsed.codes is not None and parsed.dictionary is not None:
            names = set(tally.category_counts)
            known_values = np.asarray([v in names for v in parsed.dictionary], dtype=bool)
            known = known_values[parsed.codes] if len(known_values) else np.zeros(len(valid), bool)
            per_code = np.bincount(parsed.codes[valid & known], minlength=len(parsed.dictionary))
            for name, n in zip(parsed.dictionary, per_code.tolist(), strict=True):
                if n:
                    tally.category_counts[name] += n
            return known
        known = np_bool(pc.is_in(parsed.text, value_set=self.categories[column.name]))
        counted = pc.value_counts(parsed.text.filter(pa.array(valid & known)))
        for item in counted.to_pylist():
            tally.category_counts[str(item["values"])] += int(item["counts"])
        return known

    def _is_positive(self, column: Column, parsed: Parsed) -> np.ndarray:
        label = self.schema.positive_label
        if column.type == "integer":
            assert parsed.integer is not None and isinstance(label, int)
            positive = parsed.integer == label if -(2**63) <= label < 2**63 else np.zeros(len(parsed.null), bool)
            for i, value in parsed.big.items():
                positive[i] = value == label
            return positive
        if parsed.codes is not None and parsed.dictionary is not None:
            return np.asarray([v == str(label) for v in parsed.dictionary], dtype=bool)[parsed.codes]
        return np_bool(pc.equal(parsed.text, str(label)))

    def _unique(self, column: Column, parsed: Parsed, valid: np.ndarray, lines: np.ndarray) -> None:
        rows = np.flatnonzero(valid)
        h1, h2, texts = value_hashes(column, parsed, rows)
        self.spill.add(unique_keyset(column.name), h1, h2, lines[rows], texts)

    def _time(
        self,
        column: Column,
        parsed: Parsed,
        valid: np.ndarray,
        lines: np.ndarray,
        tally: ColumnTally,
        example: Callable[[int], str],
    ) -> None:
        keys = parsed.time_key if parsed.time_key is not None else parsed.number
        assert keys is not None
        rows = np.flatnonzero(valid)
        chosen = keys[rows]
        low, high = int(rows[int(np.argmin(chosen))]), int(rows[int(np.argmax(chosen))])
        for i, attr, better in ((low, "first_time", float.__lt__), (high, "last_time", float.__gt__)):
            key = float(keys[i])
            current = getattr(tally, attr)
            if current is None or better(key, float(current[0])):
                setattr(tally, attr, [key, self._time_value(column, parsed, i, example), int(lines[i])])

    @staticmethod
    def _time_value(column: Column, parsed: Parsed, i: int, example: Callable[[int], str]) -> Any:
        """The time as the report shows it: the text as written, or the parsed number."""
        if column.type == "string":
            return example(i)
        if column.type == "integer":
            assert parsed.integer is not None
            return parsed.big.get(i, int(parsed.integer[i]))
        assert parsed.number is not None
        return float(parsed.number[i])


def _text_example(text: Any) -> Callable[[int], str]:
    """Row ``i``'s value from a column read as text."""
    return lambda i: str(text[i].as_py())


def _code_example(values: list[str], codes: Any) -> Callable[[int], str]:
    """Row ``i``'s value from a dictionary-encoded column."""
    return lambda i: values[int(codes[i])]


def _field_example(raw_field: Callable[[int, int], str], position: int) -> Callable[[int], str]:
    """Row ``i``'s field at ``position`` cut from the block's line (a typed column has no text)."""
    return lambda i: raw_field(i, position)
