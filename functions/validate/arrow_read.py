"""Paths 1 and 2 of a block: pyarrow's CSV reader, typed where it can be exact, else text.

A block with no ``"`` (and no lone ``\\r``) is read *typed*: the numeric columns as float64, the
categorical ones dictionary-encoded (each distinct value checked once), the others as text. When
the typed read refuses a value, or an integer column holds a value beyond 2**53, the block is read
as *text* and parsed with Column.parse's exact grammar (:mod:`functions.validate.parsing`). A block
whose quotes are all plain (:func:`plain_quotes`) is read as text too: then pyarrow and the strict
csv module read it alike, one record a line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from functions.validate.parsing import Parsed, parse_dictionary, parse_text, parse_typed
from pipelines.schema import Column

__all__ = ["BlockReader", "plain_quotes"]


def plain_quotes(data: bytes) -> bool:
    """Whether every quote of the block opens a field, closes it or is doubled inside it, and no
    quoted field holds a line break: then pyarrow and the strict csv module read the block alike
    and every record is one line.

    Quotes pair up in order (a doubled quote inside a field is a close directly followed by an
    open); an open must start a field (after a comma or a line break), a close must end one.
    """
    array = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(array == 34)
    if len(quotes) % 2:
        return False
    opens, closes = quotes[0::2], quotes[1::2]
    doubled = opens[1:] == closes[:-1] + 1  # pair k closes where pair k+1 opens: a '""' inside a field
    before = array[np.maximum(opens - 1, 0)]
    opens_ok = (opens == 0) | (before == 44) | (before == 10)
    opens_ok[1:] |= doubled
    after = array[np.minimum(closes + 1, len(array) - 1)]
    closes_ok = (after == 44) | (after == 10) | (after == 13)
    closes_ok[:-1] |= doubled
    breaks = np.flatnonzero((array == 10) | (array == 13))
    spans_break = np.searchsorted(breaks, opens) != np.searchsorted(breaks, closes)
    return bool(opens_ok.all() and closes_ok.all() and not spans_break.any())


class BlockReader:
    """How pyarrow reads a block under one header: the checked columns, and which type each is read as."""

    def __init__(self, width: int, checked: Sequence[tuple[int, Column]]) -> None:
        self.checked = list(checked)  # (position in the header, schema column)
        self.names = [f"c{i}" for i in range(width)]
        self.typed_types: dict[str, pa.DataType] = {}
        self.text_types: dict[str, pa.DataType] = {}
        self.include: list[str] = []
        for position, column in self.checked:
            name = self.names[position]
            self.include.append(name)
            plain = not (column.unique or column.is_time)
            if column.is_numeric and plain:
                self.typed_types[name] = pa.float64()
            elif column.is_categorical and plain:  # a few distinct values: checked once per value
                self.typed_types[name] = pa.dictionary(pa.int32(), pa.string())
            else:
                self.typed_types[name] = pa.string()
            self.text_types[name] = pa.string()

    def read(self, data: bytes, quoted: bool, *, typed: bool = True) -> tuple[pa.Table | None, bool]:
        """pyarrow's table of the block: typed when it can be, else text; ``None`` for a row of another width."""
        if quoted:  # every column as text: the row keys are joined from all the fields
            types, include = dict.fromkeys(self.names, pa.string()), self.names
            typed = False
        else:
            types, include = (self.typed_types if typed else self.text_types), self.include
        try:
            return self._read(data, types, include), typed
        except pa.ArrowInvalid:
            if not typed:
                return None, False
        try:
            return self._read(data, self.text_types, include), False
        except pa.ArrowInvalid:
            return None, False

    def _read(self, data: bytes, types: dict[str, pa.DataType], include: list[str]) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                column_names=self.names, use_threads=False, block_size=max(len(data) + 1, 1 << 16)
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=include,
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # the block was checked (or is ASCII)
            ),
        )

    def parse(self, table: pa.Table, typed: bool) -> list[Parsed]:
        """The checked columns of the table, parsed (raises :class:`Retry` for a typed read to redo as text)."""
        parsed: list[Parsed] = []
        for position, column in self.checked:
            array = table.column(self.names[position]).combine_chunks()
            if typed and pa.types.is_floating(array.type):
                parsed.append(parse_typed(column, array))
            elif typed and pa.types.is_dictionary(array.type):
                parsed.append(parse_dictionary(array))
            else:
                parsed.append(parse_text(column, array))
        return parsed
