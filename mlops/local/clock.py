"""The local cloud's virtual clock: it runs at real speed and jumps forward on demand.

Every part of the local cloud reads the wall clock: S3 LastModified (which the drift window
selects capture files by), capture timestamps, CloudWatch datapoints and the alarm periods,
Step Functions start dates (the trigger's cooldown), the drift state. Sleeping through an hour (or,
for the backtest, a year) is impossible and shortening the configured periods would change what
is being tested, so the clock moves instead: `time_machine.travel(start, tick=True)` patches
`time.time` and `datetime.now` for every thread of the process (moto and its server, the
in-process Lambdas, the training job threads, the alarm evaluator), time keeps flowing at its real
rate from the destination (so a training job still takes its real seconds), and `advance` /
`advance_to` jump forward. `time.monotonic` and `time.perf_counter` are not patched, so timeouts
and the measured wall time stay real. The clock only moves forward: S3 and the drift window chain
assume time does. Users: the backtest's replay (`mlops.backtest.replay`) and `mlops local up`'s
scheduler (`mlops.local.scheduler`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import TracebackType

import time_machine

__all__ = ["VirtualClock"]


class VirtualClock:
    """A process-wide virtual wall clock that ticks in real time and jumps forward on demand."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self.start_at = start.astimezone(UTC)
        self._travel = time_machine.travel(self.start_at, tick=True)
        self._traveller: time_machine.Traveller | None = None
        self.jumped = timedelta(0)  # virtual time added by jumps (the rest is real time)

    def __enter__(self) -> VirtualClock:
        self._traveller = self._travel.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._travel.stop()
        self._traveller = None

    @staticmethod
    def now() -> datetime:
        """The virtual time (what every AWS API in the process sees), timezone-aware UTC."""
        return datetime.now(UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Jump forward by `delta` (a negative delta is refused: the clock never runs backwards)."""
        if delta < timedelta(0):
            raise ValueError(f"the virtual clock only moves forward, not by {delta}")
        if self._traveller is None:
            raise RuntimeError("the virtual clock is not running (use it as a context manager)")
        if delta:
            self._traveller.shift(delta)
            self.jumped += delta
        return self.now()

    def advance_to(self, moment: datetime) -> datetime:
        """Jump to `moment` if it is still ahead; a moment already passed leaves the clock alone
        (real work may take longer than the virtual gap between two events)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        gap = moment - self.now()
        return self.advance(gap) if gap > timedelta(0) else self.now()
