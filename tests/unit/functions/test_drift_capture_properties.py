"""Property-based tests of capture parsing: any JSON Lines garbage is counted, never fatal.

One bad client must not blind the drift monitor to everyone else's traffic: whatever a capture
file holds (broken JSON, wrong shapes, hostile payloads, invalid UTF-8, deep nesting), each
non-blank line is either one accepted request or one skipped line, the columns stay aligned, and
a window built line by line equals the window built from all lines at once.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.drift.capture import CaptureWindow
from pipelines.drift.stats import category_key
from pipelines.schema import load_schema

SCHEMA = load_schema(Path(__file__).resolve().parents[3] / "schemas" / "ai4i2020.schema.json")
FEATURES = SCHEMA.features
NAMES = [c.name for c in FEATURES]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
cells = st.one_of(
    st.sampled_from(["L", "M", "H", "", "NaN", "inf", "-1e309", "1e308", "298.1", "1551", "x", '"', "\r"]),
    st.text(max_size=6),
    st.floats().map(repr),
    st.integers().map(str),
)


@st.composite
def csv_payloads(draw: Any) -> str:
    width = draw(st.sampled_from([len(NAMES), len(NAMES) - 1, len(NAMES) + 1, 1]))
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=4))
    lines = [",".join(row) for row in rows]
    if draw(st.booleans()):
        lines.insert(0, ",".join(draw(st.permutations(NAMES))))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


@st.composite
def json_payloads(draw: Any) -> str:
    instance = st.one_of(
        st.dictionaries(st.sampled_from([*NAMES, "other"]), json_values, max_size=len(NAMES) + 1),
        st.lists(json_values, min_size=len(NAMES), max_size=len(NAMES)),
        json_values,
    )
    instances = draw(st.lists(instance, max_size=4))
    shape = draw(st.sampled_from(["instances", "list", "other"]))
    payload: Any = (
        {"instances": instances} if shape == "instances" else instances if shape == "list" else draw(json_values)
    )
    return json.dumps(payload, allow_nan=True)


@st.composite
def outputs(draw: Any) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["json", "csv", "garbage", "none"]))
    probabilities = draw(st.lists(st.floats() | st.integers() | st.text(max_size=4), max_size=5))
    if kind == "none":
        return None
    if kind == "json":
        data = json.dumps(
            {"predictions": [{"probability": p} if draw(st.booleans()) else p for p in probabilities]}, allow_nan=True
        )
        return {"observedContentType": "application/json", "encoding": "JSON", "data": data}
    if kind == "csv":
        return {"observedContentType": "text/csv", "encoding": "CSV", "data": "\n".join(map(str, probabilities))}
    return draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3))


@st.composite
def capture_lines(draw: Any) -> str | bytes:
    kind = draw(st.sampled_from(["capture", "capture", "capture", "truncated", "json", "text", "bytes", "base64"]))
    if kind == "json":
        return json.dumps(draw(json_values), allow_nan=True)
    if kind == "text":
        return draw(st.text(max_size=40))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    media = draw(st.sampled_from(["text/csv", "application/json", "text/csv; charset=utf-8", "", "image/png"]))
    data = draw(csv_payloads()) if "csv" in media or not media else draw(json_payloads())
    encoding = draw(st.sampled_from(["CSV", "JSON", "BASE64", "base64", "ZIP"]))
    if encoding.upper() == "BASE64":
        data = base64.b64encode(data.encode("utf-8")).decode() if draw(st.booleans()) else draw(st.text(max_size=12))
    record: dict[str, Any] = {
        "captureData": {
            "endpointInput": {"observedContentType": media, "mode": "INPUT", "data": data, "encoding": encoding}
        }
    }
    output = draw(outputs())
    if output is not None:
        record["captureData"]["endpointOutput"] = output
    if draw(st.integers(0, 9)) == 0:
        record = draw(st.sampled_from([{"captureData": draw(json_values)}, {"other": record}, record["captureData"]]))
    line = json.dumps(record, allow_nan=True)
    if kind == "truncated":
        return line[: draw(st.integers(0, max(0, len(line) - 1)))]
    return line


def _non_blank(lines: list[str | bytes]) -> int:
    return sum(1 for line in lines if (line.decode("utf-8", "replace") if isinstance(line, bytes) else line).strip())


def _window(lines: list[str | bytes]) -> CaptureWindow:
    window = CaptureWindow(FEATURES)
    window.add_lines(lines, "capture.jsonl")
    return window


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(capture_lines(), max_size=12))
def test_any_lines_are_counted_never_fatal_and_the_columns_stay_aligned(lines):
    window = _window(lines)

    assert window.requests + window.skipped == _non_blank(lines)
    assert len(window.problems) == min(window.skipped, 10)
    columns = window.columns
    assert set(columns) == set(NAMES)
    assert {len(values) for values in columns.values()} == {window.rows}
    for column in FEATURES:
        for value in columns[column.name]:
            if column.is_numeric:
                assert value is None or (isinstance(value, float) and math.isfinite(value))
            else:  # JSON scalars as they came (nested values as JSON text), compared by their text
                assert value is None or isinstance(value, str | int | float | bool)
                category_key(value)
    assert all(p == p for p in window.predictions)  # NaN predictions are dropped


@settings(max_examples=150, deadline=None)
@given(st.lists(capture_lines(), max_size=8))
def test_a_window_is_the_sum_of_its_lines(lines):
    """No state leaks between lines: counting them one by one gives the same window."""
    whole = _window(lines)
    parts = [_window([line]) for line in lines]

    assert whole.requests == sum(p.requests for p in parts)
    assert whole.skipped == sum(p.skipped for p in parts)
    assert whole.rows == sum(p.rows for p in parts)
    assert whole.unmatched_predictions == sum(p.unmatched_predictions for p in parts)
    assert len(whole.predictions) == sum(len(p.predictions) for p in parts)
    for name in NAMES:
        joined = [value for p in parts for value in p.columns[name]]
        assert whole.columns[name] == joined or _same_with_nan(whole.columns[name], joined)


def _same_with_nan(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))


def test_a_bare_carriage_return_in_a_csv_payload_is_skipped_not_fatal():
    """Found by the property above: csv.reader raises csv.Error (not a ValueError) on it."""
    line = {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "L,1\r,2", "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "text/csv", "encoding": "CSV", "data": "\r0"},
        }
    }
    window = _window([json.dumps(line)])
    assert (window.requests, window.skipped) == (0, 1)


def test_deeply_nested_json_from_a_client_is_skipped_not_fatal():
    """A hostile request body nested past Python's recursion limit, as a capture line or as the
    JSON payload inside one, is one skipped line like any other unreadable request."""
    deep = "[" * 100_000 + "]" * 100_000
    payload = {"observedContentType": "application/json", "mode": "INPUT", "data": deep, "encoding": "JSON"}
    inner = json.dumps({"captureData": {"endpointInput": payload}})

    window = _window([deep, inner])

    assert (window.requests, window.skipped) == (0, 2)
