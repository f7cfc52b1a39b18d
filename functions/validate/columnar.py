"""The columnar, streaming validator: pyarrow parses blocks of lines, numpy and pyarrow.compute check them.

Reading. The stream is cut here into *blocks* of whole physical lines (about
:attr:`Limits.block_bytes`, at the last newline), and each block is parsed by
``pyarrow.csv.read_csv`` on one thread: cutting the blocks ourselves (rather than with pyarrow's
streaming ``open_csv``) is what makes every row's physical line number known (the header is line
1) and lets a block be re-read another way. A block takes the fastest of three paths that is exact
for it:

1. *typed*: no ``"`` in the block and no lone ``\r``: pyarrow reads it with the numeric columns as
   float64 (its number grammar is a subset of :meth:`Column.parse`'s once non-finite values count as
   type errors, and it refuses the rest: ``0x10``, ``1_0``, non-ASCII digits...), the categorical
   ones dictionary-encoded (each distinct value checked once), the others as text;
2. *text*: the typed read refused a value (or an integer column holds a value beyond 2**53), or
   the block's quotes are all plain (each opens or closes a field or is doubled inside one, and no
   quoted field holds a line break, so pyarrow and the strict csv module read it alike, one record
   a line): every checked column is read as text and parsed here, vectorised, with Column.parse's
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

Memory. Bounded by :data:`MEMORY_BOUND_BYTES` (120 MiB with the defaults) beyond the interpreter
and its libraries, whatever the file's size: :attr:`Limits.hash_memory_bytes` (64 MiB) of
uniqueness and duplicate-row key records, past which they are spilled to hashed partition files
in ``$MLOPS_VALIDATE_SPILL_DIR`` (default: the temp dir) and counted partition by partition
(:mod:`functions.validate.spill`); one block and what pyarrow and numpy build from it (under ten
times the block); and one line of at most ``max_line_bytes`` while a block is cut. Measured:
``benchmarks/validation_throughput.py`` (the peak RSS stays flat from 1M to 4M rows; it includes
pandas, which pyarrow imports on its first numpy conversion when pandas is installed, as in the
Lambda layer: about 0.5 s and 48 MiB once per process). The row
keys hash each row's fields joined by NUL, so a row is a duplicate of another exactly when the
csv module would read the same fields from both, however they were quoted.

Parts and merge. :func:`validate_part` checks one part of a file (the whole file, or a byte range
that starts at a record, for a later distributed run) into a :class:`PartialResult`: per-column
tallies, line numbers relative to the part, and references to its spilled key partitions; it is
JSON-serialisable (``to_dict``/``from_dict``). :func:`merge` turns the partial results of a file's
parts, in file order, into one :class:`~functions.validate.checks.ValidationResult`: counts add
up, the first :data:`MAX_EXAMPLES` lines are the smallest over the parts (shifted by the lines of
the parts before), and repeats are counted over all parts' partitions together, so a row repeated
across parts is a duplicate too. ``validate_csv`` is one part and its merge. A part must start at
the beginning of a record (a byte range cut at a line break outside quotes). Column means are float
sums, so a merged mean may differ from a single pass's in the last bits.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from functions.validate.checks import (
    CATEGORIES,
    EMPTY_FILE,
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
from functions.validate.spill import (
    HASH_MEMORY_BYTES,
    PARTITION_BITS,
    SPILL_DIR_ENV,
    TEXT_BYTES,
    KeySetRef,
    LocalSpillStore,
    SpillBuffer,
    count_repeats,
    hash_bytes,
    hash_float64,
    hash_int64,
    hash_strings,
    open_store,
)
from pipelines.schema import Column, DatasetSchema

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

BLOCK_BYTES = 4 << 20  # bytes of whole lines parsed at a time
MAX_LINE_BYTES = 16 << 20  # a longer line (or quoted field) is malformed: it is skipped, not buffered
HASH_MEMORY_ENV = "MLOPS_VALIDATE_HASH_MEMORY_MIB"  # overrides Limits.hash_memory_bytes, in MiB
# What validation may hold beyond the interpreter and its libraries: the key records, one block and
# pyarrow's arrays of it (measured under 10x the block), and a line being cut.
MEMORY_BOUND_BYTES = HASH_MEMORY_BYTES + 10 * BLOCK_BYTES + MAX_LINE_BYTES
ROWS_KEYSET = "rows"
_SLOW_BATCH_ROWS = 8192  # stdlib-path rows checked together
_BOM = b"\xef\xbb\xbf"
_PY_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.strip() removes among ASCII characters
_INTEGER_PATTERN = r"^[+-]?[0-9]+$"  # pipelines.schema._INTEGER_RE on ASCII text
_FLOAT_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"  # _FLOAT_RE on ASCII text
_COMMA_TO_NUL = bytes.maketrans(b",", b"\0")
_EXACT_FLOAT_INT = float(2**53)  # below this a float64 holds every integer exactly
_INT64_LIMIT = float(2**63)


@dataclass(frozen=True)
class Limits:
    """The sizes that bound validation's memory; :meth:`from_env` reads the overrides of the environment."""

    block_bytes: int = BLOCK_BYTES
    max_line_bytes: int = MAX_LINE_BYTES
    hash_memory_bytes: int = HASH_MEMORY_BYTES
    partition_bits: int = PARTITION_BITS
    spill_dir: str | None = None  # None: $MLOPS_VALIDATE_SPILL_DIR, else the temp dir

    @classmethod
    def from_env(cls) -> Limits:
        mib = os.environ.get(HASH_MEMORY_ENV)
        return cls(
            hash_memory_bytes=int(float(mib) * (1 << 20)) if mib else HASH_MEMORY_BYTES,
            spill_dir=os.environ.get(SPILL_DIR_ENV) or None,
        )


class _Fatal(Exception):
    """The file cannot be validated at all (not UTF-8, empty, header unparsable)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class _Retry(Exception):
    """The typed read cannot represent a block exactly: read it as text."""


# -- tallies ----------------------------------------------------------------------------------


class Tally:
    """How often one problem occurred, and its first few (line, example) pairs."""

    __slots__ = ("count", "examples", "lines")

    def __init__(self, count: int = 0, lines: list[int] | None = None, examples: list[str] | None = None) -> None:
        self.count = count
        self.lines: list[int] = lines or []
        self.examples: list[str] = examples or []

    def add(self, line: int, example: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_EXAMPLES:
            self.lines.append(line)
            self.examples.append(example)

    def add_rows(self, lines: np.ndarray, mask: np.ndarray, example: Callable[[int], str]) -> None:
        """Count the batch rows of ``mask``; ``example(i)`` is the text of batch row ``i``."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        self.count += len(rows)
        for i in rows[: MAX_EXAMPLES - len(self.lines)]:
            self.lines.append(int(lines[i]))
            self.examples.append(example(int(i)))

    def shifted_into(self, total: Tally, shift: int) -> None:
        """Add this part's tally, its lines moved by ``shift``, to ``total`` (the earliest lines win)."""
        total.count += self.count
        pairs = sorted([*zip(total.lines, total.examples, strict=True), *((ln + shift, e) for ln, e in self.pairs())])
        total.lines = [line for line, _ in pairs[:MAX_EXAMPLES]]
        total.examples = [example for _, example in pairs[:MAX_EXAMPLES]]

    def pairs(self) -> list[tuple[int, str]]:
        return list(zip(self.lines, self.examples, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "lines": self.lines, "examples": self.examples}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        return cls(int(data["count"]), [int(x) for x in data["lines"]], [str(x) for x in data["examples"]])


@dataclass
class ColumnTally:
    """One schema column's running statistics within a part (lines relative to the part)."""

    name: str
    position: int
    values: int = 0
    nulls: Tally = field(default_factory=Tally)
    parse_errors: Tally = field(default_factory=Tally)
    out_of_range: Tally = field(default_factory=Tally)
    unknown_categories: Tally = field(default_factory=Tally)
    low: float = math.inf
    high: float = -math.inf
    total: float = 0.0
    category_counts: dict[str, int] = field(default_factory=dict)
    # [key, value as written or parsed, line] of the earliest and latest time seen
    first_time: list[Any] | None = None
    last_time: list[Any] | None = None

    _TALLIES = ("nulls", "parse_errors", "out_of_range", "unknown_categories")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "position": self.position,
            "values": self.values,
            "low": _finite_or_none(self.low),
            "high": _finite_or_none(self.high),
            "total": self.total,
            "categoryCounts": self.category_counts,
            "firstTime": self.first_time,
            "lastTime": self.last_time,
        }
        out.update({name: getattr(self, name).to_dict() for name in self._TALLIES})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnTally:
        tally = cls(data["name"], int(data["position"]), int(data["values"]))
        for name in cls._TALLIES:
            setattr(tally, name, Tally.from_dict(data[name]))
        tally.low = math.inf if data["low"] is None else float(data["low"])
        tally.high = -math.inf if data["high"] is None else float(data["high"])
        tally.total = float(data["total"])
        tally.category_counts = {str(k): int(v) for k, v in data["categoryCounts"].items()}
        tally.first_time, tally.last_time = data["firstTime"], data["lastTime"]
        return tally


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


# -- the partial result of one part -----------------------------------------------------------


@dataclass
class PartialResult:
    """What one part of a file contributes to the report; see the module docstring ("Parts and merge")."""

    schema: str
    first_line: int | None  # the part's first physical line in the file (None: after the previous part)
    line_count: int  # physical lines the part holds
    with_header: bool
    header: list[str] | None  # the file's header (read from the part, or given to it)
    fatal: Failure | None = None
    rows: int = 0
    positives: int = 0
    width: Tally = field(default_factory=Tally)
    malformed: Tally = field(default_factory=Tally)
    malformed_message: str | None = None
    columns: dict[str, ColumnTally] = field(default_factory=dict)
    keysets: dict[str, KeySetRef] = field(default_factory=dict)
    spill: str | None = None  # the store the part's key partitions are in (removed by discard)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "firstLine": self.first_line,
            "lineCount": self.line_count,
            "withHeader": self.with_header,
            "header": self.header,
            "fatal": self.fatal.to_dict() if self.fatal else None,
            "rows": self.rows,
            "positives": self.positives,
            "width": self.width.to_dict(),
            "malformed": self.malformed.to_dict(),
            "malformedMessage": self.malformed_message,
            "columns": {name: tally.to_dict() for name, tally in self.columns.items()},
            "keysets": {name: ref.to_dict() for name, ref in self.keysets.items()},
            "spill": self.spill,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartialResult:
        fatal = data.get("fatal")
        return cls(
            schema=data["schema"],
            first_line=data["firstLine"],
            line_count=int(data["lineCount"]),
            with_header=bool(data["withHeader"]),
            header=data["header"],
            fatal=Failure(**fatal) if fatal else None,
            rows=int(data["rows"]),
            positives=int(data["positives"]),
            width=Tally.from_dict(data["width"]),
            malformed=Tally.from_dict(data["malformed"]),
            malformed_message=data["malformedMessage"],
            columns={name: ColumnTally.from_dict(v) for name, v in data["columns"].items()},
            keysets={name: KeySetRef.from_dict(v) for name, v in data["keysets"].items()},
            spill=data["spill"],
        )


# -- input ------------------------------------------------------------------------------------


class _TextAsBytes:
    """A text stream (or an iterable of lines) read as UTF-8 bytes."""

    def __init__(self, source: Any) -> None:
        self._read = getattr(source, "read", None)
        self._lines: Iterator[str] | None = None if self._read else iter(source)
        self._pending = b""

    def read(self, n: int) -> bytes:
        while len(self._pending) < n:
            if self._read is not None:
                text = self._read(max(n, 1 << 16))
            else:
                assert self._lines is not None
                text = "".join(line for _, line in zip(range(4096), self._lines, strict=False))
            if not text:
                break
            self._pending += text.encode("utf-8", "surrogatepass")
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


def _as_binary(source: Any) -> Any:
    read = getattr(source, "read", None)
    if read is None:
        return _TextAsBytes(source)
    probe = read(0)
    return _TextAsBytes(source) if isinstance(probe, str) else source


def _decode(chunk: bytes) -> str:
    """The block as text, or :class:`_Fatal` (``encoding``) with the message validation always gave."""
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Fatal(
            Failure(
                ENCODING,
                None,
                f"the file is not UTF-8 text ({exc.reason}: {exc.object[exc.start : exc.end]!r})",
                1,
            )
        ) from exc


class _Blocks:
    """Cuts the byte stream into blocks of whole physical lines and numbers them (first line = 1)."""

    def __init__(self, stream: Any, limits: Limits, *, strip_bom: bool, part: _Part) -> None:
        self._stream = stream
        self._limits = limits
        self._buffer = b""
        self._eof = False
        self._strip_bom = strip_bom
        self._part = part
        self.next_line = 1  # the part's line number of the next line not yet handed out

    def _read(self, n: int) -> bytes:
        data = self._stream.read(n)
        if not data:
            self._eof = True
            return b""
        if self._strip_bom:
            self._strip_bom = False
            while len(data) < len(_BOM) and not self._eof:  # a BOM split over tiny reads
                more = self._stream.read(len(_BOM) - len(data))
                if not more:
                    break
                data += more
            data = data.removeprefix(_BOM)
        return bytes(data)

    def _fill(self, size: int) -> None:
        parts = [self._buffer]
        have = len(self._buffer)
        while have < size and not self._eof:
            data = self._read(size - have)
            parts.append(data)
            have += len(data)
        self._buffer = b"".join(parts)

    def next(self) -> tuple[bytes, int] | None:
        """The next block (ending in a newline) and its first line, or ``None`` at the end."""
        block = self._limits.block_bytes
        while True:
            self._fill(block)
            if not self._buffer:
                return None
            cut = self._buffer.rfind(b"\n")
            while cut < 0 and not self._eof and len(self._buffer) <= self._limits.max_line_bytes:
                searched = len(self._buffer)
                self._fill(len(self._buffer) + block)
                cut = self._buffer.find(b"\n", searched)
            if cut >= 0 and self._buffer.find(b"\n", 0, cut + 1) > self._limits.max_line_bytes:
                self._buffer = self._buffer[self._buffer.find(b"\n") + 1 :]  # the first line is too long
                self._long_line()
                continue
            if cut >= 0:
                chunk, self._buffer = self._buffer[: cut + 1], self._buffer[cut + 1 :]
            elif self._eof:
                chunk, self._buffer = self._buffer + b"\n", b""  # the last line has no line break
            else:
                self._skip_long_line()
                continue
            first = self.next_line
            self.next_line += _line_breaks(chunk)
            return chunk, first

    def _skip_long_line(self) -> None:
        """Drop a line longer than max_line_bytes (without holding it) and report it as malformed."""
        self._buffer = b""
        while not self._eof:
            data = self._read(self._limits.block_bytes)
            cut = data.find(b"\n")
            if cut >= 0:
                self._buffer = data[cut + 1 :]
                break
        self._long_line()

    def _long_line(self) -> None:
        line = self.next_line
        self.next_line += 1
        self._part.add_malformed(line, f"line {line} is longer than {self._limits.max_line_bytes} bytes")


def _line_breaks(chunk: bytes) -> int:
    """Physical lines in a block, as Python's universal newlines count them (\\n, \\r\\n, lone \\r)."""
    breaks = chunk.count(b"\n")
    if b"\r" in chunk:
        breaks += chunk.count(b"\r") - chunk.count(b"\r\n")
    return breaks


def _plain_quotes(data: bytes) -> bool:
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


class _Lines:
    """Physical lines for ``csv.reader``: a block's, then further blocks while a record is open."""

    def __init__(self, text: str, first_line: int, blocks: _Blocks) -> None:
        self._source = io.StringIO(text, newline="")
        self._blocks = blocks
        self.line = first_line - 1  # the last line handed to the reader
        self.at_record_start = True

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._source.readline()
        while not line:
            if self.at_record_start:  # the block ends between records: back to the fast paths
                raise StopIteration
            more = self._blocks.next()
            if more is None:
                raise StopIteration
            self._source = io.StringIO(_decode(more[0]), newline="")
            line = self._source.readline()
        self.line += 1
        self.at_record_start = False
        return line

    def rest(self) -> str:
        return self._source.read()


def _canonical_row(fields: list[str]) -> str:
    """The text a row's duplicate key hashes: its fields joined by NUL and a line break, whichever
    path read it (unambiguous unless a field holds a NUL; the old digest joined with ``\\x1f``)."""
    return "\0".join(fields) + "\n"


# -- parsing one column of a batch ------------------------------------------------------------


@dataclass
class _Parsed:
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


def _np_bool(array: Any) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _parse_typed(column: Column, array: Any) -> _Parsed:
    """A numeric column pyarrow read as float64: nulls were empty fields, the rest finite or a type error."""
    values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    null = _np_bool(array.is_null()) if array.null_count else np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(values)
        error = ~null & ~finite
        if column.type == "integer":
            error |= ~null & finite & (values != np.floor(values))
            valid = ~null & ~error
            if np.any(np.abs(values[valid]) >= _EXACT_FLOAT_INT):
                raise _Retry  # an integer a float64 may have rounded: parse the text instead
            integer = np.where(valid, values, 0.0).astype(np.int64)
            return _Parsed(null, error, integer.astype(np.float64), integer)
    return _Parsed(null, error, np.where(null | error, 0.0, values))


def _parse_dictionary(array: Any) -> _Parsed:
    """A categorical column pyarrow read dictionary-encoded: nulls are the rows coded as the empty value."""
    values = [str(v) for v in array.dictionary.to_pylist()]
    codes = np.asarray(array.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    null = np.asarray([v == "" for v in values], dtype=bool)[codes] if values else np.zeros(len(codes), bool)
    return _Parsed(null, np.zeros(len(codes), dtype=bool), codes=codes, dictionary=values)


def _parse_text(column: Column, raw: Any) -> _Parsed:
    """A column read as text, parsed with Column.parse's grammar: vectorised for ASCII, Column.parse otherwise."""
    n = len(raw)
    if not column.is_numeric:
        null = _np_bool(pc.equal(raw, ""))
        parsed = _Parsed(null, np.zeros(n, dtype=bool), text=raw)
        if column.is_time:
            _parse_timestamps(column, raw, parsed)
        return parsed
    ascii_ = _np_bool(pc.string_is_ascii(raw))
    trimmed = pc.ascii_trim(raw, _PY_ASCII_SPACE)
    null = ascii_ & _np_bool(pc.equal(trimmed, ""))
    present = ascii_ & ~null
    with np.errstate(invalid="ignore"):
        python_rows = ~ascii_
        if column.type == "integer":
            ints_ok = present & _np_bool(pc.match_substring_regex(trimmed, _INTEGER_PATTERN))
            short = ints_ok & (np.asarray(pc.binary_length(trimmed).to_numpy(zero_copy_only=False)) <= 18)
            integer = _cast(pc.utf8_ltrim(trimmed, "+"), short, pa.int64()).astype(np.int64)  # "+5": one sign
            others = present & ~ints_ok  # "12.0" is an integer too, "12.5" is not: the float grammar decides
            small = np.zeros(len(raw), dtype=bool)
            if others.any():
                floats_ok = others & _np_bool(pc.match_substring_regex(trimmed, _FLOAT_PATTERN))
                floats = _cast(trimmed, floats_ok, pa.float64())
                integral = floats_ok & np.isfinite(floats) & (floats == np.floor(floats))
                small = integral & (np.abs(floats) < _INT64_LIMIT)
                if small.any():
                    integer[small] = floats[small].astype(np.int64)
                python_rows = python_rows | (integral & ~small)
            python_rows = python_rows | (ints_ok & ~short)
            error = present & ~short & ~small & ~python_rows
            parsed = _Parsed(null, error, integer.astype(np.float64), integer)
        else:
            floats_ok = present & _np_bool(pc.match_substring_regex(trimmed, _FLOAT_PATTERN))
            floats = _cast(trimmed, floats_ok, pa.float64())
            finite = floats_ok & np.isfinite(floats)
            error = present & ~finite
            parsed = _Parsed(null, error, np.where(finite, floats, 0.0))
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


def _parse_with_python(column: Column, raw: Any, rows: np.ndarray, parsed: _Parsed) -> None:
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


def _text_example(text: Any) -> Callable[[int], str]:
    """Row ``i``'s value from a column read as text."""
    return lambda i: str(text[i].as_py())


def _code_example(values: list[str], codes: Any) -> Callable[[int], str]:
    """Row ``i``'s value from a dictionary-encoded column."""
    return lambda i: values[int(codes[i])]


def _field_example(raw_field: Callable[[int, int], str], position: int) -> Callable[[int], str]:
    """Row ``i``'s field at ``position`` cut from the block's line (a typed column has no text)."""
    return lambda i: raw_field(i, position)


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


def _parse_timestamps(column: Column, raw: Any, parsed: _Parsed) -> None:
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


# -- one part ---------------------------------------------------------------------------------


class _Part:
    """The running state of :func:`validate_part`."""

    def __init__(self, schema: DatasetSchema, limits: Limits, result: PartialResult, spill: SpillBuffer) -> None:
        self.schema = schema
        self.limits = limits
        self.result = result
        self.spill = spill
        self.width = 0
        self.checked: list[tuple[int, Column, ColumnTally]] = []
        self.target: Column | None = None
        self.names: list[str] = []
        self.typed_types: dict[str, pa.DataType] = {}
        self.text_types: dict[str, pa.DataType] = {}
        self.include: list[str] = []
        self.categories: dict[str, Any] = {}
        self.progress: Callable[[int], None] | None = None

    # -- set-up from the header --

    def use_header(self, header: list[str]) -> None:
        self.result.header = list(header)
        self.width = len(header)
        positions = {name: i for i, name in reversed(list(enumerate(header)))}  # the first occurrence wins
        self.names = [f"c{i}" for i in range(self.width)]
        self.spill.declare(ROWS_KEYSET, with_text=False)
        for column in self.schema.columns:
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
            self.result.columns[column.name] = tally
            if column.unique:
                self.spill.declare(f"unique:{column.name}", with_text=True)
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
        self.target = next((c for _, c, _ in self.checked if c.name == self.schema.target), None)

    # -- reading --

    def run(self, blocks: _Blocks, header: list[str] | None) -> None:
        if header is None:
            first = blocks.next()
            if first is None:
                raise _Fatal(Failure(EMPTY_FILE, None, "the file is empty: no header row"))
            text = _decode(first[0])
            lines = _Lines(text, first[1], blocks)
            reader = csv.reader(lines, strict=True)
            try:
                found = next(reader, None)
            except csv.Error as exc:
                raise _Fatal(Failure(MALFORMED_CSV, None, f"the header cannot be parsed: {exc}", 1, [1])) from exc
            if found is None:
                raise _Fatal(Failure(EMPTY_FILE, None, "the file is empty: no header row"))
            self.use_header(found)
            rest = lines.rest()
            if rest:
                self.block(rest.encode("utf-8"), lines.line + 1, blocks)
                self._report_progress()
        else:
            self.use_header(header)
        while (item := blocks.next()) is not None:
            self.block(item[0], item[1], blocks)
            self._report_progress()

    def _report_progress(self) -> None:
        if self.progress is not None:
            self.progress(self.result.rows)

    def block(self, chunk: bytes, first_line: int, blocks: _Blocks) -> None:
        """Check one block of whole lines by the fastest exact path (see the module docstring)."""
        if not chunk.isascii():
            _decode(chunk)  # raises on a byte that is not UTF-8
        has_cr = b"\r" in chunk
        if not self.width or (has_cr and chunk.count(b"\r") != chunk.count(b"\r\n")):
            self.stdlib(chunk.decode("utf-8"), first_line, blocks)
            return
        data = chunk.replace(b"\r\n", b"\n") if has_cr else chunk
        quoted = b'"' in data
        if quoted and not _plain_quotes(data):
            self.stdlib(chunk.decode("utf-8"), first_line, blocks)
            return
        table, typed = self._read_block(data, quoted)
        if table is None:  # a row of another width: the stdlib path reports it
            self.stdlib(chunk.decode("utf-8"), first_line, blocks)
            return
        # Without quotes a comma is always a separator, so each line with NULs for commas is the
        # canonical row of _canonical_row; with quotes the canonical rows are joined from the fields.
        keyed = data if quoted else data.translate(_COMMA_TO_NUL)
        ends = np.flatnonzero(np.frombuffer(keyed, dtype=np.uint8) == 10)
        offsets = np.zeros(len(ends) + 1, dtype=np.int32)
        offsets[1:] = ends + 1
        line_array = pa.Array.from_buffers(pa.string(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(keyed)])
        blank = np.diff(offsets) == 1  # a line that is only its line break: skipped, as the csv module does
        if blank.any():
            kept = np.flatnonzero(~blank)
            line_array = line_array.take(pa.array(kept))
            lines = first_line + kept.astype(np.int64)
        else:
            lines = first_line + np.arange(len(ends), dtype=np.int64)
        if table.num_rows != len(line_array):  # cannot happen once quotes are plain; never guess
            self.stdlib(chunk.decode("utf-8"), first_line, blocks)
            return
        try:
            columns = self._parse_table(table, typed)
        except _Retry:
            table, typed = self._read_block(data, quoted, typed=False)
            assert table is not None
            columns = self._parse_table(table, typed)
        self.result.rows += len(line_array)
        ascii_only = chunk.isascii()
        if quoted:
            fields = pc.binary_join_element_wise(*(table.column(n).combine_chunks() for n in self.names), "\0")
            keys = pc.binary_join_element_wise(fields, "", "\n")  # fields, NUL-joined, then a line break
            h1, h2 = hash_strings(keys, ascii_only=ascii_only)
        else:
            h1, h2 = hash_strings(line_array, ascii_only=ascii_only)
        self.spill.add(ROWS_KEYSET, h1, h2, lines)

        def raw_field(i: int, position: int) -> str:  # only for a quote-free block's typed columns
            return str(line_array[i].as_py()).rstrip("\n").split("\0")[position]

        self._check(columns, lines, raw_field)

    def _read_block(self, data: bytes, quoted: bool, *, typed: bool = True) -> tuple[pa.Table | None, bool]:
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

    def _parse_table(self, table: pa.Table, typed: bool) -> list[_Parsed]:
        parsed: list[_Parsed] = []
        for position, column, _ in self.checked:
            array = table.column(self.names[position]).combine_chunks()
            if typed and pa.types.is_floating(array.type):
                parsed.append(_parse_typed(column, array))
            elif typed and pa.types.is_dictionary(array.type):
                parsed.append(_parse_dictionary(array))
            else:
                parsed.append(_parse_text(column, array))
        return parsed

    def stdlib(self, text: str, first_line: int, blocks: _Blocks) -> None:
        """Path 3: the csv module, record by record, until a block ends between two records."""
        lines = _Lines(text, first_line, blocks)
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
                self.add_malformed(lines.line, f"the CSV cannot be parsed: {exc}")
                continue
            if not fields:  # a blank line: csv yields [], pandas skips it too
                continue
            batch.append(fields)
            batch_lines.append(lines.line)
            if len(batch) >= _SLOW_BATCH_ROWS:
                self._stdlib_batch(batch, batch_lines)
                batch, batch_lines = [], []
        if batch:
            self._stdlib_batch(batch, batch_lines)

    def _stdlib_batch(self, rows: list[list[str]], row_lines: list[int]) -> None:
        lines = np.asarray(row_lines, dtype=np.int64)
        for fields, line in zip(rows, row_lines, strict=True):
            if len(fields) != self.width:
                self.result.width.add(line, f"{len(fields)} fields")
        self.result.rows += len(rows)
        canonical = [_canonical_row(fields) for fields in rows]
        keys = pa.array(canonical, pa.string())
        h1, h2 = hash_strings(keys, ascii_only=all(map(str.isascii, canonical)))
        self.spill.add(ROWS_KEYSET, h1, h2, lines)
        columns = []
        for position, column, _ in self.checked:
            values = [fields[position] if position < len(fields) else "" for fields in rows]
            columns.append(_parse_text(column, pa.array(values, pa.string())))

        def raw_field(i: int, position: int) -> str:
            return rows[i][position] if position < len(rows[i]) else ""

        self._check(columns, lines, raw_field)

    def add_malformed(self, line: int, message: str) -> None:
        if self.result.malformed_message is None:
            self.result.malformed_message = message
        self.result.malformed.add(line, message)

    # -- checking a parsed batch --

    def _check(self, columns: list[_Parsed], lines: np.ndarray, raw_field: Callable[[int, int], str]) -> None:
        for (position, column, tally), parsed in zip(self.checked, columns, strict=True):
            if parsed.text is not None:
                example = _text_example(parsed.text)
            elif parsed.dictionary is not None:
                example = _code_example(parsed.dictionary, parsed.codes)
            else:
                example = _field_example(raw_field, position)
            self._check_column(column, tally, parsed, lines, example)

    def _check_column(
        self, column: Column, tally: ColumnTally, parsed: _Parsed, lines: np.ndarray, example: Callable[[int], str]
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

    def _known(self, column: Column, parsed: _Parsed, valid: np.ndarray, tally: ColumnTally) -> np.ndarray:
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
        known = _np_bool(pc.is_in(parsed.text, value_set=self.categories[column.name]))
        counted = pc.value_counts(parsed.text.filter(pa.array(valid & known)))
        for item in counted.to_pylist():
            tally.category_counts[str(item["values"])] += int(item["counts"])
        return known

    def _is_positive(self, column: Column, parsed: _Parsed) -> np.ndarray:
        label = self.schema.positive_label
        if column.type == "integer":
            assert parsed.integer is not None and isinstance(label, int)
            positive = parsed.integer == label if -(2**63) <= label < 2**63 else np.zeros(len(parsed.null), bool)
            for i, value in parsed.big.items():
                positive[i] = value == label
            return positive
        if parsed.codes is not None and parsed.dictionary is not None:
            return np.asarray([v == str(label) for v in parsed.dictionary], dtype=bool)[parsed.codes]
        return _np_bool(pc.equal(parsed.text, str(label)))

    def _unique(self, column: Column, parsed: _Parsed, valid: np.ndarray, lines: np.ndarray) -> None:
        rows = np.flatnonzero(valid)
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
        self.spill.add(f"unique:{column.name}", h1, h2, lines[rows], texts)

    def _time(
        self,
        column: Column,
        parsed: _Parsed,
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
    def _time_value(column: Column, parsed: _Parsed, i: int, example: Callable[[int], str]) -> Any:
        """The time as the report shows it: the text as written, or the parsed number."""
        if column.type == "string":
            return example(i)
        if column.type == "integer":
            assert parsed.integer is not None
            return parsed.big.get(i, int(parsed.integer[i]))
        assert parsed.number is not None
        return float(parsed.number[i])


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
    part = _Part(schema, limits, result, spill)
    part.progress = progress
    blocks = _Blocks(_as_binary(stream), limits, strip_bom=with_header, part=part)
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(max(previous_limit, limits.max_line_bytes))
    try:
        part.run(blocks, None if with_header else list(header or ()))
    except _Fatal as fatal:
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


def discard(partials: Iterable[PartialResult]) -> None:
    """Remove the spilled key partitions of the parts (after :func:`merge`)."""
    for partial in partials:
        if partial.spill:
            try:
                store = open_store(partial.spill)
            except NotImplementedError:
                continue
            store.remove()


# -- merge ------------------------------------------------------------------------------------


def merge(
    partials: Sequence[PartialResult], schema: DatasetSchema, *, limits: Limits | None = None
) -> ValidationResult:
    """One report from the partial results of a file's parts, in file order; see the module docstring."""
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
                [(p.keysets[f"unique:{column.name}"], b) for p, b in zip(partials, bases, strict=True)],
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
