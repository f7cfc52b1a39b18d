"""validate against moto S3: the real AI4I file and damaged copies of it."""

from __future__ import annotations

import hashlib
import json
import re

import boto3
import pytest

from functions.shared.errors import (
    ConfigurationError,
    DataValidationError,
    SourceObjectError,
    TransientServiceError,
    UnsupportedEventError,
)
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
    # cdk.json's mlops.validation, as CDK sets them: uploads this small never take the map.
    monkeypatch.setenv("VALIDATION_MAP_THRESHOLD_BYTES", str(256 << 20))
    monkeypatch.setenv("VALIDATION_PART_BYTES", str(64 << 20))
    monkeypatch.setenv("VALIDATION_PARTS_PREFIX", "parts/")
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
    # microseconds: two rejected versions of one key within a second keep a report each
    assert re.fullmatch(rf"\d{{8}}T\d{{12}}Z/{KEY}", data_key) and report_key == data_key + ".report.json"
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
    with pytest.raises(UnsupportedEventError, match=r"data.bucket and data.key"):
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


# --- malformed input, unreadable sources, hostile keys, concurrent stamps (issue 18) ----------


@pytest.fixture
def faults(aws):
    """The local cloud's fault injector on this test's moto mock (requests fail as S3 fails them)."""
    from mlops.local.adapters import faults as adapter

    injector = adapter.FaultInjector()
    adapter.install(injector)
    yield injector
    adapter.uninstall(injector)


@pytest.mark.parametrize(
    ("state", "named"),
    [
        ("just a string", "input of type str"),
        ([1, 2], "input of type list"),
        ({"data": "s3://bucket/key"}, "data='s3://bucket/key' (str)"),
        ({"data": {"bucket": 5, "key": KEY}}, "data.bucket must be a non-empty string, got 5 (int)"),
        ({"data": {"bucket": INCOMING, "key": ["uploads/a.csv"]}}, "data.key must be a non-empty string"),
        ({"data": {"bucket": INCOMING, "key": ""}}, "data.key must be a non-empty string"),
        ({"data": {"bucket": INCOMING, "key": KEY, "versionId": 7}}, "data.versionId must be a string or null"),
        ({"data": {"bucket": INCOMING, "key": KEY, "etag": {"x": 1}}}, "data.etag must be a string or null"),
    ],
)
def test_malformed_input_is_a_named_error_not_a_type_error(s3, lambda_context, state, named):
    with pytest.raises(UnsupportedEventError) as raised:
        lambda_handler(state, lambda_context)
    assert named in str(raised.value)
    assert keys(s3, QUARANTINE) == [] and keys(s3, CURATED) == []


def test_a_bucket_that_does_not_exist_is_a_named_error(s3, lambda_context):
    state = {"reason": "manual", "data": {"bucket": "no-such-bucket-anywhere", "key": KEY}}
    with pytest.raises(
        SourceObjectError, match=r"the bucket 'no-such-bucket-anywhere' does not exist \[NoSuchBucket\]"
    ):
        lambda_handler(state, lambda_context)


def test_an_invalid_bucket_name_is_a_named_error(s3, lambda_context):
    state = {"reason": "manual", "data": {"bucket": "Not A Bucket!", "key": KEY}}
    with pytest.raises(SourceObjectError, match="cannot be requested from S3"):
        lambda_handler(state, lambda_context)


def test_access_denied_is_a_named_error(s3, good_bytes, lambda_context, faults):
    state = upload(s3, good_bytes)
    faults.inject("s3", "GetObject", "AccessDenied")
    with pytest.raises(SourceObjectError, match=r"access denied \[AccessDenied\]"):
        lambda_handler(state, lambda_context)
    assert keys(s3, CURATED) == [] and keys(s3, QUARANTINE) == []


def test_throttling_past_the_sdk_retries_is_a_transient_error(s3, good_bytes, lambda_context, faults, monkeypatch):
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda seconds: None)  # the SDK's backoff, not its count
    state = upload(s3, good_bytes)
    fault = faults.inject("s3", "GetObject", "SlowDown", times=6)  # the first attempt and the client's 5 retries

    with pytest.raises(TransientServiceError, match=r"GetObject failed with SlowDown \(HTTP 503\)"):
        lambda_handler(state, lambda_context)
    assert fault.served == 6

    faults.inject("s3", "GetObject", "SlowDown", times=5)  # absorbed by the SDK's own retries
    assert lambda_handler(state, lambda_context)["rows"] == 10000


def test_an_upload_deleted_before_validation_is_not_trained_on(s3, good_bytes, lambda_context):
    state = upload(s3, good_bytes)
    s3.delete_object(Bucket=INCOMING, Key=KEY)  # a delete marker: the version itself still exists

    with pytest.raises(SourceObjectError, match="deleted before it was validated"):
        lambda_handler(state, lambda_context)
    assert keys(s3, CURATED) == [] and keys(s3, QUARANTINE) == []


def test_an_upload_whose_version_was_removed_is_a_named_error(s3, good_bytes, lambda_context):
    state = upload(s3, good_bytes)
    s3.put_object(Bucket=INCOMING, Key=KEY, Body=good_bytes + b"\n")  # a newer version stays current
    s3.delete_object(Bucket=INCOMING, Key=KEY, VersionId=state["data"]["versionId"])

    with pytest.raises(SourceObjectError, match="does not exist"):
        lambda_handler(state, lambda_context)


@pytest.mark.parametrize(
    ("key", "safe"),
    [
        ("uploads/../../etc/passwd.csv", "uploads/%2E%2E/%2E%2E/etc/passwd.csv"),
        ("uploads/./a//b.csv", "uploads/%2E/a/%2F/b.csv"),
        ("uploads/back\\slash%41.csv", "uploads/back%5Cslash%2541.csv"),
        ("uploads/ünïcødé ✓ file.csv", "uploads/ünïcødé ✓ file.csv"),
    ],
)
def test_quarantine_keys_are_path_safe_and_the_report_keeps_the_exact_key(s3, lambda_context, key, safe):
    state = upload(s3, b"not,the,schema\n1,2,3\n", key=key)

    with pytest.raises(DataValidationError):
        lambda_handler(state, lambda_context)

    data_key, report_key = sorted(keys(s3, QUARANTINE), key=len)
    assert data_key.split("/", 1)[1] == safe and ".." not in data_key.split("/")
    report = json.loads(s3.get_object(Bucket=QUARANTINE, Key=report_key)["Body"].read())
    assert report["source"]["key"] == key


def test_a_key_too_long_for_its_quarantine_prefix_is_cut_and_hashed(s3, lambda_context):
    key = "uploads/" + "k" * 1000 + ".csv"  # 1012 bytes: a valid S3 key, too long behind a stamp
    state = upload(s3, b"not,the,schema\n", key=key)

    with pytest.raises(DataValidationError):
        lambda_handler(state, lambda_context)

    data_key, report_key = sorted(keys(s3, QUARANTINE), key=len)
    assert len(report_key.encode()) <= 1024
    assert data_key.endswith("-" + hashlib.sha256(key.encode()).hexdigest()[:12])


def test_runs_meeting_the_same_microsecond_never_overwrite_each_others_reports(s3, good_bytes):
    """Concurrent validations of identical bytes at one instant: every run keeps its own report."""
    from datetime import UTC, datetime

    settings = ValidateSettings.from_env()
    now = datetime(2026, 11, 12, 20, 0, 0, 123456, tzinfo=UTC)
    states = [upload(s3, good_bytes, key=f"uploads/copy-{n}.csv") for n in range(3)]

    results = [validate_upload(state, settings, now) for state in states]

    versions = [r["datasetVersion"] for r in results]
    assert len(set(versions)) == 3 and versions == sorted(versions)
    for state, result in zip(states, results, strict=True):
        report = json.loads(s3.get_object(Bucket=CURATED, Key=result["reportUri"].split("/", 3)[3])["Body"].read())
        assert report["source"]["key"] == state["data"]["key"]  # not the last run's provenance

    # the same for rejected files, and for revalidations of one snapshot
    for _ in range(2):
        with pytest.raises(DataValidationError):
            validate_upload(upload(s3, b"bad\n", key="uploads/bad.csv"), settings, now)
    assert len([k for k in keys(s3, QUARANTINE) if k.endswith(".report.json")]) == 2
    snapshot = {"reason": "drift", "data": {"bucket": CURATED, "key": results[0]["snapshot"]["key"]}}
    again = [validate_upload(snapshot, settings, now)["reportUri"] for _ in range(2)]
    assert len(set(again)) == 2 and all("revalidation-" in uri for uri in again)
