"""The progress line: drawn from the workers' updates, silent when it is not a terminal."""

import io
import queue
import time

from mlops.backtest.progress import ProgressLine, bar


def test_bar_fills_with_the_windows_done():
    assert bar(0, 4, width=8) == "[........]"
    assert bar(2, 4, width=8) == "[####....]"
    assert bar(9, 4, width=8) == "[########]"


def test_updates_are_drawn_on_one_line_and_cleared_at_the_end():
    updates, stream = queue.Queue(), io.StringIO()
    with ProgressLine(updates, ["never", "every"], 5, stream=stream, enabled=True) as progress:
        updates.put(("never", 2, "acc 0.880 v1"))
        time.sleep(0.7)
        assert "never [#####.......] 2/5 acc 0.880 v1 | every" in progress.line()
    text = stream.getvalue()
    assert "\n" not in text and text.endswith("\r")


def test_nothing_is_drawn_when_disabled():
    stream = io.StringIO()
    with ProgressLine(queue.Queue(), ["drift"], 3, stream=stream, enabled=False):
        time.sleep(0.6)
    assert stream.getvalue() == ""
