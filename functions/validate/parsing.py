"""One column of a batch parsed into numpy arrays: which rows are null, which not of the type, the values.

The grammar is :meth:`pipelines.schema.Column.parse`'s, exactly, whichever way pyarrow read the
column: a float64 column (the typed read, whose number grammar is a subset of Column.parse's once
non-finite values count as type errors), a dictionary-encoded categorical one, or text, parsed
here vectorised for ASCII values (pyarrow.compute regexes and casts) and with Column.parse itself
for the rare others (non-ASCII text, integers beyond int64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schema import FLOAT_SYNTAX, INTEGER_SYNTAX, Column

__all__ = ["Parsed", "Retry", "np_bool", "parse_dictionary", "parse_text", "parse_typed"]

_PY_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.strip() removes among ASCII characters
_INTEGER_PATTERN = f"^{INTEGER_SYNTAX}$"  # Column.parse's integers, as a pyarrow regex
_FLOAT_PATTERN = f"^{FLOAT_SYNTAX}$"
_EXACT_FLOAT_INT = float(2**53)  # below this a float64 holds every integer exactly
_INT64_LIMIT = float(2**63)


class Retry(Exception):
    """The typed read cannot represent a block exactly: read it as text."""


@dataclass
class Parsed:
    """One column of a batch, parsed: which rows are null or not of the type, and the values of the rest."""

    null: np.ndarray
    error: np.ndarray
    number: np.ndarray | None = None  # numeric columns: float(value)
    integer: np.ndarray | None = None  # integer columns: the value, where it fits in int64
    big: dict[int, int] = field(default_factory=dict)  # integer columns: row -> value beyond int64
    text: Any = None  # the raw values as a pyarrow string array (text-read columns)
    time_key: np.ndarray | None = None  # time columns: seconds since the epoch
    codes: np.ndarray | None = None  # categorical columns read as a dictionary: each row's code...
    dictionary: list[str] | None = None  # ...into these values


def np_bool(array: Any) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def parse_typed(column: Column, array: Any) -> Parsed:
    """A numeric column pyarrow read as float64: nulls were empty fields, the rest finite or a type error."""
    values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    null = np_bool(array.is_null()) if array.null_count else np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(values)
        error = ~null & ~finite
        if column.type == "integer":
            error |= ~null & finite & (values != np.floor(values))
            valid = ~null & ~error
            if np.any(np.abs(values[valid]) >= _EXACT_FLOAT_INT):
                raise Retry  # an integer a float64 may have rounded: parse the text instead
            integer = np.where(valid, values, 0.0).astype(np.int64)
            return Parsed(null, error, integer.astype(np.float64), integer)
    return Parsed(null, error, np.where(null | error, 0.0, values))


def parse_dictionary(array: Any) -> Parsed:
    """A categorical column pyarrow read dictionary-encoded: nulls are the rows coded as the empty value."""
    values = [str(v) for v in array.dictionary.to_pylist()]
    codes = np.asarray(array.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    null = np.asarray([v == "" for v in values], dtype=bool)[codes] if values else np.zeros(len(codes), bool)
    return Parsed(null, np.zeros(len(codes), dtype=bool), codes=codes, dictionary=values)


def parse_text(column: Column, raw: Any) -> Parsed:
    """A column read as text, parsed with Column.parse's grammar: vectorised for ASCII, Column.parse otherwise."""
    n = len(raw)
    if not column.is_numeric:
        null = np_bool(pc.equal(raw, ""))
        parsed = Parsed(null, np.zeros(n, dtype=bool), text=raw)
        if column.is_time:
            _parse_timestamps(column, raw, parsed)
        return parsed
    ascii_ = np_bool(pc.string_is_ascii(raw))
    trimmed = pc.ascii_trim(raw, _PY_ASCII_SPACE)
    null = ascii_ & np_bool(pc.equal(trimmed, ""))
    present = ascii_ & ~null
    with np.errstate(invalid="ignore"):
        python_rows = ~ascii_
        if column.type == "integer":
            ints_ok = present & np_bool(pc.match_substring_regex(trimmed, _INTEGER_PATTERN))
            short = ints_ok & (np.asarray(pc.binary_length(trimmed).to_numpy(zero_copy_only=False)) <= 18)
            integer = _cast(pc.utf8_ltrim(trimmed, "+"), short, pa.int64()).astype(np.int64)  # "+5": one sign
            others = present & ~ints_ok  # "12.0" is an integer too, "12.5" is not: the float grammar decides
            small = np.zeros(len(raw), dtype=bool)
            if others.any():
                floats_ok = others & np_bool(pc.match_substring_regex(trimmed, _FLOAT_PATTERN))
                floats = _cast(trimmed, floats_ok, pa.float64())
                integral = floats_ok & np.isfinite(floats) & (floats == np.floor(floats))
                small = integral & (np.abs(floats) < _INT64_LIMIT)
                if small.any():
                    integer[small] = floats[small].astype(np.int64)
                python_rows = python_rows | (integral & ~small)
            python_rows = python_rows | (ints_ok & ~short)
            error = present & ~short & ~small & ~python_rows
            parsed = Parsed(null, error, integer.astype(np.float64), integer)
        else:
            floats_ok = present & np_bool(pc.match_substring_regex(trimmed, _FLOAT_PATTERN))
            floats = _cast(trimmed, floats_ok, pa.float64())
            finite = floats_ok & np.isfinite(floats)
            error = present & ~finite
            parsed = Parsed(null, error, np.where(finite, floats, 0.0))
    parsed.text = raw
    if python_rows.any():
        _parse_with_python(column, raw, np.flatnonzero(python_rows), parsed)
    if column.is_time:
        assert parsed.number is not None
        parsed.time_key = parsed.number
    return parsed


def _cast(text: Any, ok: np.ndarray, to: pa.DataType) -> np.ndarray:
    """``text`` cast to ``to`` where ``ok`` (the grammar already checked), zero elsewhere."""
    if not ok.any():
        return np.zeros(len(ok), dtype=np.int64 if pa.types.is_integer(to) else np.float64)
    placeholder = pc.if_else(pa.array(ok), text, "0")
    return np.asarray(pc.cast(placeholder, to).to_numpy(zero_copy_only=False))


def _parse_with_python(column: Column, raw: Any, rows: np.ndarray, parsed: Parsed) -> None:
    """The rows the vectorised grammar leaves to Column.parse (non-ASCII text, integers beyond int64)."""
    assert parsed.number is not None
    for i, text in zip(rows, raw.take(pa.array(rows)).to_pylist(), strict=True):
        try:
            value = column.parse(text)
        except ValueError:
            parsed.null[i], parsed.error[i] = False, True
            continue
        if value is None:
            parsed.null[i], parsed.error[i] = True, False
            continue
        parsed.null[i] = parsed.error[i] = False
        assert isinstance(value, int | float)
        try:
            parsed.number[i] = float(value)
        except OverflowError:
            parsed.number[i] = math.copysign(math.inf, value)
        if parsed.integer is not None:
            assert isinstance(value, int)
            if -(2**63) <= value < 2**63:
                parsed.integer[i] = value
            else:
                parsed.big[int(i)] = value


def _parse_timestamps(column: Column, raw: Any, parsed: Parsed) -> None:
    """ISO-8601 time column: each distinct value parsed once; a value that is not a timestamp is a type error."""
    keys = np.zeros(len(raw), dtype=np.float64)
    valid = ~parsed.null
    if valid.any():
        present = raw.filter(pa.array(valid))
        distinct = pc.unique(present)
        seconds: list[float] = []
        for text in distinct.to_pylist():
            try:
                seconds.append(column.time_key(text))
            except ValueError:
                seconds.append(math.nan)
        table = np.asarray(seconds, dtype=np.float64)
        index = np.asarray(pc.index_in(present, value_set=distinct).to_numpy(zero_copy_only=False), dtype=np.int64)
        keys[valid] = table[index]
        bad = np.zeros(len(raw), dtype=bool)
        bad[valid] = np.isnan(keys[valid])
        parsed.error = bad
        keys[bad] = 0.0
    parsed.time_key = keys
