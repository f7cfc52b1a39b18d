"""The virtual clock: every thread sees it, it jumps only forward, real timers stay real."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from mlops.local.clock import VirtualClock

START = datetime(2040, 3, 1, 12, 0, tzinfo=UTC)


def test_the_clock_starts_at_its_destination_and_ticks():
    with VirtualClock(START) as clock:
        first = clock.now()
        assert START <= first < START + timedelta(seconds=5)
        time.sleep(0.02)
        assert clock.now() > first
    assert datetime.now(UTC) < START  # travel ends with the context


def test_a_jump_is_seen_by_other_threads_and_time_time():
    with VirtualClock(START) as clock:
        monotonic = time.monotonic()
        clock.advance(timedelta(days=30))
        seen = []
        thread = threading.Thread(target=lambda: seen.append(datetime.now(UTC)))
        thread.start()
        thread.join()
        assert seen[0] - START >= timedelta(days=30)
        assert time.time() - START.timestamp() >= 30 * 86400
        assert time.monotonic() - monotonic < 5  # real timers do not jump
        assert clock.jumped == timedelta(days=30)


def test_advance_to_moves_forward_only():
    with VirtualClock(START) as clock:
        clock.advance_to(START + timedelta(hours=2))
        at = clock.now()
        assert at >= START + timedelta(hours=2)
        assert clock.advance_to(START) >= at  # a moment already passed leaves the clock alone
        with pytest.raises(ValueError):
            clock.advance(timedelta(seconds=-1))


def test_a_naive_start_is_utc():
    with VirtualClock(datetime(2040, 1, 1)) as clock:
        assert clock.start_at == datetime(2040, 1, 1, tzinfo=UTC)


def test_advancing_a_clock_that_is_not_running_is_an_error():
    with pytest.raises(RuntimeError):
        VirtualClock(START).advance(timedelta(seconds=1))
