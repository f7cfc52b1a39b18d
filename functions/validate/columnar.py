"""The columnar, streaming validator: pyarrow parses blocks of lines, numpy and pyarrow.compute check them.

This module runs one part of a file (:func:`validate_part`) and chooses, block by block, how each
is read; the other jobs are in their own modules:

* :mod:`~functions.validate.blocks`: the stream cut into blocks of whole, numbered physical lines;
* :mod:`~functions.validate.arrow_read` and :mod:`~functions.validate.parsing`: paths 1 and 2,
  pyarrow's read of a block and the columns parsed with :meth:`Column.parse`'s grammar;
* :mod:`~functions.validate.strict`: path 3 and the header, Python's strict ``csv`` module;
* :mod:`~functions.validate.column_checks`: the schema's checks on each parsed batch;
* :mod:`~functions.validate.keys`: the duplicate-row and uniqueness keys, spilled by
  :mod:`~functions.validate.spill`;
* :mod:`~functions.validate.partial` and :mod:`~functions.validate.merge`: a part's serialisable
  result, and the report merged from a file's parts;
* :mod:`~functions.validate.limits`: the sizes that bound memory (:data:`MEMORY_BOUND_BYTES`).

Reading. A block takes the fastest of three paths that is exact for it:

1. *typed*: no ``"`` in the block and no lone ``\r``: pyarrow reads it with the numeric columns as
   float64 (its number grammar is a subset of :meth:`Column.parse`'s once non-finite values count as
   type errors, and it refuses the rest: ``0x10``, ``1_0``, non-ASCII digits...), the categorical
   ones dictionary-encoded (each distinct value checked once), the others as text;
2. *text*: the typed read refused a value (or an integer column holds a value beyond 2**53), or
   the block's quotes are all plain (each opens or closes a field or is doubled inside one, and no
   quoted field holds a line break, so pyarrow and the strict csv module read it alike, one record
   a line): every checked column is read as text and parsed, vectorised, with Column.parse's
   exact grammar (ASCII values with pyarrow.compute regexes and casts, the rare others with
   Column.parse itself);
3. *stdlib*: any other quoting (a quoted line break, a quote inside an unquoted field), a lone
   ``\r``, or a row of the wrong width: Python's ``csv`` module (strict, as before) reads it record
   by record, pulling further blocks while a quoted field spans lines, so a quoted newline keeps
   physical line numbers exact (a record's line is its last physical line, as
   ``csv.reader.line_num`` says); the next block is again free to take a fast path. Its rows are
   then checked like path 2's.

A malformed record (bad quoting, a field or line over :attr:`Limits.max_line_bytes`) is reported
as ``malformed_csv`` and reading resumes at the next record, so the rows after it are still
counted; ``min_rows`` and ``label_balance`` are not reported for such a file (their counts are of a
file that could not be read whole: the malformed record is the problem to fix). A non-UTF-8 byte
anywhere makes the whole file ``encoding``-unreadable, as before.

Parts and merge. :func:`validate_part` checks one part of a file (the whole file, or a byte range
that starts at a record, for a later distributed run) into a :class:`PartialResult`: per-column
tallies, line numbers relative to the part, and references to its spilled key partitions; it is
JSON-serialisable (``to_dict``/``from_dict``). :func:`merge` turns the partial results of a file's
parts, in file order, into one :class:`~functions.validate.checks.ValidationResult`.
``validate_csv`` is one part and its merge. A part must start at the beginning of a record (a byte
range cut at a line break outside quotes).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from functions.validate.arrow_read import BlockReader, plain_quotes
from functions.validate.blocks import Blocks, Fatal, as_binary, decode
from functions.validate.checks import EMPTY_FILE, MALFORMED_CSV, Failure
from functions.validate.column_checks import ColumnChecks
from functions.validate.keys import block_lines, block_row_hashes, record_row_hashes
from functions.validate.limits import BLOCK_BYTES, HASH_MEMORY_ENV, MAX_LINE_BYTES, MEMORY_BOUND_BYTES, Limits
from functions.validate.merge import discard, merge
from functions.validate.parsing import Retry, parse_text
from functions.validate.partial import ROWS_KEYSET, PartialResult
from functions.validate.spill import LocalSpillStore, SpillBuffer
from functions.validate.strict import Lines, read_records
from pipelines.schema import DatasetSchema

__all__ = [
    "BLOCK_BYTES",
    "HASH_MEMORY_ENV",
    "MAX_LINE_BYTES",
    "MEMORY_BOUND_BYTES",
    "Limits",
    "PartialResult",
    "discard",
    "merge",
    "validate_part",
]


class _Part:
    """One part's blocks after its header, each read by the fastest exact path and checked."""

    def __init__(
        self, schema: DatasetSchema, header: list[str], result: PartialResult, spill: SpillBuffer, blocks: Blocks
    ) -> None:
        self.result = result
        self.spill = spill
        self.blocks = blocks
        result.header = list(header)
        self.width = len(header)
        spill.declare(ROWS_KEYSET, with_text=False)
        self.checks = ColumnChecks(schema, header, result, spill)
        self.reader = BlockReader(self.width, [(position, column) for position, column, _ in self.checks.checked])

    def block(self, chunk: bytes, first_line: int) -> None:
        """Check one block of whole lines by the fastest exact path (see the module docstring)."""
        if not chunk.isascii():
            decode(chunk)  # raises on a byte that is not UTF-8
        if not self._fast(chunk, first_line):
            self._strict(chunk.decode("utf-8"), first_line)

    def _fast(self, chunk: bytes, first_line: int) -> bool:
        """Paths 1 and 2; ``False`` (nothing counted) when only the csv module reads the block exactly."""
        has_cr = b"\r" in chunk
        if not self.width or (has_cr and chunk.count(b"\r") != chunk.count(b"\r\n")):
            return False
        data = chunk.replace(b"\r\n", b"\n") if has_cr else chunk
        quoted = b'"' in data
        if quoted and not plain_quotes(data):
            return False
        table, typed = self.reader.read(data, quoted)
        if table is None:  # a row of another width: the stdlib path reports it
            return False
        line_array, lines = block_lines(data, quoted, first_line)
        if table.num_rows != len(line_array):  # cannot happen once quotes are plain; never guess
            return False
        try:
            columns = self.reader.parse(table, typed)
        except Retry:
            table, typed = self.reader.read(data, quoted, typed=False)
            assert table is not None
            columns = self.reader.parse(table, typed)
        self.result.rows += len(line_array)
        h1, h2 = block_row_hashes(table, self.reader.names, line_array, quoted=quoted, ascii_only=chunk.isascii())
        self.spill.add(ROWS_KEYSET, h1, h2, lines)

        def raw_field(i: int, position: int) -> str:  # only for a quote-free block's typed columns
            return str(line_array[i].as_py()).rstrip("\n").split("\0")[position]

        self.checks.check(columns, lines, raw_field)
        return True

    def _strict(self, text: str, first_line: int) -> None:
        """Path 3, until a block ends between two records."""
        read_records(text, first_line, self.blocks, on_batch=self._strict_batch, on_malformed=self.result.add_malformed)

    def _strict_batch(self, rows: list[list[str]], row_lines: list[int]) -> None:
        lines = np.asarray(row_lines, dtype=np.int64)
        for fields, line in zip(rows, row_lines, strict=True):
            if len(fields) != self.width:
                self.result.width.add(line, f"{len(fields)} fields")
        self.result.rows += len(rows)
        h1, h2 = record_row_hashes(rows)
        self.spill.add(ROWS_KEYSET, h1, h2, lines)
        columns = []
        for position, column, _ in self.checks.checked:
            values = [fields[position] if position < len(fields) else "" for fields in rows]
            columns.append(parse_text(column, pa.array(values, pa.string())))

        def raw_field(i: int, position: int) -> str:
            return rows[i][position] if position < len(rows[i]) else ""

        self.checks.check(columns, lines, raw_field)


def _run(
    schema: DatasetSchema,
    result: PartialResult,
    spill: SpillBuffer,
    blocks: Blocks,
    header: list[str] | None,
    progress: Callable[[int], None] | None,
) -> None:
    """Read the header (unless given), then every block; ``progress(rows)`` after each block."""

    def report_progress() -> None:
        if progress is not None:
            progress(result.rows)

    if header is None:  # first, text, lines and reader stay alive to the part's end, as they always have
        first = blocks.next()
        if first is None:
            raise Fatal(Failure(EMPTY_FILE, None, "the file is empty: no header row"))
        text = decode(first[0])
        lines = Lines(text, first[1], blocks)
        reader = csv.reader(lines, strict=True)  # a quoted header may span lines, like any record
        try:
            found = next(reader, None)
        except csv.Error as exc:
            raise Fatal(Failure(MALFORMED_CSV, None, f"the header cannot be parsed: {exc}", 1, [1])) from exc
        if found is None:
            raise Fatal(Failure(EMPTY_FILE, None, "the file is empty: no header row"))
        part = _Part(schema, found, result, spill, blocks)
        rest = lines.rest()
        if rest:
            part.block(rest.encode("utf-8"), lines.line + 1)
            report_progress()
    else:
        part = _Part(schema, header, result, spill, blocks)
    while (item := blocks.next()) is not None:
        part.block(item[0], item[1])
        report_progress()


def validate_part(
    stream: Any,
    schema: DatasetSchema,
    *,
    first_line: int | None = 1,
    with_header: bool = True,
    header: Sequence[str] | None = None,
    limits: Limits | None = None,
    spill_all: bool = True,
    progress: Callable[[int], None] | None = None,
) -> PartialResult:
    """Check one part of a CSV file; see the module docstring ("Parts and merge").

    ``stream``: binary (``read(n) -> bytes``), text, or an iterable of text lines. The first part
    has the header (``with_header``); a later part is given the header its first part found and,
    when known, the physical line it starts at. ``spill_all`` writes every key record to the
    spill store so the result can be serialised (``to_dict``); a single-process caller that merges
    at once passes ``False`` and a small file touches no disk. ``progress(rows)`` is called after
    each block.
    """
    limits = limits or Limits.from_env()
    if not with_header and header is None:
        raise ValueError("a part without the header row needs the file's header (header=...)")
    result = PartialResult(schema.name, first_line, 0, with_header, None)
    spill = SpillBuffer(
        lambda: LocalSpillStore.create(limits.spill_dir),
        memory_bytes=limits.hash_memory_bytes,
        partition_bits=limits.partition_bits,
    )
    blocks = Blocks(as_binary(stream), limits, strip_bom=with_header, on_malformed=result.add_malformed)
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(max(previous_limit, limits.max_line_bytes))
    try:
        _run(schema, result, spill, blocks, None if with_header else list(header or ()), progress)
    except Fatal as fatal:
        result.fatal = fatal.failure
    except BaseException:
        if spill.store is not None:  # nobody will merge (or discard) this part: leave no spill behind
            spill.store.remove()
        raise
    finally:
        csv.field_size_limit(previous_limit)
        result.line_count = blocks.next_line - 1
        result.keysets = spill.finish(spill_all=spill_all and result.fatal is None)
        result.spill = spill.store.uri if spill.store is not None else None
    return result
