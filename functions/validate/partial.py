"""What one part of a file contributes to the report: tallies that add up across parts.

A :class:`PartialResult` holds per-column tallies, line numbers relative to the part, and
references to its spilled key partitions. It is JSON-serialisable (``to_dict``/``from_dict``) so
that a distributed run can validate parts in separate processes and merge them later
(:mod:`functions.validate.merge`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from functions.validate.checks import MAX_EXAMPLES, Failure
from functions.validate.spill import KeySetRef

__all__ = ["ROWS_KEYSET", "ColumnTally", "PartialResult", "Tally", "unique_keyset"]

ROWS_KEYSET = "rows"


def unique_keyset(column: str) -> str:
    """The key set of a ``unique`` column's values (the part writes it, the merge counts it)."""
    return f"unique:{column}"


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


@dataclass
class PartialResult:
    """One part's contribution: counts, the first examples (lines relative to the part), its key partitions."""

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

    def add_malformed(self, line: int, message: str) -> None:
        """Count a malformed record; the first one's message is the one the report gives."""
        if self.malformed_message is None:
            self.malformed_message = message
        self.malformed.add(line, message)

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
