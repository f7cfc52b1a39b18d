"""Progress lines a person can follow: one per step of the demo, one per state of an execution."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_STATE_ENTERED = "StateEntered"
_STATE_EXITED = "StateExited"


class Console:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self._stream = stream or sys.stdout
        self._quiet = quiet

    def line(self, text: str = "") -> None:
        if not self._quiet:
            print(text, file=self._stream, flush=True)

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text}")

    @contextmanager
    def step(self, text: str) -> Iterator[dict[str, Any]]:
        """`  <text> ... done (1.2 s)` — or `failed` with the error — around a block of work."""
        started = time.perf_counter()
        if not self._quiet:
            print(f"  {text} ...", end="", file=self._stream, flush=True)
        result: dict[str, Any] = {}
        try:
            yield result
        except BaseException:
            if not self._quiet:
                print(f" failed ({time.perf_counter() - started:.1f} s)", file=self._stream, flush=True)
            raise
        note = f"; {result['note']}" if result.get("note") else ""
        if not self._quiet:
            print(f" done ({time.perf_counter() - started:.1f} s{note})", file=self._stream, flush=True)


class ExecutionPrinter:
    """Turns Step Functions history events into `✓ State  1.2 s` lines as states finish."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._entered: dict[str, Any] = {}
        self.states: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        kind: str = event["type"]
        if kind.endswith(_STATE_ENTERED):
            details = event.get("stateEnteredEventDetails", {})
            self._entered[details.get("name", "?")] = event["timestamp"]
        elif kind.endswith(_STATE_EXITED):
            name = event.get("stateExitedEventDetails", {}).get("name", "?")
            started = self._entered.pop(name, event["timestamp"])
            seconds = (event["timestamp"] - started).total_seconds()
            self.states.append({"state": name, "seconds": round(seconds, 2), "status": "ok"})
            self._console.line(f"    ✓ {name:<28} {seconds:7.2f} s")
        elif kind in {"TaskFailed", "LambdaFunctionFailed"}:
            details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
            self._console.line(f"    ✗ task failed: {details.get('error')}: {str(details.get('cause', ''))[:300]}")
        elif kind == "FailStateEntered":
            name = event.get("stateEnteredEventDetails", {}).get("name", "?")
            self.states.append({"state": name, "seconds": 0.0, "status": "failed"})
            self._console.line(f"    ✗ {name}")
        elif kind == "ExecutionFailed":
            details = event.get("executionFailedEventDetails", {})
            self._console.line(f"    ✗ execution failed: {details.get('error')}: {str(details.get('cause', ''))[:300]}")
