"""validate against moto S3: the real AI4I file and damaged copies of it."""

from __future__ import annotations

import hashlib
import json
import re

import boto3
import pytest

from functions.shared.errors import ConfigurationError, DataValidationError, SourceObjectError
from functions.validate.handler import lambda_handler
from functions.validate.logic import ValidateSettings, validate_upload

INCOMING = "mlops-incoming-123456789012"
CURATED = "mlops-curated-123456789012"
QUARANTINE = "mlops-quarantine-123456789012"
KEY = "uploads/ai4i2020.csv"


@pytest.fixture
def s3(aws, monkeypatch, schema_path):
    client = boto3.client("s3")
    for bucket in (INCOMING, CURATED, QUARANTINE):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=INCOMING, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("SCHEMA_PATH", str(schema_path))
    monkeypatch.setenv("CURATED_BUCKET", CURATED)
    monkeypatch.setenv("QUARANTINE_BUCKET", QUARANTINE)
    monkeypatch.setenv("DATASET_NAME", "ai4i2020")
    return client


@pytest.fixture
def good_bytes(dataset_path) -> bytes:
    return dataset_path.read_bytes()


def upload(s3, body: bytes, key: str = KEY) -> dict:
    response = s3.put_object(Bucket=INCOMING, Key=key, Body=body)
    return {
        "reason": "upload",
        "data": {
            "bucket": INCOMING,
            "key": key,
            "versionId": response.get("VersionId"),
            "etag": response["ETag"].strip('"'),
        },
    }


def keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def damaged(good: bytes) -> bytes:
    """A copy of the real file with a type error, an out-of-range value and an unknown category."""
    lines = good.decode().splitlines()
    f = lines[5].split(",")
    f[6], f[2] = "abc", "Z"  # Torque [Nm] not a number, Type not a category
    lines[5] = ",".join(f)
    f = lines[8].split(",")
    f[3] = "999.9"  # Air temperature [K] above 350
    lines[8] = ",".join(f)
    return ("\n".join(lines) + "\n").encode()


def test_good_data_becomes_a_curated_snapshot_with_its_report(s3, good_bytes, lambda_context):
    state = upload(s3, good_bytes)

    result = lambda_handler(state, lambda_context)

    sha = hashlib.sha256(good_bytes).hexdigest()
    # microseconds: batches validated within the same second still sort in validation order
    assert re.fullmatch(rf"\d{{8}}T\d{{12}}Z-{sha[:12]}", result["datasetVersion"])
    prefix = f"snapshots/ai4i2020/{result['datasetVersion']}/"
    assert result == {
        "dataset": "ai4i2020",
        "datasetVersion": result["datasetVersion"],
        "snapshot": {"bucket": CURATED, "key": prefix + "data.csv", "prefixUri": f"s3://{CURATED}/{prefix}"},
        "reportUri": f"s3://{CURATED}/{prefix}validation.json",
        "rows": 10000,
        "positives": 339,
        "sha256": sha,
        "origin": "upload",
    }
    assert s3.get_object(Bucket=CURATED, Key=prefix + "data.csv")["Body"].read() == good_bytes
    report = json.loads(s3.get_object(Bucket=CURATED, Key=prefix + "validation.json")["Body"].read())
    assert report["valid"] is True and report["failures"] == []
    assert report["source"]["sha256"] == sha and report["source"]["bytes"] == len(good_bytes)
    assert report["source"]["versionId"] == state["data"]["versionId"]
    assert report["columns"]["Type"]["categoryCounts"] == {"L": 6000, "M": 2997, "H": 1003}
    assert report["origin"] == "upload" and report["timeRange"] is None  # the AI4I schema has no time column
    assert (report["rows"], report["positives"]) == (10000, 339)
    assert keys(s3, QUARANTINE) == []
    assert keys(s3, INCOMING) == [KEY]  # the source is never deleted


def test_the_event_version_is_what_gets_validated_and_copied(s3, good_bytes, lambda_context):
    state = upload(s3, good_bytes)
    s3.put_object(Bucket=INCOMING, Key=KEY, Body=b"garbage that would fail\n")  # a newer version

    result = lambda_handler(state, lambda_context)

    assert result["rows"] == 10000
    assert s3.get_object(Bucket=CURATED, Key=result["snapshot"]["key"])["Body"].read() == good_bytes


def test_bad_data_is_quarantined_byte_for_byte_and_fails_with_a_clear_error(
    s3, good_bytes, lambda_context, read_metrics
):
    bad = damaged(good_bytes)
    state = upload(s3, bad)

    with pytest.raises(DataValidationError) as raised:
        lambda_handler(state, lambda_context)

    message = str(raised.value)
    quarantined = keys(s3, QUARANTINE)
    assert len(quarantined) == 2
    data_key, report_key = sorted(quarantined, key=len)
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z/{KEY}", data_key) and report_key == data_key + ".report.json"
    assert s3.get_object(Bucket=QUARANTINE, Key=data_key)["Body"].read() == bad
    report = json.loads(s3.get_object(Bucket=QUARANTINE, Key=report_key)["Body"].read())
    failed = {(f["check"], f["column"]) for f in report["failures"]}
    assert {("type", "Torque [Nm]"), ("categories", "Type"), ("range", "Air temperature [K]")} <= failed
    assert report["valid"] is False and report["quarantinedObject"] == f"s3://{QUARANTINE}/{data_key}"
    for column, check in [("Torque [Nm]", "type"), ("Type", "categories"), ("Air temperature [K]", "range")]:
        assert f"column {column!r}: {check}" in message
    assert f"s3://{QUARANTINE}/{report_key}" in message
    assert keys(s3, CURATED) == []  # nothing reaches curated
    assert keys(s3, INCOMING) == [KEY]  # nor is the source deleted
    assert [m["name"] for m in read_metrics()] == ["ValidationFailed"]


def test_missing_columns_and_label_balance_are_named(s3, good_bytes, lambda_context):
    lines = good_bytes.decode().splitlines()
    no_failures = [lines[0].replace("Torque [Nm]", "Torque")] + [row for row in lines[1:] if row.split(",")[8] == "0"]
    state = upload(s3, ("\n".join(no_failures) + "\n").encode())

    with pytest.raises(DataValidationError) as raised:
        lambda_handler(state, lambda_context)

    message = str(raised.value)
    assert "dataset: missing_columns" in message and "Torque [Nm]" in message
    assert "dataset: extra_columns" in message
    assert "column 'Machine failure': label_balance" in message


def test_non_utf8_bytes_are_quarantined_not_crashed_on(s3, lambda_context):
    state = upload(s3, "UDI,Type\n1,\u00e9\n".encode("latin-1"))
    with pytest.raises(DataValidationError, match="encoding"):
        lambda_handler(state, lambda_context)
    assert len(keys(s3, QUARANTINE)) == 2


def test_an_object_overwritten_since_its_event_is_not_validated_in_its_place(s3, good_bytes, lambda_context):
    s3.put_bucket_versioning(Bucket=INCOMING, VersioningConfiguration={"Status": "Suspended"})
    state = upload(s3, good_bytes)
    state["data"]["versionId"] = None
    state["data"]["etag"] = "0" * 32  # the event's ETag no longer matches the object

    with pytest.raises(SourceObjectError, match="changed since its upload event"):
        lambda_handler(state, lambda_context)


def test_a_missing_object_is_a_clear_error(s3, lambda_context):
    state = {"reason": "upload", "data": {"bucket": INCOMING, "key": "uploads/gone.csv"}}
    with pytest.raises(SourceObjectError, match="does not exist"):
        lambda_handler(state, lambda_context)


def test_revalidating_a_curated_snapshot_keeps_its_version(s3, good_bytes, lambda_context):
    first = lambda_handler(upload(s3, good_bytes), lambda_context)
    state = {"reason": "drift", "data": {"bucket": CURATED, "key": first["snapshot"]["key"]}}

    again = lambda_handler(state, lambda_context)

    assert again["datasetVersion"] == first["datasetVersion"]
    assert again["snapshot"] == first["snapshot"]
    assert again["reportUri"] != first["reportUri"] and "revalidation-" in again["reportUri"]
    assert sum(k.endswith("data.csv") for k in keys(s3, CURATED)) == 1


def test_bad_input_and_configuration(s3, lambda_context, monkeypatch):
    with pytest.raises(ValueError, match=r"data.bucket and data.key"):
        lambda_handler({"reason": "upload"}, lambda_context)
    monkeypatch.delenv("QUARANTINE_BUCKET")
    with pytest.raises(ConfigurationError, match="QUARANTINE_BUCKET"):
        lambda_handler({"reason": "upload", "data": {"bucket": INCOMING, "key": KEY}}, lambda_context)


def test_a_ground_truth_batch_without_id_and_leak_columns_records_its_origin_and_time_range(
    s3, good_bytes, tmp_path, schema_path
):
    """What the groundtruth function does: validate_upload on a feedback file, origin ground_truth."""
    raw = json.loads(schema_path.read_text())
    raw["columns"].append({"name": "ts", "type": "string", "role": "time"})
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(raw))
    settings = ValidateSettings(str(schema_file), CURATED, QUARANTINE, "ai4i2020")
    lines = good_bytes.decode().splitlines()
    keep = [2, 3, 4, 5, 6, 7, 8]  # features and the target only, as the feedback file is written
    body = [",".join([*(lines[0].split(",")[i] for i in keep), "ts"])]
    for n, line in enumerate(lines[1:1001]):
        cells = line.split(",")
        body.append(",".join([*(cells[i] for i in keep), f"2026-03-{1 + n % 28:02d}T12:00:00Z"]))

    state = upload(s3, ("\n".join(body) + "\n").encode(), "feedback/a.csv")

    result = validate_upload(state, settings, origin="ground_truth")

    assert result["origin"] == "ground_truth" and result["rows"] == 1000
    report = json.loads(s3.get_object(Bucket=CURATED, Key=result["reportUri"].split("/", 3)[3])["Body"].read())
    assert report["origin"] == "ground_truth"
    assert report["timeRange"] == {"min": "2026-03-01T12:00:00Z", "max": "2026-03-28T12:00:00Z"}
    assert report["header"]["missing"] == [] and "UDI" in report["header"]["absent"]
    assert (report["rows"], report["positives"]) == (result["rows"], result["positives"])

    # the time column is required: the full AI4I file lacks it
    with pytest.raises(DataValidationError, match="missing_columns"):
        validate_upload(upload(s3, good_bytes, "feedback/b.csv"), settings, origin="ground_truth")


def test_versions_sort_in_validation_order_and_the_origin_is_checked(s3, good_bytes):
    settings = ValidateSettings.from_env()
    versions = [
        validate_upload(upload(s3, good_bytes + b"\n" * n, key=f"uploads/{n}.csv"), settings)["datasetVersion"]
        for n in range(3)
    ]
    assert versions == sorted(versions) and len(set(versions)) == 3
    with pytest.raises(ValueError, match="origin"):
        validate_upload(upload(s3, good_bytes), settings, origin="somewhere")
