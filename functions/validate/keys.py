"""The hashed keys of the duplicate-row and uniqueness checks, from whichever path read the rows.

A row's key hashes its fields joined by NUL and ended by a line break (:func:`canonical_row`), so
a row is a duplicate of another exactly when the csv module would read the same fields from both,
however they were quoted. A ``unique`` column's key hashes its parsed value (a number's value, a
string's text), and keeps the value's first :data:`~functions.validate.spill.TEXT_BYTES` bytes as
written for the report's examples. The records are buffered and counted by
:mod:`functions.validate.spill`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.validate.parsing import Parsed
from functions.validate.spill import TEXT_BYTES, hash_bytes, hash_float64, hash_int64, hash_strings
from pipelines.schema import Column

__all__ = ["block_lines", "block_row_hashes", "canonical_row", "record_row_hashes", "value_hashes"]

_COMMA_TO_NUL = bytes.maketrans(b",", b"\0")

Hashes = tuple[np.ndarray, np.ndarray]  # the two 64-bit halves of each key


def canonical_row(fields: list[str]) -> str:
    """The text a row's duplicate key hashes: its fields joined by NUL and a line break, whichever
    path read it (unambiguous unless a field holds a NUL; the old digest joined with ``\\x1f``)."""
    return "\0".join(fields) + "\n"


def block_lines(data: bytes, quoted: bool, first_line: int) -> tuple[Any, np.ndarray]:
    """The block's non-blank lines as a pyarrow string array, and their line numbers.

    Without quotes a comma is always a separator, so each line with NULs for commas is its row's
    :func:`canonical_row`: the lines are then the row keys' text as they are, and the typed
    columns' examples are cut from them. A line that is only its line break is skipped, as the csv
    module does.
    """
    keyed = data if quoted else data.translate(_COMMA_TO_NUL)
    ends = np.flatnonzero(np.frombuffer(keyed, dtype=np.uint8) == 10)
    offsets = np.zeros(len(ends) + 1, dtype=np.int32)
    offsets[1:] = ends + 1
    line_array = pa.Array.from_buffers(pa.string(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(keyed)])
    blank = np.diff(offsets) == 1
    if blank.any():
        kept = np.flatnonzero(~blank)
        return line_array.take(pa.array(kept)), first_line + kept.astype(np.int64)
    return line_array, first_line + np.arange(len(ends), dtype=np.int64)


def block_row_hashes(
    table: pa.Table, names: Sequence[str], line_array: Any, *, quoted: bool, ascii_only: bool
) -> Hashes:
    """The row keys of a block pyarrow read: its lines (see :func:`block_lines`), or with quotes its
    fields joined again (every column was read as text)."""
    if quoted:
        fields = pc.binary_join_element_wise(*(table.column(n).combine_chunks() for n in names), "\0")
        keys = pc.binary_join_element_wise(fields, "", "\n")  # fields, NUL-joined, then a line break
        return hash_strings(keys, ascii_only=ascii_only)
    return hash_strings(line_array, ascii_only=ascii_only)


def record_row_hashes(rows: list[list[str]]) -> Hashes:
    """The row keys of records the csv module read."""
    canonical = [canonical_row(fields) for fields in rows]
    keys = pa.array(canonical, pa.string())
    return hash_strings(keys, ascii_only=all(map(str.isascii, canonical)))


def value_hashes(column: Column, parsed: Parsed, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The keys of a unique column's values at ``rows``, and each value's leading bytes as written."""
    raw = parsed.text.take(pa.array(rows))
    texts = _leading_bytes(raw, TEXT_BYTES)
    if column.type == "integer":
        assert parsed.integer is not None
        h1, h2 = hash_int64(parsed.integer[rows])
        if parsed.big:  # beyond int64: hashed as text, apart from every int64's key
            for j in np.flatnonzero(np.isin(rows, np.fromiter(parsed.big, dtype=np.int64))):
                big1, big2 = hash_bytes([b"int:" + str(parsed.big[int(rows[j])]).encode()], 1)
                h1[j], h2[j] = big1[0], big2[0]
    elif column.type == "float":
        assert parsed.number is not None
        h1, h2 = hash_float64(parsed.number[rows])
    else:
        h1, h2 = hash_strings(raw, ascii_only=bool(pc.all(pc.string_is_ascii(raw)).as_py() is not False))
    return h1, h2, texts


def _leading_bytes(strings: Any, width: int) -> np.ndarray:
    """The first ``width`` bytes of each string, as a numpy ``S`` array (vectorised over Arrow's buffers)."""
    binary = strings.cast(pa.binary())
    n = len(binary)
    offsets = np.frombuffer(binary.buffers()[1], dtype=np.int32)[binary.offset : binary.offset + n + 1]
    lengths = np.minimum(np.diff(offsets), width)
    cut = int(lengths.max()) if n else 0
    if not cut:
        return np.zeros(n, dtype=f"S{width}")
    data = np.frombuffer(binary.buffers()[2], dtype=np.uint8)
    out = np.zeros((n, cut), dtype=np.uint8)
    columns = np.arange(cut)
    inside = columns[None, :] < lengths[:, None]
    out[inside] = data[(offsets[:-1, None] + columns[None, :])[inside]]
    return out.view(f"S{cut}").ravel().astype(f"S{width}")
