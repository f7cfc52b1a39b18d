"""How a drift run chooses its time window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.drift.window import SETTLE_LAG, Window, resolve_window

NOW = datetime(2026, 11, 12, 18, 0, 30, 123456, tzinfo=UTC)


def test_first_run_looks_back_one_window_and_ends_a_settle_lag_ago_on_a_whole_second():
    window = resolve_window({}, None, NOW, 60)
    assert window.end == datetime(2026, 11, 12, 17, 58, 30, tzinfo=UTC)
    assert window.end == (NOW - SETTLE_LAG).replace(microsecond=0)
    assert window.start == window.end - timedelta(minutes=60)
    assert not window.explicit


def test_later_runs_start_where_the_previous_one_ended():
    previous_end = "2026-11-12T16:58:30+00:00"
    window = resolve_window({"source": "aws.events"}, {"windowEnd": previous_end}, NOW, 60)
    assert window.start == datetime(2026, 11, 12, 16, 58, 30, tzinfo=UTC)  # a missed schedule is caught up


def test_an_explicit_window_overrides_and_is_marked():
    window = resolve_window(
        {"windowStart": "2026-11-01T00:00:00Z", "windowEnd": "2026-11-02T00:00:00Z"},
        {"windowEnd": "2026-11-12T17:00:00+00:00"},
        NOW,
        60,
    )
    assert (window.start, window.end, window.explicit) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 2, tzinfo=UTC),
        True,
    )


def test_window_membership_is_half_open():
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert not window.contains(window.start) and window.contains(window.end)


@pytest.mark.parametrize(
    "event",
    [{"windowStart": "yesterday"}, {"windowStart": "2026-11-02T00:00:00Z", "windowEnd": "2026-11-01T00:00:00Z"}],
)
def test_bad_explicit_windows_are_clear_errors(event):
    with pytest.raises(ValueError, match="windowStart"):
        resolve_window(event, None, NOW, 60)
