"""One progress line on stderr for all running policies, fed by the worker processes.

Each worker replays in its own process (moto's state is process-wide), so a worker cannot draw on
the terminal without garbling the others: workers put `(policy, windows done, note)` on a queue
and this single renderer redraws one line. It stays silent when stderr is not a terminal (CI logs,
pipes) or with `--quiet`, so captured output holds only the table.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["ProgressLine", "bar"]


def bar(done: int, total: int, width: int = 12) -> str:
    """`[#####.......]` for `done` of `total`."""
    total = max(total, 1)
    filled = min(width, round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


class ProgressLine:
    """Draws `policy [###...] 12/50 note | ...` from a queue until stopped."""

    def __init__(
        self,
        updates: Any,
        policies: Sequence[str],
        total: int,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self._updates = updates
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._state = {name: (0, "starting") for name in policies}
        self._total = total
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backtest-progress", daemon=True)
        self._started = time.perf_counter()
        self._width = 0

    def __enter__(self) -> ProgressLine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._enabled and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()

    def line(self) -> str:
        parts = [
            f"{name} {bar(done, self._total)} {done}/{self._total} {note}" for name, (done, note) in self._state.items()
        ]
        return f"{time.perf_counter() - self._started:6.0f} s  " + " | ".join(parts)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                name, done, note = self._updates.get(timeout=0.5)
                self._state[name] = (done, note)
            except queue.Empty:
                pass
            except (EOFError, OSError):  # the queue went away with the pool
                return
            if self._enabled:
                text = self.line()
                self._width = max(self._width, len(text))
                self._stream.write("\r" + text.ljust(self._width))
                self._stream.flush()
