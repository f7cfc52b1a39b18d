"""Step Functions Retry waits: recorded, and compressible for tests.

moto's interpreter honours a state's Retry as Step Functions does (ErrorEquals, IntervalSeconds,
MaxAttempts, BackoffRate, MaxDelaySeconds, JitterStrategy) and sleeps before each new attempt.
`RetryClock` stands in for the `time` module that sleep comes from: every wait the interpreter
asks for (after backoff and jitter) is recorded in `waits`, and it sleeps `scale` times as long
(1.0, the default: exactly as asked; a test may compress the waits, never skip the retries).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from mlops.local.adapters.patches import PatchPoint, PatchSet

__all__ = ["PATCH_POINTS", "RetryClock", "install", "uninstall"]


@dataclass
class RetryClock:
    scale: float = 1.0
    waits: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.scale < 0:
            raise ValueError(f"the retry wait scale must not be negative, got {self.scale}")

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(float(seconds))
        time.sleep(max(0.0, seconds) * self.scale)


RETRIER_TIME = PatchPoint(retrier_decl, "time", "the Retry waits are recorded and may be compressed")
PATCH_POINTS = (RETRIER_TIME,)
_active: PatchSet | None = None


def install(clock: RetryClock) -> None:
    """The interpreter's Retry waits go through ``clock`` (a second install replaces the first clock)."""
    global _active
    uninstall()
    _active = PatchSet([(RETRIER_TIME, clock)])
    _active.install()


def uninstall() -> None:
    global _active
    if _active is not None:
        _active.uninstall()
        _active = None
