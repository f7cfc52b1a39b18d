"""CloudWatch's alarm decision, as the local evaluator applies it."""

import pytest

from mlops.local.adapters.alarms import classify_periods, next_state


@pytest.mark.parametrize(
    ("treat_missing", "expected"),
    [
        ("missing", [True, None, False]),
        ("notBreaching", [True, False, False]),
        ("breaching", [True, True, False]),
        ("ignore", [True, None, False]),
    ],
)
def test_missing_periods_follow_treat_missing_data(treat_missing, expected):
    assert classify_periods([2.0, None, 0.0], 1.0, "GreaterThanOrEqualToThreshold", treat_missing) == expected


def test_comparison_operators_are_strict_or_inclusive_as_named():
    assert classify_periods([1.0], 1.0, "GreaterThanOrEqualToThreshold", "missing") == [True]
    assert classify_periods([1.0], 1.0, "GreaterThanThreshold", "missing") == [False]
    assert classify_periods([0.5], 1.0, "LessThanThreshold", "missing") == [True]
    assert classify_periods([1.0], 1.0, "LessThanOrEqualToThreshold", "missing") == [True]


def test_m_out_of_n_needs_enough_breaching_periods():
    assert next_state([True, False, True], 2, "OK", "missing") == "ALARM"
    assert next_state([True, False, False], 2, "OK", "missing") == "OK"
    assert next_state([True, False, False], 2, "ALARM", "missing") == "OK"


def test_no_data_is_insufficient_unless_ignored():
    assert next_state([None, None], 1, "OK", "missing") == "INSUFFICIENT_DATA"
    assert next_state([None, None], 1, "ALARM", "ignore") == "ALARM"
