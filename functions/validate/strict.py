"""Path 3: Python's strict ``csv`` module, record by record, for the blocks pyarrow cannot read exactly.

That is any quoting other than plain (a quoted line break, a quote inside an unquoted field), a
lone ``\\r``, or a row of the wrong width. While a quoted field spans lines, further blocks are
pulled in, so physical line numbers stay exact (a record's line is its last physical line, as
``csv.reader.line_num`` says); once a block ends between two records, the next block is again free
to take a fast path. A record the csv module refuses is reported as malformed and reading resumes
at the next one. The header is read through :class:`Lines` too: it may be quoted across lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from functions.validate.blocks import Blocks, decode

__all__ = ["BATCH_ROWS", "Lines", "read_records"]

BATCH_ROWS = 8192  # records checked together


class Lines:
    """Physical lines for ``csv.reader``: a block's, then further blocks while a record is open."""

    def __init__(self, text: str, first_line: int, blocks: Blocks) -> None:
        self._source = io.StringIO(text, newline="")
        self._blocks = blocks
        self.line = first_line - 1  # the last line handed to the reader
        self.at_record_start = True

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        line = self._source.readline()
        while not line:
            if self.at_record_start:  # the block ends between records: back to the fast paths
                raise StopIteration
            more = self._blocks.next()
            if more is None:
                raise StopIteration
            self._source = io.StringIO(decode(more[0]), newline="")
            line = self._source.readline()
        self.line += 1
        self.at_record_start = False
        return line

    def rest(self) -> str:
        return self._source.read()


def read_records(
    text: str,
    first_line: int,
    blocks: Blocks,
    *,
    on_batch: Callable[[list[list[str]], list[int]], None],
    on_malformed: Callable[[int, str], None],
) -> None:
    """Hand batches of (records, their lines) from ``text`` on to ``on_batch``, until a block ends
    between two records (a callback, not a generator: a batch is let go before the next is read)."""
    lines = Lines(text, first_line, blocks)
    reader = csv.reader(lines, strict=True)
    batch: list[list[str]] = []
    batch_lines: list[int] = []
    while True:
        lines.at_record_start = True
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            on_malformed(lines.line, f"the CSV cannot be parsed: {exc}")
            continue
        if not fields:  # a blank line: csv yields [], pandas skips it too
            continue
        batch.append(fields)
        batch_lines.append(lines.line)
        if len(batch) >= BATCH_ROWS:
            on_batch(batch, batch_lines)
            batch, batch_lines = [], []
    if batch:
        on_batch(batch, batch_lines)
