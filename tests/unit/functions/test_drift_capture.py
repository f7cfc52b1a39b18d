"""Parsing SageMaker data-capture lines into feature columns and predictions."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from functions.drift.capture import CaptureWindow, decode_payload, parse_inputs, parse_outputs
from pipelines.schema import load_schema

SCHEMA = load_schema(Path(__file__).resolve().parents[3] / "schemas" / "ai4i2020.schema.json")
NAMES = list(SCHEMA.feature_names)  # Type, Air temperature, Process temperature, rpm, Torque, Tool wear
ROW1 = ["M", "298.1", "308.6", "1551", "42.8", "0"]
ROW2 = ["L", "298.2", "308.7", "1408", "46.3", "3"]


def capture_line(
    data: str, content_type: str, encoding: str, output: str | None = None, output_type: str = "application/json"
) -> str:
    capture = {
        "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding}
    }
    if output is not None:
        capture["endpointOutput"] = {
            "observedContentType": output_type,
            "mode": "OUTPUT",
            "data": output,
            "encoding": "JSON" if output_type == "application/json" else "CSV",
        }
    return json.dumps(
        {
            "captureData": capture,
            "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-12T17:00:00Z"},
            "eventVersion": "0",
        }
    )


def test_feature_names_are_the_schema_features_in_file_order():
    assert NAMES == [
        "Type",
        "Air temperature [K]",
        "Process temperature [K]",
        "Rotational speed [rpm]",
        "Torque [Nm]",
        "Tool wear [min]",
    ]


def test_headerless_csv_with_many_rows_per_request():
    rows = parse_inputs("text/csv", "\n".join(",".join(r) for r in (ROW1, ROW2)), SCHEMA.features)
    assert rows == [ROW1, ROW2]


def test_csv_with_a_header_in_any_order_and_extra_columns():
    header = ["UDI", *NAMES[::-1]]
    body = "\n".join([",".join(header), ",".join(["1", *ROW1[::-1]])])
    assert parse_inputs("text/csv", body, SCHEMA.features) == [ROW1]


def test_json_instances_as_objects_or_arrays():
    objects = {"instances": [dict(zip(NAMES, ROW1, strict=True)), {"Type": "L", "Torque [Nm]": 46.3}]}
    rows = parse_inputs("application/json", json.dumps(objects), SCHEMA.features)
    assert rows[0] == ROW1
    assert rows[1] == ["L", None, None, None, 46.3, None]  # absent features are missing values
    assert parse_inputs("application/json", json.dumps([ROW2]), SCHEMA.features) == [ROW2]


def test_base64_payloads_are_decoded_and_typed_by_their_content_type():
    data = base64.b64encode(",".join(ROW1).encode()).decode()
    media, text = decode_payload({"observedContentType": "text/csv; charset=utf-8", "data": data, "encoding": "BASE64"})
    assert media == "text/csv" and text == ",".join(ROW1)
    with pytest.raises(ValueError, match="BASE64"):
        decode_payload({"observedContentType": "text/csv", "data": "not base64!", "encoding": "BASE64"})


def test_outputs_json_and_csv():
    assert parse_outputs("application/json", '{"predictions": [{"probability": 0.1, "label": 0}]}') == [0.1]
    assert parse_outputs("text/csv", "0.25\n0.75\n") == [0.25, 0.75]


def test_a_window_types_values_and_skips_bad_requests():
    window = CaptureWindow(SCHEMA.features)
    window.add_lines(
        [
            capture_line(
                "\n".join(",".join(r) for r in (ROW1, ROW2)),
                "text/csv",
                "CSV",
                json.dumps({"predictions": [{"probability": 0.2}, {"probability": 0.9}]}),
            ),
            "",  # blank lines are not records
            "{not json",
            capture_line("1,2,3", "text/csv", "CSV"),  # wrong width: skipped as a whole
            capture_line(
                json.dumps({"instances": [dict(zip(NAMES, ROW1, strict=True))]}),
                "application/json",
                "JSON",
                "0.3\n",
                "text/csv",
            ),
            capture_line("M,abc,308.6,1551,42.8,0", "text/csv", "CSV"),  # a bad number is a missing value
        ],
        "variant/2026/11/12/17/file.jsonl",
    )
    assert window.requests == 3 and window.rows == 4
    assert window.skipped == 2 and len(window.problems) == 2
    assert window.problems[0].startswith("variant/2026/11/12/17/file.jsonl:3: JSONDecodeError")
    assert window.columns["Torque [Nm]"] == [42.8, 46.3, 42.8, 42.8]
    assert window.columns["Air temperature [K]"][-1] is None
    assert window.columns["Type"] == ["M", "L", "M", "M"]
    assert window.predictions == [0.2, 0.9, 0.3]
    assert window.unmatched_predictions == 1  # the last request had no output
