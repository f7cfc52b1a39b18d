"""Deterministic execution names."""

from __future__ import annotations

import hashlib

import pytest

from functions.trigger.naming import MAX_NAME_LENGTH, alarm_name, manual_name, normalise_etag, upload_name


def test_upload_names_follow_the_documented_formula():
    expected = hashlib.sha256(b"bucket/uploads/a.csv/v1").hexdigest()[:32]
    assert upload_name("bucket", "uploads/a.csv", "v1", "etag") == f"upload-{expected}"


def test_without_a_version_the_unquoted_etag_identifies_the_object():
    quoted = upload_name("bucket", "uploads/a.csv", None, '"abc"')
    bare = upload_name("bucket", "uploads/a.csv", None, "abc")
    assert quoted == bare
    assert quoted != upload_name("bucket", "uploads/a.csv", None, "abd")


ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlops-drift"
T1, T2 = "2026-11-12T17:04:40.989+0000", "2026-11-12T18:04:40.989+0000"
B1, B2 = "20261112T000000000000Z-aaaaaaaaaaaa", "20261113T000000000000Z-bbbbbbbbbbbb"


def test_alarm_names_follow_the_documented_formulas():
    event = hashlib.sha256(f"{ARN}/{T1}".encode()).hexdigest()[:32]
    assert alarm_name("drift", ARN, T1) == f"drift-{event}"
    assert alarm_name("quality", ARN, T1) == f"quality-{event}"
    recheck = hashlib.sha256(f"{ARN}/{T1}/{B1}".encode()).hexdigest()[:32]
    assert alarm_name("drift", ARN, T1, B1) == f"drift-{recheck}"


def test_alarm_event_names_identify_one_transition():
    assert alarm_name("drift", ARN, T1) == alarm_name("drift", ARN, T1)  # a re-delivery
    assert alarm_name("drift", ARN, T1) != alarm_name("drift", ARN, T2)  # a new transition


def test_recheck_names_identify_one_transition_on_one_newest_batch():
    assert alarm_name("drift", ARN, T1, B1) == alarm_name("drift", ARN, T1, B1)
    assert alarm_name("drift", ARN, T1, B1) != alarm_name("drift", ARN, T2, B1)
    assert alarm_name("drift", ARN, T1, B1) != alarm_name("drift", ARN, T1, B2)  # persisting, new batch


def test_alarm_names_take_only_alarm_reasons():
    with pytest.raises(ValueError, match="drift"):
        alarm_name("upload", ARN, T1, B1)


def test_names_fit_a_training_job_name():
    names = [
        upload_name("b" * 63, "uploads/" + "k" * 1000, "v" * 100, None),
        alarm_name("quality", "arn:" + "a" * 2000, "t" * 100, "v" * 100),
        manual_name("b", "k", None, None, "request"),
    ]
    for name in names:
        assert len(name) <= MAX_NAME_LENGTH
        assert len(f"train-{name}-99") <= 63  # the training job of a retried attempt (two-digit retries)


def test_etag_normalisation():
    assert normalise_etag('"abc"') == "abc"
    assert normalise_etag("") is None
    assert normalise_etag(None) is None
