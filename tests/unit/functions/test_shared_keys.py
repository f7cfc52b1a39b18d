"""The one parser of S3 URIs and the one parser of snapshot keys (the Lambdas and the local cloud share them)."""

import pytest

from functions.shared.batches import parse_snapshot_key, snapshot_key, snapshot_version
from functions.shared.s3 import S3Location, parse_s3_uri

VERSION = "20261112T101500123456Z-0123456789ab"


def test_an_object_uri_needs_a_bucket_and_a_key():
    assert parse_s3_uri("s3://bucket/a/b.csv") == S3Location("bucket", "a/b.csv")
    for bad in ("s3://bucket", "s3://bucket/", "s3:///key", "https://bucket/key", "", None):
        with pytest.raises(ValueError):
            parse_s3_uri(bad)  # type: ignore[arg-type]


def test_a_prefix_uri_may_name_the_whole_bucket():
    assert parse_s3_uri("s3://bucket/datacapture", prefix=True) == S3Location("bucket", "datacapture")
    assert parse_s3_uri("s3://bucket/", prefix=True) == S3Location("bucket", "")
    assert parse_s3_uri("s3://bucket", prefix=True) == S3Location("bucket", "")
    with pytest.raises(ValueError, match="not an S3 URI"):
        parse_s3_uri("bucket/prefix", prefix=True)


def test_a_snapshot_key_reads_back_as_its_version():
    key = snapshot_key("ai4i2020", VERSION)
    assert key == f"snapshots/ai4i2020/{VERSION}/data.csv"
    assert snapshot_version("ai4i2020", key) == VERSION
    report = f"snapshots/ai4i2020/{VERSION}/validation.json"
    assert parse_snapshot_key("ai4i2020", report) == (VERSION, "validation.json")


@pytest.mark.parametrize(
    "key",
    [
        f"snapshots/other/{VERSION}/data.csv",  # another dataset
        f"snapshots/ai4i2020/{VERSION}/validation.json",  # not the data file
        f"snapshots/ai4i2020/{VERSION}/nested/data.csv",  # not directly in the batch folder
        "snapshots/ai4i2020//data.csv",  # no version
        "snapshots/ai4i2020/data.csv",
        f"uploads/{VERSION}/data.csv",
    ],
)
def test_anything_else_is_not_a_batch(key):
    assert snapshot_version("ai4i2020", key) is None
