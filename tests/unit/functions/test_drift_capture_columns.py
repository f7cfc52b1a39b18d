"""The column-wise capture parser gives exactly what typing each value on its own gives.

``functions.drift.capture`` types whole columns at once (plain ASCII numbers by ``map(float)``, other
text by ``Column.parse`` once per distinct text) and splits unquoted CSV with ``str.split``; these
tests hold those fast paths to their references -- ``_typed`` per value and ``csv.reader`` -- on the
awkward inputs where a shortcut could differ. Likewise the verdict's categorical counting against
``category_key`` per value.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from functions.drift import capture
from functions.drift.capture import CaptureWindow, parse_inputs
from pipelines.drift.stats import categorical_proportions, category_counts, category_key
from pipelines.schema import Column, load_schema

SCHEMA = load_schema(Path(__file__).resolve().parents[3] / "schemas" / "ai4i2020.schema.json")
INTEGER = Column(name="rpm", type="integer")
FLOAT = Column(name="torque", type="float")
CATEGORY = Column(name="Type", type="categorical", categories=("L", "M", "H"))

AWKWARD_TEXTS = [
    "12", "+12", "-12", "0012", "12.0", "12.5", "1e3", "1E+03", "-.5", "5.", ".5", "1.e5",  # numbers
    " 12", "12 ", "\t7\n", "١٢", "1_000", "0x10", "nan", "NaN", "inf", "-Infinity", "1e999", "-1e999",
    "", " ", "e5", "1e", "1-2", "--1", "+", ".", "1.2.3", "abc", "9" * 5000, "1" + "0" * 400,
]  # fmt: skip
AWKWARD_VALUES = [None, True, False, 0, 1, -3, 2.5, 1e300, float("nan"), float("inf"), [1, 2], {"a": 1}, "7"]


def same(a: list[Any], b: list[Any]) -> bool:
    """Equal element by element, type included, with NaN equal to NaN."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if type(x) is not type(y) or x != y:
            return False
    return True


def reference(column: Column, values: list[Any]) -> list[Any]:
    return [capture._typed(column, v) for v in values]


@pytest.mark.parametrize("column", [INTEGER, FLOAT, CATEGORY], ids=lambda c: c.type)
@pytest.mark.parametrize(
    "values",
    [
        ["1551", "1408", "1498"] * 50,  # the common case: plain numbers
        ["298.1", "298.2", "-0.0", "1e3"] * 50,
        AWKWARD_TEXTS,
        *([text, "12"] for text in AWKWARD_TEXTS),  # one awkward text spoils the fast path
        AWKWARD_VALUES,
        [1, 2.5, 3, -0.0] * 10,  # JSON numbers
        [1, True, 2.5],  # a bool among numbers is not a number
        ["12", None, " 13 ", None],
        ["1\n2", "3"],  # a text holding the joining newline
    ],
)
def test_typed_column_equals_typing_each_value(column: Column, values: list[Any]) -> None:
    assert same(capture._typed_column(column, values), reference(column, values))


@pytest.mark.parametrize(
    "text",
    [
        "M,298.1,308.6,1551,42.8,0",
        "M,298.1,308.6,1551,42.8,0\nL,298.2,308.7,1408,46.3,3\n",
        "\n\nM,1,2,3,4,5\n\n",
        ",,,,,\nM,1,2,3,4,5\n , , ,\n\t\n",
        "M, 1 ,2,3,4,5",
        '"M",1,2,3,4,5',
        '"M,L",1,2,3,4,5\n"a\nb",1,2,3,4,5',  # quoted commas and newlines: the csv module decides
        "M,1,2,3,4,5\r\nL,1,2,3,4,5\r\n",
        "",
        "   ",
    ],
)
def test_csv_rows_equal_the_csv_module(text: str) -> None:
    expected = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    assert capture._csv_rows(text) == expected


def test_a_csv_header_is_still_recognised_on_the_fast_path() -> None:
    names = list(SCHEMA.feature_names)
    body = "\n".join([",".join(names), "M,298.1,308.6,1551,42.8,0"])
    assert parse_inputs("text/csv", body, SCHEMA.features) == [["M", "298.1", "308.6", "1551", "42.8", "0"]]
    with pytest.raises(ValueError, match="values, expected 6 features"):
        parse_inputs("text/csv", "M,1,2", SCHEMA.features)


def test_columns_read_twice_type_only_the_new_rows() -> None:
    window = CaptureWindow(SCHEMA.features)
    line = (
        '{"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",'
        ' "data": "M,298.1,308.6,1551,42.8,0", "encoding": "CSV"}}}'
    )
    window.add_lines([line], "a.jsonl")
    assert window.rows == 1 and window.columns["Torque [Nm]"] == [42.8]
    window.add_lines([line.replace("42.8", "abc")], "b.jsonl")
    assert window.rows == 2 and window.columns["Torque [Nm]"] == [42.8, None]
    assert window.columns["Rotational speed [rpm]"] == [1551.0, 1551.0]


@pytest.mark.parametrize(
    "values",
    [
        ["L", "M", "L", "H", "X"] * 20,
        ["1", 1, 1.0, True, "True", 0, False, -0.0, "0"],  # 1 == 1.0 == True, but True keys as "True"
        [None, "", " ", float("nan"), "L", None],
        list(np.array(["L", "M", "L"], dtype=np.str_)),
        list(np.array([1.0, 2.0, 1.0])),  # numpy floats
        [[1], {"a": 1}, "L"],  # unhashable values: keyed one by one
    ],
)
def test_category_counts_equal_keying_each_value(values: list[Any]) -> None:
    keys = Counter(category_key(v) for v in values)
    missing = keys.pop(None, 0)
    assert category_counts(values) == (dict(keys), missing)


def test_categorical_proportions_still_count_a_missing_value_as_the_text_none() -> None:
    result = categorical_proportions(["L", None, "None", "X"], ["L", "None"])
    assert result.counts.tolist() == [1, 2, 1]
    assert result.unseen.tolist() == ["X"]
