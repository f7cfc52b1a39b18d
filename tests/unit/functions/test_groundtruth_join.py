"""The groundtruth function's pure parts: label files, the capture index, the join, the batch CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from functions.groundtruth.capture import CaptureIndex, parse_predictions, request_ids, row_ids
from functions.groundtruth.join import feedback_csv, join_labels, score, time_value
from functions.groundtruth.labels import Label, LabelFileError, parse_labels
from functions.validate.checks import validate_csv
from pipelines.schema import load_schema, parse_schema

ROOT = Path(__file__).resolve().parents[3]
RAW_SCHEMA = json.loads((ROOT / "schemas" / "ai4i2020.schema.json").read_text())
SCHEMA = load_schema(ROOT / "schemas" / "ai4i2020.schema.json")
TARGET = SCHEMA.target_column
ROW1 = ["M", "298.1", "308.6", "1551", "42.8", "0"]
ROW2 = ["L", "298.2", "308.7", "1408", "46.3", "3"]
ROW3 = ["H", "298.3", "308.8", "1500", "40.0", "7"]


def schema_with_time(time_type: str = "string"):
    raw = json.loads(json.dumps(RAW_SCHEMA))
    raw["columns"].insert(2, {"name": "ts", "type": time_type, "role": "time"})
    raw["quality"]["minRows"] = 1
    return parse_schema(raw)


def capture_line(
    rows: list[list[str]],
    inference_id: str | None,
    output: str | None = None,
    output_type: str = "application/json",
    inference_time: str = "2026-11-12T17:00:00.250Z",
) -> str:
    """One capture record as the local endpoint (and SageMaker) writes it."""
    capture = {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": "\n".join(",".join(r) for r in rows) + "\n",
            "encoding": "CSV",
        }
    }
    if output is not None:
        capture["endpointOutput"] = {
            "observedContentType": output_type,
            "mode": "OUTPUT",
            "data": output,
            "encoding": "JSON" if output_type == "application/json" else "CSV",
        }
    metadata = {"eventId": "e"}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = inference_time
    return json.dumps({"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"})


def json_output(*pairs: tuple[float, int]) -> str:
    return json.dumps({"predictions": [{"probability": p, "label": label} for p, label in pairs]})


# -- label files --------------------------------------------------------------------------------


def test_labels_first_wins_duplicates_and_invalid_are_counted_with_examples():
    text = "inferenceId,label\na,1\nb,0\na,0\nc,2\nd,x\n,1\ne,\n\nf,1.0\n"
    labels = parse_labels(text.encode(), TARGET)
    assert {k: v.value for k, v in labels.labels.items()} == {"a": 1, "b": 0, "f": 1}
    assert labels.rows == 8  # the blank line is skipped
    assert labels.duplicates.count == 1
    assert labels.duplicates.examples == [{"line": 4, "inferenceId": "a", "label": "0", "firstLine": 2}]
    assert labels.invalid.count == 4
    reasons = {e["inferenceId"]: e["reason"] for e in labels.invalid.examples}
    assert "categories" in reasons["c"] and "not an integer" in reasons["d"]
    assert reasons[""] == "empty inferenceId" and reasons["e"] == "empty label"


def test_a_header_with_a_bom_spaces_any_order_and_extra_columns_is_accepted():
    labels = parse_labels("\ufefflabel , inferenceId,comment\n1,a,checked\n".encode(), TARGET)
    assert labels.labels["a"].value == 1 and labels.ignored_columns == ["comment"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"id,label\na,1\n", "lacks \\['inferenceId'\\]"),
        (b"inferenceId,label,label\na,1,1\n", "repeats"),
        ("inferenceId,label\na,\u00e9\n".encode("latin-1"), "not UTF-8"),
        (b'inferenceId,label\na,"1\n', "cannot be parsed as CSV"),
    ],
)
def test_a_file_that_is_not_a_label_file_is_rejected_with_a_clear_message(data, message):
    with pytest.raises(LabelFileError, match=message):
        parse_labels(data, TARGET)


def test_label_times_are_checked_only_when_the_schema_has_a_time_column():
    text = b"inferenceId,label,time\na,1,2026-03-01T10:00:00Z\nb,0,yesterday\nc,1,1772359200\nd,0,\n"
    assert set(parse_labels(text, TARGET).labels) == {"a", "b", "c", "d"}  # no time column: ignored
    timed = schema_with_time()
    labels = parse_labels(text, TARGET, timed.time_column)
    assert set(labels.labels) == {"a", "c", "d"}
    assert "not an ISO-8601 timestamp" in labels.invalid.examples[0]["reason"]
    assert labels.labels["c"].time_is_number and labels.labels["c"].moment is not None
    assert labels.labels["d"].time is None


# -- the capture index ----------------------------------------------------------------------------


def test_row_ids_and_the_requests_a_label_may_name():
    assert row_ids("r", 1) == ["r"]
    assert row_ids("r", 3) == ["r:0", "r:1", "r:2"]
    assert request_ids(["r:2", "s", "t:x", "u:"]) == {"r:2", "r", "s", "t:x", "u:"}


def test_multi_row_requests_single_rows_and_unidentified_requests():
    index = CaptureIndex(SCHEMA.features)
    index.add_lines(
        [
            capture_line([ROW1, ROW2], "multi", json_output((0.9, 1), (0.2, 0))),
            capture_line([ROW3], "single", "0.7\n", output_type="text/csv"),
            capture_line([ROW1], None, json_output((0.1, 0))),
            "",
            "{not json",
            capture_line([ROW1], "multi:0", json_output((0.5, 1))),  # a second row claiming id multi:0
        ],
        "v/2026/11/12/17/a.jsonl",
    )
    assert sorted(index.rows) == ["multi:0", "multi:1", "single"]
    first = index.rows["multi:0"]
    assert (first.features, first.probability, first.predicted) == (tuple(ROW1), 0.9, 1)
    assert index.rows["multi:1"].predicted == 0
    single = index.rows["single"]
    assert single.probability == 0.7 and single.predicted is None  # a CSV response has no label
    assert single.inference_time == "2026-11-12T17:00:00.250Z" and single.source == "v/2026/11/12/17/a.jsonl:2"
    assert (index.requests, index.unidentified, index.duplicate_ids, index.skipped) == (3, 1, 1, 1)
    assert index.problems[0].startswith("v/2026/11/12/17/a.jsonl:5: JSONDecodeError")


def test_only_wanted_requests_are_decoded_and_missing_outputs_keep_the_rows():
    index = CaptureIndex(SCHEMA.features, wanted=request_ids(["keep:1", "alone"]))
    index.add_record(capture_line([ROW1, ROW2], "keep", json_output((0.3, 0))), "x:1")  # 1 prediction, 2 rows
    index.add_record(capture_line([ROW1], "skip", json_output((0.3, 0))), "x:2")
    index.add_record(capture_line([ROW3], "alone"), "x:3", fallback_time="2026-01-01T00:00:00Z")
    assert sorted(index.rows) == ["alone", "keep:0", "keep:1"]
    assert index.rows["keep:1"].probability is None and index.unmatched_predictions == 1
    assert index.rows["alone"].probability is None and index.requests == 2


def test_parse_predictions_reads_labels_from_json_only():
    assert parse_predictions("application/json", json_output((0.8, 1), (0.1, 0))) == [(0.8, 1), (0.1, 0)]
    assert parse_predictions("application/json", '{"predictions": [0.4, {"probability": 0.6, "label": 7}]}') == [
        (0.4, None),
        (0.6, None),
    ]
    assert parse_predictions("text/csv", "0.4\n0.6\n") == [(0.4, None), (0.6, None)]


# -- join, score, batch ---------------------------------------------------------------------------


def indexed(*lines: str) -> CaptureIndex:
    index = CaptureIndex(SCHEMA.features)
    index.add_lines(list(lines), "k")
    return index


def test_join_keeps_label_order_and_reports_unknown_ids():
    index = indexed(
        capture_line([ROW1, ROW2], "m", json_output((0.9, 1), (0.2, 0))),
        capture_line([ROW3], "s", "0.7\n", output_type="text/csv"),
    )
    labels = parse_labels(b"inferenceId,label\ns,1\nm:1,0\nm,1\nnope,1\nm:0,0\n", TARGET)
    result = join_labels(labels, index)
    assert [r.label.inference_id for r in result.joined] == ["s", "m:1", "m:0"]
    assert result.unknown.count == 2  # "m" names a two-row request's rows, not the request
    assert [e["inferenceId"] for e in result.unknown.examples] == ["m", "nope"]

    quality = score(result.joined, SCHEMA, threshold=0.75)
    # s: p=0.7 < 0.75 -> predicted 0 though labelled 1; m:1 predicted 0 (label 0); m:0 predicted 1 (label 0)
    assert quality["labelledRecords"] == 3 and quality["predictedByThreshold"] == 1
    assert quality["accuracy"] == pytest.approx(1 / 3)
    assert quality["rocAuc"] == pytest.approx(0.5)  # positive s (0.7) ranks between m:0 (0.9) and m:1 (0.2)
    assert quality["labelPositiveRate"] == pytest.approx(1 / 3)
    assert score(result.joined, SCHEMA, threshold=0.5)["accuracy"] == pytest.approx(2 / 3)


def test_rows_without_a_captured_response_are_not_scored_but_are_batched():
    index = indexed(capture_line([ROW1], "a"), capture_line([ROW2], "b", json_output((0.4, 0))))
    labels = parse_labels(b"inferenceId,label\na,1\nb,0\n", TARGET)
    joined = join_labels(labels, index).joined
    quality = score(joined, SCHEMA, 0.5)
    assert quality["labelledRecords"] == 1 and quality["withoutPrediction"] == 1
    assert len(list(csv.reader(io.StringIO(feedback_csv(joined, SCHEMA).decode())))) == 3


def test_the_batch_has_the_schema_columns_without_ids_and_leaks_and_validates():
    index = indexed(capture_line([ROW1, ROW2], "m", json_output((0.9, 1), (0.2, 0))))
    joined = join_labels(parse_labels(b"inferenceId,label\nm:0,1\nm:1,0\n", TARGET), index).joined
    body = feedback_csv(joined, SCHEMA).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == [*SCHEMA.feature_names, "Machine failure"]
    assert rows[1:] == [[*ROW1, "1"], [*ROW2, "0"]]
    result = validate_csv(io.StringIO(body, newline=""), SCHEMA)
    assert [f.check for f in result.failures] == ["min_rows"]  # two rows; every column check passes


def test_the_time_column_comes_from_the_label_or_else_the_capture():
    timed = schema_with_time("string")
    index = indexed(
        capture_line([ROW1], "a", json_output((0.9, 1)), inference_time="2026-11-12T17:00:00.250Z"),
        capture_line([ROW2], "b", json_output((0.1, 0)), inference_time="2026-11-12T18:00:00.000Z"),
    )
    labels = parse_labels(b"inferenceId,label,time\na,1,2026-11-13T09:30:00+01:00\nb,0,\n", TARGET, timed.time_column)
    body = feedback_csv(join_labels(labels, index).joined, timed).decode()
    rows = list(csv.reader(io.StringIO(body)))
    # schema order (ts follows UDI and Product ID, which are left out), the time column included
    assert rows[0][:3] == ["ts", "Type", "Air temperature [K]"]
    assert [r[0] for r in rows[1:]] == ["2026-11-13T09:30:00+01:00", "2026-11-12T18:00:00.000Z"]
    assert validate_csv(io.StringIO(body, newline=""), timed).time_range == {
        "min": "2026-11-12T18:00:00.000Z",
        "max": "2026-11-13T09:30:00+01:00",
    }


def test_numeric_time_columns_get_epoch_seconds():
    column = schema_with_time("integer").time_column
    float_column = schema_with_time("float").time_column
    no_time = Label("a", 1, 2)
    assert time_value(column, no_time, "2026-11-12T17:00:00.250Z") == "1794502800"
    assert time_value(float_column, no_time, "2026-11-12T17:00:00.250Z") == "1794502800.25"
    number = parse_labels(b"inferenceId,label,time\na,1,1794500000\n", TARGET, column).labels["a"]
    assert time_value(column, number, "2026-11-12T17:00:00Z") == "1794500000"  # as the client wrote it
    iso = parse_labels(b"inferenceId,label,time\na,1,2026-11-12T16:00:00Z\n", TARGET, column).labels["a"]
    assert time_value(column, iso, None) == "1794499200"
    string_column = schema_with_time("string").time_column
    epoch = parse_labels(b"inferenceId,label,time\na,1,1794499200\n", TARGET, string_column).labels["a"]
    assert time_value(string_column, epoch, None) == "2026-11-12T16:00:00.000Z"
    assert time_value(string_column, no_time, None) == ""  # nothing known: the validator rejects it
