"""validate_csv on in-memory CSV text built from real AI4I rows and the real schema."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from functions.validate.checks import MAX_EXAMPLES, validate_csv
from pipelines.schema import load_schema, parse_schema

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = load_schema(ROOT / "schemas" / "ai4i2020.schema.json")
LINES = (ROOT / "data" / "ai4i2020.csv").read_text(encoding="utf-8").splitlines()
HEADER, ROWS = LINES[0], LINES[1:]


def run(header: str, rows: list[str], schema=SCHEMA):
    return validate_csv(io.StringIO("\n".join([header, *rows]) + "\n", newline=""), schema)


def sample(n: int = 1000) -> list[str]:
    """The first n rows (the first 500 already hold failures, so label balance is within bounds)."""
    return list(ROWS[:n])


def edit(row: str, column: str, value: str) -> str:
    fields = row.split(",")
    fields[SCHEMA.column_names.index(column)] = value
    return ",".join(fields)


def failures_by_check(result) -> dict[tuple[str, str | None], object]:
    return {(f.check, f.column): f for f in result.failures}


def test_real_data_passes_with_its_profile():
    result = run(HEADER, sample())
    assert result.valid, [f.summary() for f in result.failures]
    assert result.rows == 1000
    assert result.positives == sum(r.split(",")[8] == "1" for r in sample())
    torque = result.columns["Torque [Nm]"]
    values = [float(r.split(",")[6]) for r in sample()]
    assert torque["min"] == min(values) and torque["max"] == max(values)
    assert torque["mean"] == pytest.approx(sum(values) / len(values))
    assert sum(result.columns["Type"]["categoryCounts"].values()) == 1000


def test_type_errors_report_count_lines_and_examples():
    rows = sample()
    for i in (4, 9, 19, 29, 39, 49, 59):  # 7 bad values, only the first MAX_EXAMPLES are kept
        rows[i] = edit(rows[i], "Torque [Nm]", "n/a")
    result = run(HEADER, rows)
    failure = failures_by_check(result)[("type", "Torque [Nm]")]
    assert failure.count == 7
    assert failure.lines == [6, 11, 21, 31, 41][:MAX_EXAMPLES]  # file lines: header is line 1
    assert failure.examples == ["n/a"] * MAX_EXAMPLES
    assert "Torque [Nm]" in failure.summary() and "type" in failure.summary()


def test_integer_column_refuses_fractions_but_accepts_integral_floats():
    rows = sample()
    rows[0] = edit(rows[0], "Rotational speed [rpm]", "1551.5")
    rows[1] = edit(rows[1], "Rotational speed [rpm]", "1408.0")
    failure = failures_by_check(run(HEADER, rows))[("type", "Rotational speed [rpm]")]
    assert failure.count == 1 and failure.examples == ["1551.5"]


def test_range_categories_nulls_and_uniqueness_are_separate_checks():
    rows = sample()
    rows[10] = edit(rows[10], "Air temperature [K]", "1000.0")  # above max 350
    rows[11] = edit(rows[11], "Tool wear [min]", "-3")  # below min 0
    rows[12] = edit(rows[12], "Type", "X")  # unknown category
    rows[13] = edit(rows[13], "Process temperature [K]", "")  # null in a non-nullable column
    rows[14] = edit(rows[14], "UDI", "1")  # the unique id repeats row 1's
    rows[15] = edit(rows[15], "Machine failure", "2")  # label outside its categories
    found = failures_by_check(run(HEADER, rows))
    assert found[("range", "Air temperature [K]")].lines == [12]
    assert found[("range", "Tool wear [min]")].examples == ["-3"]
    assert found[("categories", "Type")].examples == ["X"]
    assert found[("nulls", "Process temperature [K]")].lines == [15]
    assert found[("unique", "UDI")].lines == [16]
    assert found[("categories", "Machine failure")].count == 1
    assert len(found) == 6


def test_nullable_columns_are_bounded_by_max_null_fraction():
    raw = {
        "name": "tiny",
        "problemType": "binary_classification",
        "target": "y",
        "positiveLabel": 1,
        "columns": [
            {"name": "x", "type": "float", "nullable": True},
            {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
        ],
        "quality": {"minRows": 1, "maxNullFraction": 0.25, "maxDuplicateRowFraction": 1.0},
    }
    schema = parse_schema(raw)
    ok = run("x,y", ["1.0,0", ",1", "2.0,0", "3.0,1"], schema)  # 1 null in 4 = 0.25
    assert ok.valid
    bad = run("x,y", ["1.0,0", ",1", ",0", "3.0,1"], schema)  # 2 nulls in 4 = 0.5
    assert [(f.check, f.column) for f in bad.failures] == [("nulls", "x")]


def test_header_missing_and_extra_columns_are_named():
    header = HEADER.replace("Torque [Nm]", "Torque").split(",")
    result = run(",".join([*header, "comment"]), [r + ",hello" for r in sample()])
    found = failures_by_check(result)
    assert found[("missing_columns", None)].examples == ["Torque [Nm]"]
    assert found[("extra_columns", None)].examples == ["Torque", "comment"]
    assert result.header["missing"] == ["Torque [Nm]"]
    # the other columns are still checked
    assert result.columns["Air temperature [K]"]["values"] == 1000


def test_columns_are_matched_by_name_not_position():
    names = HEADER.split(",")
    order = list(range(len(names)))[::-1]
    rows = [",".join(r.split(",")[i] for i in order) for r in sample()]
    result = run(",".join(names[i] for i in order), rows)
    assert result.valid, [f.summary() for f in result.failures]


def test_ragged_rows_are_reported():
    rows = sample()
    rows[3] = rows[3] + ",extra"
    found = failures_by_check(run(HEADER, rows))
    assert found[("row_width", None)].lines == [5]


def test_duplicate_rows_fraction():
    rows = sample(500)
    duplicated = rows + rows[:10]  # 10 / 510 = 0.0196 > 0.01; UDI repeats as well
    found = failures_by_check(run(HEADER, duplicated))
    assert found[("duplicate_rows", None)].count == 10
    assert found[("unique", "UDI")].count == 10
    assert run(HEADER, rows + rows[:5]).duplicate_rows == 5  # 5/505 < 0.01: tolerated...
    assert ("duplicate_rows", None) not in failures_by_check(run(HEADER, rows + rows[:5]))


def test_min_rows_and_label_balance():
    few = failures_by_check(run(HEADER, sample(50)))
    assert few[("min_rows", None)].message.startswith("50 data row(s), fewer than minRows 200")

    no_failures = [r for r in ROWS if r.split(",")[8] == "0"][:500]
    balance = failures_by_check(run(HEADER, no_failures))[("label_balance", "Machine failure")]
    assert "0.0000" in balance.message

    all_failures = [r for r in ROWS if r.split(",")[8] == "1"][:300]
    assert ("label_balance", "Machine failure") in failures_by_check(run(HEADER, all_failures))


def test_quoted_fields_with_newlines_keep_physical_line_numbers():
    rows = sample()
    rows[0] = edit(rows[0], "Product ID", '"M14\n860"')  # a string id column may hold a newline
    rows[2] = edit(rows[2], "Torque [Nm]", "bad")
    failure = failures_by_check(run(HEADER, rows))[("type", "Torque [Nm]")]
    assert failure.lines == [5]  # header=1, row1 spans 2-3, row2=4, row3=5


def test_blank_lines_are_ignored_and_an_empty_file_fails():
    rows = sample()
    rows.insert(10, "")
    assert run(HEADER, rows).rows == 1000
    empty = validate_csv(io.StringIO(""), SCHEMA)
    assert not empty.valid and empty.failures[0].check == "empty_file"


def test_unparsable_csv_is_a_failure_not_a_crash():
    rows = sample()
    rows[-1] = rows[-1] + ',"unterminated'
    found = failures_by_check(run(HEADER, rows))
    assert found[("malformed_csv", None)].message.startswith("the CSV cannot be parsed")


# -- optional columns and the time range (docs/ARCHITECTURE.md, "The learning loop") ------------


def drop_columns(header: str, rows: list[str], names: set[str]) -> tuple[str, list[str]]:
    """The header and rows without the named columns."""
    keep = [i for i, name in enumerate(header.split(",")) if name not in names]
    return ",".join(header.split(",")[i] for i in keep), [",".join(r.split(",")[i] for i in keep) for r in rows]


def with_time_column(time_type: str):
    """The AI4I schema plus a ``time`` column at the end (role time, the given type)."""
    raw = json.loads((ROOT / "schemas" / "ai4i2020.schema.json").read_text())
    raw["columns"].append({"name": "ts", "type": time_type, "role": "time"})
    return parse_schema(raw)


def test_id_and_leak_columns_may_be_absent_but_features_and_target_may_not():
    optional = {"UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"}
    header, rows = drop_columns(HEADER, sample(), optional)
    result = run(header, rows)
    assert result.valid, [f.summary() for f in result.failures]
    assert result.header["missing"] == []
    assert sorted(result.header["absent"]) == sorted(optional)
    assert "UDI" not in result.columns  # nothing is profiled for an absent column

    header, rows = drop_columns(HEADER, sample(), {"UDI", "Torque [Nm]", "Machine failure"})
    found = failures_by_check(run(header, rows))
    assert found[("missing_columns", None)].examples == ["Torque [Nm]", "Machine failure"]


def test_the_unique_check_is_skipped_when_its_column_is_absent():
    rows = sample(500)
    repeated = rows + rows[:3]  # 3 / 503 duplicate rows: tolerated, but UDI would repeat
    assert ("unique", "UDI") in failures_by_check(run(HEADER, repeated))
    header, without_udi = drop_columns(HEADER, repeated, {"UDI"})
    result = run(header, without_udi)
    assert result.valid, [f.summary() for f in result.failures]


def test_iso_time_range_compares_instants_and_reports_the_text_as_written():
    schema = with_time_column("string")
    stamps = ["2026-03-01T10:00:00Z", "2026-03-01T12:30:00+02:00", "2026-02-28T23:59:59", "2026-03-02 08:00:00Z"]
    rows = [f"{row},{stamps[i % len(stamps)]}" for i, row in enumerate(sample())]
    result = run(HEADER + ",ts", rows, schema)
    assert result.valid, [f.summary() for f in result.failures]
    # 12:30+02:00 is 10:30Z: later than 10:00Z although it sorts first as text; the naive one is UTC
    assert result.time_range == {"min": "2026-02-28T23:59:59", "max": "2026-03-02 08:00:00Z"}
    assert result.to_dict()["timeRange"] == result.time_range
    assert result.columns["ts"]["timeRange"] == result.time_range


def test_numeric_time_range_and_bad_timestamps():
    schema = with_time_column("integer")
    rows = [f"{row},{1_700_000_000 + (i * 7919) % 1000}" for i, row in enumerate(sample())]
    result = run(HEADER + ",ts", rows, schema)
    assert result.time_range == {"min": 1_700_000_000, "max": 1_700_000_999}

    schema = with_time_column("string")
    rows = [f"{row},2026-03-01T10:00:00Z" for row in sample()]
    rows[3] = rows[3].rsplit(",", 1)[0] + ",yesterday"
    result = run(HEADER + ",ts", rows, schema)
    assert failures_by_check(result)[("type", "ts")].lines == [5]
    assert result.time_range == {"min": "2026-03-01T10:00:00Z", "max": "2026-03-01T10:00:00Z"}


def test_without_a_time_column_the_time_range_is_null():
    assert run(HEADER, sample()).to_dict()["timeRange"] is None
    assert validate_csv(io.StringIO(""), SCHEMA).to_dict()["timeRange"] is None
