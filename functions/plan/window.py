"""Which batches a run trains on: the training window (pure, no AWS).

The window bounds what a retraining learns from, so an old regime can age out of the model:
``all`` keeps every batch, ``rows`` the newest batches holding the last N rows (the batch that
crosses N is kept whole: batches are never split, so a batch is either seen or unseen by a
model), ``batches`` the last K, ``days`` the batches whose newest row is within D days of the
newest batch's newest row.

Every mode keeps the newest batch, so the newest window version is also the newest batch: that is
what the planner records as ``lastTrainedBatch`` and what the trigger compares new batches with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from functions.shared.batches import Batch

__all__ = ["SECONDS_PER_DAY", "WindowMode", "batch_time", "select_window", "time_value", "window_summary"]

SECONDS_PER_DAY = 86_400


class WindowMode(StrEnum):
    ALL = "all"
    ROWS = "rows"
    BATCHES = "batches"
    DAYS = "days"


def time_value(value: Any) -> float | None:
    """A time-column value as seconds since the Unix epoch, or ``None`` if it is not one.

    ISO-8601 strings are parsed (no offset means UTC); numbers are taken as Unix epoch seconds,
    the only unit a numeric time column can be compared with a validation stamp in.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def batch_time(batch: Batch) -> float | None:
    """The batch's newest moment: ``timeRange.max``, else (no time column, or an unreadable value)
    the moment it was validated, from its version stamp; ``None`` if neither is known."""
    if batch.time_range:
        value = time_value(batch.time_range.get("max"))
        if value is not None:
            return value
    validated = batch.validated_at
    return validated.timestamp() if validated else None


def select_window(batches: Sequence[Batch], mode: WindowMode | str, value: int) -> list[Batch]:
    """The window over ``batches`` (oldest first, as listed), oldest first.

    ``value`` is ignored for ``all`` and must be >= 1 otherwise. In ``days`` mode a batch whose
    time is unknown is kept (it cannot be shown to be outside the window); ``batch_time`` says
    how a batch's time is read.
    """
    mode = WindowMode(mode)
    if mode is WindowMode.ALL or not batches:
        return list(batches)
    if value < 1:
        raise ValueError(f"a {mode.value!r} window needs a value >= 1, got {value}")
    if mode is WindowMode.BATCHES:
        return list(batches[-value:])
    if mode is WindowMode.ROWS:
        total, start = 0, len(batches)
        while start > 0 and total < value:
            start -= 1
            total += batches[start].rows
        return list(batches[start:])
    reference = batch_time(batches[-1])
    if reference is None:
        return list(batches)
    horizon = value * SECONDS_PER_DAY
    kept = []
    for batch in batches:
        moment = batch_time(batch)
        if moment is None or reference - moment <= horizon:
            kept.append(batch)
    return kept


def window_summary(window: Sequence[Batch], mode: WindowMode | str, value: int) -> dict[str, Any]:
    """``{"mode", "value", "batches", "rows", "first", "last"}`` as the plan's output reports it."""
    return {
        "mode": WindowMode(mode).value,
        "value": value,
        "batches": len(window),
        "rows": sum(b.rows for b in window),
        "first": window[0].dataset_version if window else None,
        "last": window[-1].dataset_version if window else None,
    }


# A window that starts at a change point still needs enough rows for a holdout (at least 200) and a
# training part with every class in each cross-validation fold.
MIN_CHANGE_WINDOW_ROWS = 500


def since_quality_change(window: Sequence[Batch], tolerance: float) -> list[Batch] | None:
    """The part of ``window`` from the change point on, or ``None`` when it cannot be told.

    When the quality alarm retrains, the champion's concept has stopped describing the labels: rows
    from before the change teach the old relationship and outvote the new one. The change point is
    the oldest batch of the newest run of ground-truth batches on which the serving model fell more
    than ``tolerance`` below its registered holdout figure (uploads inside the run are kept). With
    no such run, or fewer than ``MIN_CHANGE_WINDOW_ROWS`` rows since it, ``None``: the configured
    window applies.
    """
    start: int | None = None
    for index in range(len(window) - 1, -1, -1):
        drop = window[index].quality_drop
        if drop is None:
            continue
        if drop > tolerance:
            start = index
        elif start is not None:
            break
    if start is None:
        return None
    part = list(window[start:])
    return part if sum(b.rows for b in part) >= MIN_CHANGE_WINDOW_ROWS else None
