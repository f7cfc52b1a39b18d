"""Cutting a labelled CSV into the replay: the initial training data, then windows of traffic.

Pure functions (no AWS, no clock), so the shape of a replay — which rows, which times, which
inference ids — is decided and tested before anything is deployed, and a bad input (missing
column, a window larger than the data, an unreadable time) ends the command with one line
instead of a stack trace from inside the local cloud.

Time: with a time column the rows are sorted by it (stably) and every window starts at the time
of its first row; a request is sent at the time of its own first row, so capture timestamps
follow the data. The clock starts at the first replayed row: the initial part has been observed
by then, which is when it can be uploaded. Without a time column (`--order file`) the file order
is kept, windows are `scheduleMinutes` apart from 2026-01-01T00:00Z and the requests of a window
are spread evenly over its period.
"""

from __future__ import annotations

import csv
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.schema import DatasetSchema, parse_timestamp

__all__ = [
    "FILE_ORDER_START",
    "BacktestInputError",
    "ReplayPlan",
    "Window",
    "label_ids",
    "plan_replay",
    "read_csv",
]

FILE_ORDER_START = datetime(2026, 1, 1, tzinfo=UTC)
Row = dict[str, str]


class BacktestInputError(ValueError):
    """The data, schema or options cannot make a replay; the message is the one-line reason."""


@dataclass(frozen=True)
class Window:
    """One window of traffic: its rows, when it starts, how long it lasts, when each request goes."""

    index: int
    rows: tuple[Row, ...]
    start: datetime
    span: timedelta
    request_sizes: tuple[int, ...]
    request_offsets: tuple[timedelta, ...]

    @property
    def end(self) -> datetime:
        return self.start + self.span

    def requests(self) -> list[tuple[int, str, tuple[Row, ...], timedelta]]:
        """(request number, InferenceId, rows, offset from the window start) of every request."""
        out, first = [], 0
        for number, (size, offset) in enumerate(zip(self.request_sizes, self.request_offsets, strict=True)):
            out.append((number, f"w{self.index}-{number}", self.rows[first : first + size], offset))
            first += size
        return out

    def label_ids(self) -> list[str]:
        """The ground-truth id of every row, in row order (the ground-truth contract)."""
        return [row_id for _, inference_id, rows, _ in self.requests() for row_id in label_ids(inference_id, len(rows))]


@dataclass(frozen=True)
class ReplayPlan:
    header: tuple[str, ...]
    initial: tuple[Row, ...]
    windows: tuple[Window, ...]
    start: datetime  # the clock's start: when the initial part is uploaded
    ordering: str  # "time:<column>" or "file"
    dropped_rows: int  # rows after the last whole window, not replayed
    label_delay: int

    @property
    def time_column(self) -> str | None:
        return self.ordering.removeprefix("time:") if self.ordering.startswith("time:") else None


def label_ids(inference_id: str, rows: int) -> list[str]:
    """A one-row request is labelled by its InferenceId; row k of a longer one by `<id>:<k>`."""
    return [inference_id] if rows == 1 else [f"{inference_id}:{k}" for k in range(rows)]


def read_csv(path: Path) -> tuple[tuple[str, ...], list[Row]]:
    if not path.is_file():
        raise BacktestInputError(f"no such file: {path}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        rows = list(reader)
    if not header:
        raise BacktestInputError(f"{path} is empty: expected a CSV with a header row")
    return header, rows


def _moment(text: str, column: str) -> datetime:
    """A time value: epoch seconds (a number) or an ISO-8601 timestamp (naive = UTC)."""
    value = (text or "").strip()
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        pass
    try:
        return parse_timestamp(value)
    except ValueError as error:
        raise BacktestInputError(f"time column {column!r}: {text!r} is neither epoch seconds nor ISO-8601") from error


def _request_sizes(rows: int, per_request: int) -> tuple[int, ...]:
    full, rest = divmod(rows, per_request)
    return (per_request,) * full + ((rest,) if rest else ())


def plan_replay(
    header: Sequence[str],
    rows: Sequence[Row],
    schema: DatasetSchema,
    *,
    time_column: str | None = None,
    file_order: bool = False,
    initial_fraction: float = 0.2,
    window_rows: int | None = None,
    label_delay: int = 1,
    schedule_minutes: int = 60,
    request_rows: int = 100,
) -> ReplayPlan:
    """Check the options against the data and cut it into the replay (see the module docstring).

    `time_column` defaults to the schema's column with role `time`; without one, or with
    `file_order`, rows keep the file's order.
    """
    missing = [c.name for c in schema.required_columns if c.name not in header]
    if missing:
        raise BacktestInputError(f"the CSV lacks the schema's column(s) {', '.join(map(repr, missing))}")
    if schema.problem_type != "binary_classification":
        raise BacktestInputError(f"only binary classification is supported, not {schema.problem_type!r}")
    if not 0.0 < initial_fraction < 1.0:
        raise BacktestInputError(f"--initial-fraction must be between 0 and 1, got {initial_fraction}")
    if label_delay < 0:
        raise BacktestInputError(f"--label-delay must be 0 or more windows, got {label_delay}")
    if request_rows < 1:
        raise BacktestInputError(f"rows per request must be at least 1, got {request_rows}")
    target = schema.target
    labels = {row.get(target, "") for row in rows}
    allowed = {str(value) for value in (schema.target_column.categories or ())}
    if allowed and not labels <= allowed:
        strange = sorted(labels - allowed)[:3]
        raise BacktestInputError(f"target {target!r} holds values outside {sorted(allowed)}: {strange}")

    if file_order:
        column = None
    else:
        column = time_column or (schema.time_column.name if schema.time_column else None)
        if column is not None and column not in header:
            raise BacktestInputError(f"--time-column {column!r} is not a column of the CSV")
    ordered: list[Row] = list(rows)
    times: list[datetime] = []
    if column is not None:
        keyed = [(_moment(row[column], column), position, row) for position, row in enumerate(rows)]
        keyed.sort(key=lambda item: (item[0], item[1]))  # stable: ties keep the file's order
        times = [moment for moment, _, _ in keyed]
        ordered = [row for _, _, row in keyed]

    initial_count = round(len(ordered) * initial_fraction)
    replayed = len(ordered) - initial_count
    if initial_count < 1 or replayed < 1:
        raise BacktestInputError(f"{len(ordered)} rows cannot be split at --initial-fraction {initial_fraction}")
    window_rows = window_rows or min(1000, replayed)
    if window_rows < 1:
        raise BacktestInputError(f"--window must be at least 1 row, got {window_rows}")
    if window_rows > replayed:
        raise BacktestInputError(
            f"--window {window_rows} is larger than the {replayed} rows after the initial {initial_count}"
        )
    count, dropped = divmod(replayed, window_rows)
    period = timedelta(minutes=schedule_minutes)
    step = _typical_step(times[initial_count:]) if times else period
    windows = []
    for index in range(count):
        first = initial_count + index * window_rows
        chunk = tuple(ordered[first : first + window_rows])
        sizes = _request_sizes(len(chunk), request_rows)
        if times:
            start = times[first]
            after = first + window_rows
            end = times[after] if after < len(times) else times[after - 1] + step
            offsets, position = [], first
            for size in sizes:
                offsets.append(times[position] - start)
                position += size
        else:
            start = FILE_ORDER_START + index * period
            end = start + period
            offsets = [period * number / len(sizes) for number in range(len(sizes))]
        windows.append(Window(index, chunk, start, end - start, sizes, tuple(offsets)))
    return ReplayPlan(
        header=tuple(header),
        initial=tuple(ordered[:initial_count]),
        windows=tuple(windows),
        start=windows[0].start,
        ordering=f"time:{column}" if column else "file",
        dropped_rows=dropped,
        label_delay=label_delay,
    )


def _typical_step(times: Sequence[datetime]) -> timedelta:
    """The median gap between consecutive rows: how long the last row of the data lasts."""
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    return timedelta(seconds=statistics.median(gaps)) if gaps else timedelta(0)
