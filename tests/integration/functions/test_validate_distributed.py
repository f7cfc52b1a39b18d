"""The distributed validation's plan, parts and reduce, through the validate handler against moto S3.

The state machine's Distributed Map is exercised end to end in tests/e2e/test_distributed_validation_local.py;
here each action is called as the map would call it, and the reduced report is compared with the
single-function report of the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import boto3
import numpy as np
import pytest

from functions.shared.errors import DataValidationError
from functions.validate.distributed import MANIFEST_SUFFIX
from functions.validate.handler import lambda_handler
from functions.validate.logic import ValidateSettings, validate_upload
from functions.validate.spill import KEY_DTYPE, LocalSpillStore, S3SpillStore, count_repeats, open_store

INCOMING = "mlops-incoming-123456789012"
CURATED = "mlops-curated-123456789012"
QUARANTINE = "mlops-quarantine-123456789012"
ROWS_PER_PART = 200


@pytest.fixture
def s3(aws, monkeypatch, schema_path):
    client = boto3.client("s3")
    for bucket in (INCOMING, CURATED, QUARANTINE):
        client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
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
def lines(dataset_path) -> list[bytes]:
    """The header and the first 600 rows of the real file, each ending in a line break."""
    return [line + b"\n" for line in dataset_path.read_bytes().splitlines()[: 1 + 3 * ROWS_PER_PART]]


def _upload(s3, key: str, body: bytes) -> dict[str, Any]:
    response = s3.put_object(Bucket=INCOMING, Key=key, Body=body)
    return {"reason": "upload", "data": {"bucket": INCOMING, "key": key, "versionId": response["VersionId"]}}


def _run_map(plan: dict[str, Any], context) -> dict[str, Any]:
    """What the state machine does with a plan: every item (in any order), then the reduce."""
    assert plan["mode"] == "map"
    for item in reversed(plan["items"]):  # the map runs its items concurrently: order must not matter
        answer = lambda_handler(
            {"action": "part", "kind": plan["kind"], "runId": plan["runId"], "data": plan["source"], "item": item},
            context,
        )
        assert set(answer) == {"partialUri"}
    return lambda_handler({"action": "reduce", "validation": plan}, context)


def _manifest(s3, parts: list[bytes], name: str) -> dict[str, Any]:
    keys = []
    for index, body in enumerate(parts):
        key = f"parts/{name}/part-{index}.csv"
        s3.put_object(Bucket=INCOMING, Key=key, Body=body)
        keys.append(key)
    return _upload(s3, f"uploads/{name}{MANIFEST_SUFFIX}", json.dumps({"parts": keys}).encode())


def _split(lines: list[bytes]) -> list[bytes]:
    header, rows = lines[0], lines[1:]
    return [header + b"".join(rows[i : i + ROWS_PER_PART]) for i in range(0, len(rows), ROWS_PER_PART)]


def _rounded(value: Any) -> Any:
    """Floats to 10 significant digits: a merged mean is a sum of part sums (last bits may differ)."""
    if isinstance(value, float):
        return float(f"{value:.10g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _result_part(report: dict[str, Any]) -> dict[str, Any]:
    provenance = ("source", "validatedAt", "datasetVersion", "quarantinedObject")
    return _rounded({k: v for k, v in report.items() if k not in provenance})


def _quarantine_reports(s3) -> list[dict[str, Any]]:
    listed = s3.list_objects_v2(Bucket=QUARANTINE).get("Contents", [])
    keys = sorted(o["Key"] for o in listed if o["Key"].endswith(".report.json"))
    return [json.loads(s3.get_object(Bucket=QUARANTINE, Key=k)["Body"].read()) for k in keys]


def test_the_s3_spill_store_reads_back_what_a_part_published(s3, tmp_path):
    from functions.validate.distributed import publish_spill

    local = LocalSpillStore.create(str(tmp_path))
    records = np.zeros(5, dtype=KEY_DTYPE)
    records["h1"], records["h2"], records["line"] = [1, 2, 1, 3, 2], [7, 8, 7, 9, 8], [2, 3, 4, 5, 6]
    local.append("rows/p0001.keys", records.tobytes())
    uri = publish_spill(local.uri, CURATED, "validation/run/parts/00000/keys")
    local.remove()

    store = open_store(uri)
    assert isinstance(store, S3SpillStore)
    assert store.size("rows/p0001.keys") == records.nbytes
    assert store.size("rows/p0002.keys") == 0  # never written: no request that would 404
    itemsize = KEY_DTYPE.itemsize
    assert store.read("rows/p0001.keys", itemsize, itemsize) == records[1:2].tobytes()
    assert store.read("rows/p0001.keys") == records.tobytes()
    assert store.read("rows/p0001.keys", records.nbytes) == b""
    with pytest.raises(PermissionError):
        store.append("rows/p0001.keys", b"x")
    store.remove()
    assert not s3.list_objects_v2(Bucket=CURATED, Prefix="validation/run/").get("KeyCount")


def test_count_repeats_reads_partitions_from_s3_across_parts(s3, tmp_path):
    from functions.validate.columnar import Limits, validate_part
    from functions.validate.distributed import publish_spill
    from pipelines.schema import load_schema

    schema = load_schema(__import__("os").environ["SCHEMA_PATH"])
    header = ",".join(schema.column_names)
    row = "1,M14860,M,298.1,308.6,1551,42.8,0,0,0,0,0,0,0"
    other = "2,L47181,L,298.2,308.7,1408,46.3,3,0,0,0,0,0,0"
    limits = Limits(spill_dir=str(tmp_path))
    first = validate_part([header + "\n", row + "\n", other + "\n"], schema, limits=limits, spill_all=True)
    second = validate_part(
        [row + "\n"], schema, first_line=None, with_header=False, header=first.header, limits=limits, spill_all=True
    )
    refs = []
    for index, part in enumerate((first, second)):
        assert part.spill
        uri = publish_spill(part.spill, CURATED, f"validation/r/parts/{index:05d}/keys")
        refs.append((part.keysets["rows"], uri))
    parts = [(ref, base) for (ref, _), base in zip(refs, (0, 3), strict=True)]
    for (ref, uri), _ in zip(refs, parts, strict=True):
        ref.store = uri
    repeats = count_repeats(parts, keep=5, scratch_dir=str(tmp_path))
    assert (repeats.count, repeats.lines) == (1, [4])  # the second part's row 1 is line 4 of the file


def test_a_manifest_upload_is_planned_as_a_map_of_its_parts(s3, lines, lambda_context):
    state = _manifest(s3, _split(lines), "plan")

    plan = lambda_handler(state, lambda_context)

    assert plan["mode"] == "map" and plan["kind"] == "manifest"
    assert [item["key"] for item in plan["items"]] == [f"parts/plan/part-{i}.csv" for i in range(3)]
    assert plan["source"]["versionId"] == state["data"]["versionId"]


def test_a_small_plain_upload_is_validated_at_once_as_before(s3, lines, lambda_context, monkeypatch):
    monkeypatch.setenv("VALIDATION_MAP_THRESHOLD_BYTES", str(10**9))
    answer = lambda_handler(_upload(s3, "uploads/small.csv", b"".join(lines)), lambda_context)
    assert "mode" not in answer and answer["rows"] == 3 * ROWS_PER_PART


def test_a_valid_manifest_upload_becomes_one_batch_of_the_parts_concatenated(s3, lines, lambda_context):
    plan = lambda_handler(_manifest(s3, _split(lines), "good"), lambda_context)

    answer = _run_map(plan, lambda_context)

    assert answer["rows"] == 3 * ROWS_PER_PART and answer["mode"] == "map"
    data = s3.get_object(Bucket=CURATED, Key=answer["snapshot"]["key"])["Body"].read()
    assert data == b"".join(lines)  # one data.csv, the header once
    report = json.loads(
        s3.get_object(Bucket=CURATED, Key=answer["snapshot"]["key"].replace("data.csv", "validation.json"))[
            "Body"
        ].read()
    )
    assert [p["firstLine"] for p in report["source"]["parts"]] == [1, 202, 402]  # where each part's rows begin
    # the same bytes uploaded as one file give the same report
    single = validate_upload(_upload(s3, "uploads/same.csv", data), ValidateSettings.from_env())
    single_report = json.loads(
        s3.get_object(Bucket=CURATED, Key=single["snapshot"]["key"].replace("data.csv", "validation.json"))[
            "Body"
        ].read()
    )
    assert _result_part(report) == _result_part(single_report)
    assert not s3.list_objects_v2(Bucket=CURATED, Prefix=f"validation/{plan['runId']}/parts/00000/keys/").get(
        "KeyCount"
    )


def test_a_row_repeated_across_parts_is_reported_at_its_line_of_the_concatenation(s3, lines, lambda_context):
    parts = _split(lines)
    repeated = lines[11]  # row 10 of the first part (line 12)
    parts[2] = parts[2][: parts[2].rstrip(b"\n").rfind(b"\n") + 1] + repeated  # replaces the last row
    plan = lambda_handler(_manifest(s3, parts, "dup"), lambda_context)

    with pytest.raises(DataValidationError, match="UDI"):
        _run_map(plan, lambda_context)

    [report] = _quarantine_reports(s3)
    [unique] = [f for f in report["failures"] if f["check"] == "unique"]
    assert unique["lines"] == [601] and unique["count"] == 1
    assert report["duplicateRows"] == 1
    concatenated = b"".join(lines[:-1]) + repeated
    with pytest.raises(DataValidationError):
        validate_upload(_upload(s3, "uploads/dup-single.csv", concatenated), ValidateSettings.from_env())
    single = [r for r in _quarantine_reports(s3) if r["source"]["key"] == "uploads/dup-single.csv"]
    assert _result_part(report) == _result_part(single[0])


def test_a_part_with_another_header_fails_the_manifest(s3, lines, lambda_context):
    parts = _split(lines)
    parts[1] = b"UDI,Other\n" + parts[1].split(b"\n", 1)[1]
    plan = lambda_handler(_manifest(s3, parts, "hdr"), lambda_context)
    with pytest.raises(DataValidationError, match="part_header"):
        _run_map(plan, lambda_context)


def test_a_manifest_naming_keys_outside_the_parts_prefix_is_quarantined(s3, lambda_context):
    state = _upload(s3, f"uploads/bad{MANIFEST_SUFFIX}", json.dumps({"parts": ["uploads/x.csv"]}).encode())
    with pytest.raises(DataValidationError, match="manifest"):
        lambda_handler(state, lambda_context)
    [report] = _quarantine_reports(s3)
    assert report["failures"][0]["check"] == "manifest"


@pytest.mark.parametrize("part_bytes", [2500, 50_000])
def test_a_large_upload_is_validated_over_byte_ranges_like_one_file(s3, lines, lambda_context, monkeypatch, part_bytes):
    monkeypatch.setenv("VALIDATION_MAP_THRESHOLD_BYTES", "1000")
    monkeypatch.setenv("VALIDATION_PART_BYTES", str(part_bytes))
    body = b"".join(lines[:-1]) + lines[3]  # the last row repeats row 2 (line 4)
    plan = lambda_handler(_upload(s3, "uploads/big.csv", body), lambda_context)
    assert plan["kind"] == "ranges" and len(plan["items"]) == -(-len(body) // part_bytes)

    with pytest.raises(DataValidationError):
        _run_map(plan, lambda_context)
    [report] = _quarantine_reports(s3)
    [unique] = [f for f in report["failures"] if f["check"] == "unique"]
    assert unique["lines"] == [601]
    assert sum(p["bytes"] for p in report["source"]["parts"]) == len(body)

    monkeypatch.setenv("VALIDATION_MAP_THRESHOLD_BYTES", str(10**9))
    with pytest.raises(DataValidationError):
        lambda_handler(_upload(s3, "uploads/big-single.csv", body), lambda_context)
    single = [r for r in _quarantine_reports(s3) if r["source"]["key"] == "uploads/big-single.csv"]
    assert _result_part(report) == _result_part(single[0])


def test_a_valid_large_upload_is_snapshotted_byte_for_byte(s3, lines, lambda_context, monkeypatch):
    monkeypatch.setenv("VALIDATION_MAP_THRESHOLD_BYTES", "1000")
    monkeypatch.setenv("VALIDATION_PART_BYTES", "3000")
    body = b"".join(lines)
    answer = _run_map(lambda_handler(_upload(s3, "uploads/big-good.csv", body), lambda_context), lambda_context)
    assert answer["rows"] == 3 * ROWS_PER_PART
    assert s3.get_object(Bucket=CURATED, Key=answer["snapshot"]["key"])["Body"].read() == body


def test_a_quoted_line_break_refuses_byte_ranges(s3, lines, lambda_context, monkeypatch):
    monkeypatch.setenv("VALIDATION_MAP_THRESHOLD_BYTES", "1000")
    monkeypatch.setenv("VALIDATION_PART_BYTES", "5000")
    fields = lines[50].decode().rstrip("\n").split(",")
    fields[1] = '"M1\n4860"'
    body = b"".join(lines[:50]) + (",".join(fields) + "\n").encode() + b"".join(lines[51:])
    with pytest.raises(DataValidationError, match="byte_range_quoting"):
        _run_map(lambda_handler(_upload(s3, "uploads/quoted.csv", body), lambda_context), lambda_context)


def test_an_object_named_by_its_etag_is_planned_on_that_etag(s3, lines, lambda_context, monkeypatch):
    """Without a version id (a curated snapshot revalidated), the ETag pins it, with or without quotes."""
    from functions.shared.errors import SourceObjectError

    monkeypatch.setenv("VALIDATION_MAP_THRESHOLD_BYTES", "1000")
    etag = s3.put_object(Bucket=INCOMING, Key="uploads/by-etag.csv", Body=b"".join(lines))["ETag"]
    for named in (etag, etag.strip('"')):
        plan = lambda_handler(
            {"data": {"bucket": INCOMING, "key": "uploads/by-etag.csv", "etag": named}}, lambda_context
        )
        assert plan["mode"] == "map" and plan["source"]["etag"] == etag
    with pytest.raises(SourceObjectError, match="changed since its upload event"):
        lambda_handler({"data": {"bucket": INCOMING, "key": "uploads/by-etag.csv", "etag": "0" * 32}}, lambda_context)
