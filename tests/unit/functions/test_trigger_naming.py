"""Deterministic execution names."""

from __future__ import annotations

import hashlib

from functions.trigger.naming import MAX_NAME_LENGTH, drift_name, manual_name, normalise_etag, upload_name


def test_upload_names_follow_the_documented_formula():
    expected = hashlib.sha256(b"bucket/uploads/a.csv/v1").hexdigest()[:32]
    assert upload_name("bucket", "uploads/a.csv", "v1", "etag") == f"upload-{expected}"


def test_without_a_version_the_unquoted_etag_identifies_the_object():
    quoted = upload_name("bucket", "uploads/a.csv", None, '"abc"')
    bare = upload_name("bucket", "uploads/a.csv", None, "abc")
    assert quoted == bare
    assert quoted != upload_name("bucket", "uploads/a.csv", None, "abd")


def test_drift_names_identify_one_alarm_transition():
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlops-drift"
    assert drift_name(arn, "2026-11-12T17:04:40.989+0000") == drift_name(arn, "2026-11-12T17:04:40.989+0000")
    assert drift_name(arn, "2026-11-12T17:04:40.989+0000") != drift_name(arn, "2026-11-12T18:04:40.989+0000")


def test_names_fit_a_training_job_name():
    names = [
        upload_name("b" * 63, "uploads/" + "k" * 1000, "v" * 100, None),
        drift_name("arn", "t"),
        manual_name("b", "k", None, None, "request"),
    ]
    for name in names:
        assert len(name) <= MAX_NAME_LENGTH
        assert len(f"train-{name}") <= 63


def test_etag_normalisation():
    assert normalise_etag('"abc"') == "abc"
    assert normalise_etag("") is None
    assert normalise_etag(None) is None
