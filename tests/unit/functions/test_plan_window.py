"""The training window (pure) and the batch order it relies on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.plan.logic import champion_seen
from functions.plan.window import batch_time, select_window, since_quality_change, time_value, window_summary
from functions.shared.batches import Batch, batch_from_validation, version_sort_key, version_time


def batch(version: str, rows: int = 100, time_max: object = None) -> Batch:
    time_range = None if time_max is None else {"min": time_max, "max": time_max}
    return Batch(version, f"snapshots/d/{version}/data.csv", rows, rows // 10, time_range, "upload")


def versions(window: list[Batch]) -> list[str]:
    return [b.dataset_version for b in window]


# Five batches validated a day apart, oldest first.
SERIES = [
    batch(f"2026110{d}T000000000000Z-{d:012d}", rows=r)
    for d, r in zip(range(1, 6), (300, 50, 120, 80, 40), strict=True)
]
V = versions(SERIES)


# --- version order ------------------------------------------------------------------------------


def test_versions_parse_with_and_without_microseconds():
    assert version_time("20261112T170440123456Z-abcdefabcdef") == datetime(2026, 11, 12, 17, 4, 40, 123456, tzinfo=UTC)
    assert version_time("20261112T170440Z-abcdefabcdef") == datetime(2026, 11, 12, 17, 4, 40, tzinfo=UTC)
    assert version_time("not-a-version") is None


def test_old_format_versions_sort_by_time_not_by_string():
    old = "20261112T170440Z-ffffffffffff"  # as a string, "Z" sorts after every digit
    same_second_later = "20261112T170440500000Z-000000000000"
    next_second = "20261112T170441Z-000000000000"
    ordered = sorted([next_second, same_second_later, old], key=version_sort_key)
    assert ordered == [old, same_second_later, next_second]
    assert sorted(["x", old], key=version_sort_key) == ["x", old]  # no stamp: oldest


def test_validation_reports_default_origin_and_time_range_and_refuse_failures():
    legacy = batch_from_validation("v", "k", {"valid": True, "rows": 10, "positives": 2})
    assert legacy is not None and legacy.origin == "upload" and legacy.time_range is None
    assert batch_from_validation("v", "k", {"valid": False, "rows": 10, "positives": 2}) is None
    assert batch_from_validation("v", "k", {"positives": 2}) is None
    assert batch_from_validation("v", "k", None) is None
    labelled = batch_from_validation(
        "v", "k", {"rows": 5, "positives": 1, "origin": "ground_truth", "timeRange": {"min": "a", "max": "b"}}, '"e"'
    )
    assert labelled is not None and labelled.origin == "ground_truth" and labelled.etag == "e"


# --- modes ---------------------------------------------------------------------------------------


def test_all_keeps_every_batch_and_ignores_the_value():
    assert versions(select_window(SERIES, "all", 0)) == V
    assert versions(select_window(SERIES, "all", 2)) == V


def test_batches_keeps_the_last_k():
    assert versions(select_window(SERIES, "batches", 2)) == V[-2:]
    assert versions(select_window(SERIES, "batches", 1)) == V[-1:]
    assert versions(select_window(SERIES, "batches", 99)) == V


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, 1),  # the newest batch alone already holds 40 >= 1 rows
        (40, 1),  # exactly reached by the newest batch
        (41, 2),  # 40 + 80: the batch that crosses N is kept whole
        (120, 2),
        (121, 3),
        (590, 5),  # every row
        (10_000, 5),  # fewer rows than asked: everything there is
    ],
)
def test_rows_keeps_the_newest_batches_until_n_rows_are_reached(n, expected):
    window = select_window(SERIES, "rows", n)
    assert versions(window) == V[-expected:]


def test_days_by_validation_time_without_a_time_column():
    assert versions(select_window(SERIES, "days", 1)) == V[-2:]  # exactly one day back is within
    assert versions(select_window(SERIES, "days", 2)) == V[-3:]
    assert versions(select_window(SERIES, "days", 30)) == V


def test_days_by_the_time_column_relative_to_the_newest_batch():
    series = [
        batch("20261201T000000000000Z-000000000001", time_max="2026-01-01T00:00:00Z"),
        batch("20261202T000000000000Z-000000000002", time_max="2026-01-20T12:00:00+00:00"),
        batch("20261203T000000000000Z-000000000003", time_max="2026-01-25T00:00:00"),  # naive: UTC
        # a late batch holding older rows: its time, not its validation, decides
        batch("20261204T000000000000Z-000000000004", time_max="2026-01-10T00:00:00Z"),
        batch("20261205T000000000000Z-000000000005", time_max="2026-01-31T00:00:00Z"),
    ]
    assert versions(select_window(series, "days", 7)) == [series[2].dataset_version, series[4].dataset_version]
    assert versions(select_window(series, "days", 11)) == [*versions(series[1:3]), series[4].dataset_version]
    assert versions(select_window(series, "days", 30)) == versions(series)


def test_days_with_numeric_epoch_seconds():
    day = 86_400
    series = [batch(f"2026120{i}T000000000000Z-{i:012d}", time_max=1_700_000_000 + i * day) for i in range(1, 5)]
    assert versions(select_window(series, "days", 1)) == versions(series[-2:])


def test_the_newest_batch_is_always_in_the_window():
    for mode in ("all", "rows", "batches", "days"):
        assert select_window(SERIES, mode, 1)[-1] == SERIES[-1]


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="needs a value >= 1"):
        select_window(SERIES, "rows", 0)
    with pytest.raises(ValueError):
        select_window(SERIES, "weeks", 1)
    assert select_window([], "rows", 5) == []


def test_time_values():
    assert time_value("1970-01-02T00:00:00Z") == 86_400
    assert time_value(86_400) == 86_400
    assert time_value("86400") == 86_400
    assert time_value(True) is None
    assert time_value("yesterday") is None
    assert time_value(float("nan")) is None
    # an unreadable timeRange falls back to the validation stamp
    assert batch_time(batch("19700102T000000Z-a", time_max="garbage")) == 86_400


def test_window_summary():
    window = select_window(SERIES, "batches", 2)
    assert window_summary(window, "batches", 2) == {
        "mode": "batches",
        "value": 2,
        "batches": 2,
        "rows": 120,
        "first": V[3],
        "last": V[4],
    }


# --- what the champion has seen --------------------------------------------------------------------


def test_champion_train_batches_are_taken_as_recorded():
    seen = champion_seen({"data": {"batches": V[:3], "trainBatches": V[:2]}}, SERIES, None)
    assert seen.seen == frozenset(V[:2]) and seen.rule == "trainBatches"


def test_without_train_batches_everything_up_to_the_newest_named_batch_is_seen():
    seen = champion_seen({"data": {"batches": [V[0], V[2]]}}, SERIES, None)
    assert seen.seen == frozenset(V[:3])


def test_a_legacy_champion_has_seen_the_batches_validated_before_its_metrics():
    written = datetime(2026, 11, 3, 12, tzinfo=UTC)
    seen = champion_seen({"challenger": {}, "rows": {}}, SERIES, written)
    assert seen.seen == frozenset(V[:3])


def test_nothing_usable_means_everything_is_seen():
    seen = champion_seen(None, SERIES, None)
    assert seen.seen == frozenset(V) and seen.rule.startswith("unknown")


# --- the change point of a quality-alarm retraining ---------------------------------------------------


def labelled(version: str, drop: float | None, rows: int = 400, origin: str = "ground_truth") -> Batch:
    return Batch(version, f"snapshots/d/{version}/data.csv", rows, rows // 4, None, origin, quality_drop=drop)


def test_a_quality_retraining_starts_at_the_newest_run_of_breaching_batches():
    history = [
        labelled("20261101T000000000000Z-000000000001", None, rows=4000, origin="upload"),
        labelled("20261102T000000000000Z-000000000002", 0.01),
        labelled("20261103T000000000000Z-000000000003", 0.30),  # an old, since-resolved problem
        labelled("20261104T000000000000Z-000000000004", -0.02),
        labelled("20261105T000000000000Z-000000000005", 0.25),  # the change point
        labelled("20261106T000000000000Z-000000000006", None, rows=100, origin="upload"),
        labelled("20261107T000000000000Z-000000000007", 0.28),
    ]
    window = since_quality_change(history, tolerance=0.05)
    assert window is not None
    assert versions(window) == [b.dataset_version for b in history[4:]]


def test_without_a_breaching_run_or_with_too_few_rows_the_configured_window_applies():
    calm = [labelled("20261102T000000000000Z-000000000002", 0.01), labelled("20261103T000000000000Z-00000000003", 0.04)]
    assert since_quality_change(calm, tolerance=0.05) is None
    small = [
        labelled("20261102T000000000000Z-000000000002", 0.01),
        labelled("20261103T000000000000Z-000000000003", 0.4, rows=100),
    ]
    assert since_quality_change(small, tolerance=0.05) is None  # 100 rows < MIN_CHANGE_WINDOW_ROWS


def test_served_quality_is_read_from_validation_json():
    report = {"rows": 10, "positives": 2, "origin": "ground_truth", "servedQuality": {"drop": 0.3, "metric": "roc_auc"}}
    parsed = batch_from_validation("20261102T000000000000Z-000000000002", "k", report)
    assert parsed is not None and parsed.quality_drop == pytest.approx(0.3)
    plain = batch_from_validation("20261102T000000000000Z-000000000002", "k", {"rows": 1, "positives": 0})
    assert plain is not None and plain.quality_drop is None
