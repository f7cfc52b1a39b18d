"""The byte stream cut into blocks of whole physical lines, each with the number of its first line.

Cutting the blocks here (rather than with pyarrow's streaming ``open_csv``) is what makes every
row's physical line number known (the header is line 1) and lets a block be re-read another way
(:mod:`functions.validate.columnar`). A line longer than :attr:`Limits.max_line_bytes` is skipped
without being held, and reported as malformed; a non-UTF-8 byte anywhere makes the whole file
unreadable (:class:`Fatal`, ``encoding``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from functions.validate.checks import ENCODING, Failure
from functions.validate.limits import Limits

__all__ = ["Blocks", "Fatal", "as_binary", "decode", "line_breaks"]

_BOM = b"\xef\xbb\xbf"


class Fatal(Exception):
    """The file cannot be validated at all (not UTF-8, empty, header unparsable)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


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


def as_binary(source: Any) -> Any:
    """``source`` as a binary stream: the validator decodes the bytes itself, to report a non-UTF-8 file."""
    read = getattr(source, "read", None)
    if read is None:
        return _TextAsBytes(source)
    probe = read(0)
    return _TextAsBytes(source) if isinstance(probe, str) else source


def decode(chunk: bytes) -> str:
    """The block as text, or :class:`Fatal` (``encoding``) with the message validation always gave."""
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Fatal(
            Failure(
                ENCODING,
                None,
                f"the file is not UTF-8 text ({exc.reason}: {exc.object[exc.start : exc.end]!r})",
                1,
            )
        ) from exc


class Blocks:
    """Cuts the byte stream into blocks of whole physical lines and numbers them (first line = 1)."""

    def __init__(
        self, stream: Any, limits: Limits, *, strip_bom: bool, on_malformed: Callable[[int, str], None]
    ) -> None:
        self._stream = stream
        self._limits = limits
        self._buffer = b""
        self._eof = False
        self._strip_bom = strip_bom
        self._on_malformed = on_malformed  # (line, message) of a line too long to read
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
            self.next_line += line_breaks(chunk)
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
        self._on_malformed(line, f"line {line} is longer than {self._limits.max_line_bytes} bytes")


def line_breaks(chunk: bytes) -> int:
    """Physical lines in a block, as Python's universal newlines count them (\\n, \\r\\n, lone \\r)."""
    breaks = chunk.count(b"\n")
    if b"\r" in chunk:
        breaks += chunk.count(b"\r") - chunk.count(b"\r\n")
    return breaks
