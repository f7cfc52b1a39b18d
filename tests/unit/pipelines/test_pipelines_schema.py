"""pipelines.schema: the one parser every part trusts for column names, types and rules."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipelines.schema import Column, DatasetSchema, QualityRules, SchemaError, load_schema, parse_schema

REPO = Path(__file__).resolve().parents[3]
SCHEMA_FILE = REPO / "schemas" / "ai4i2020.schema.json"


@pytest.fixture()
def raw() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def _col(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in raw["columns"] if c["name"] == name)


# ------------------------------------------------------------------------------------- good schema


def test_default_schema_roles_and_order() -> None:
    schema = load_schema(SCHEMA_FILE)
    assert isinstance(schema, DatasetSchema)
    assert schema.name == "ai4i2020"
    assert schema.problem_type == "binary_classification"
    assert schema.feature_names == (
        "Type",
        "Air temperature [K]",
        "Process temperature [K]",
        "Rotational speed [rpm]",
        "Torque [Nm]",
        "Tool wear [min]",
    )
    assert [c.name for c in schema.categorical_features] == ["Type"]
    assert [c.name for c in schema.numeric_features] == list(schema.feature_names[1:])
    assert schema.target_column.name == "Machine failure"
    assert schema.positive_label == 1
    assert {c.name for c in schema.dropped_columns} == {
        "UDI",
        "Product ID",
        "TWF",
        "HDF",
        "PWF",
        "OSF",
        "RNF",
    }
    assert schema.column_names[0] == "UDI" and len(schema.column_names) == 14
    assert schema.column("Type").categories == ("L", "M", "H")
    assert schema.quality == QualityRules(
        min_rows=200,
        max_null_fraction=0.0,
        max_duplicate_row_fraction=0.01,
        min_positive_fraction=0.005,
        max_positive_fraction=0.5,
    )


def test_schema_objects_are_frozen() -> None:
    schema = load_schema(SCHEMA_FILE)
    with pytest.raises(AttributeError):
        schema.target = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        schema.columns[0].name = "x"  # type: ignore[misc]


def test_unknown_column_lookup_names_the_column() -> None:
    with pytest.raises(KeyError, match="no column 'nope'"):
        load_schema(SCHEMA_FILE).column("nope")


def test_defaults_apply_when_optional_keys_are_absent(raw: dict[str, Any]) -> None:
    del raw["quality"]
    del raw["description"]
    schema = parse_schema(raw)
    assert schema.quality == QualityRules()
    udi = schema.column("Tool wear [min]")
    assert (udi.role, udi.nullable, udi.unique) == ("feature", False, False)


def test_categorical_target_with_text_labels(raw: dict[str, Any]) -> None:
    target = _col(raw, "Machine failure")
    target.update(type="categorical", categories=["no", "yes"])
    raw["positiveLabel"] = "yes"
    schema = parse_schema(raw)
    assert schema.positive_label == "yes"
    assert schema.is_positive("yes") and not schema.is_positive("no") and not schema.is_positive(None)


def test_positive_label_is_coerced_like_a_csv_value(raw: dict[str, Any]) -> None:
    raw["positiveLabel"] = "1"
    assert parse_schema(raw).positive_label == 1


def test_integer_categories_of_a_categorical_column_become_text(raw: dict[str, Any]) -> None:
    _col(raw, "Type").update(categories=[1, 2, 3])
    assert parse_schema(raw).column("Type").categories == ("1", "2", "3")


# -------------------------------------------------------------------------------------- bad schema


def _mutations() -> list[tuple[str, Any, str]]:
    """(case id, mutation of the raw schema, regex the SchemaError field must match)."""

    def set_top(key: str, value: Any) -> Any:
        return lambda r: r.__setitem__(key, value)

    def set_col(name: str, **changes: Any) -> Any:
        return lambda r: _col(r, name).update(changes)

    def drop_col_key(name: str, key: str) -> Any:
        return lambda r: _col(r, name).pop(key)

    def duplicate_column(r: dict[str, Any]) -> None:
        r["columns"].append(copy.deepcopy(_col(r, "Torque [Nm]")))

    def no_features(r: dict[str, Any]) -> None:
        for c in r["columns"]:
            if c.get("role", "feature") == "feature":
                c["role"] = "id"

    return [
        ("regression-not-supported", set_top("problemType", "regression"), r"^problemType$"),
        ("missing-name", lambda r: r.pop("name"), r"^name$"),
        ("unknown-top-key", set_top("targte", "x"), r"^targte$"),
        ("columns-empty", set_top("columns", []), r"^columns$"),
        ("unknown-type", set_col("Torque [Nm]", type="double"), r"Torque \[Nm\]\)\.type$"),
        ("unknown-role", set_col("UDI", role="identifier"), r"\(UDI\)\.role$"),
        ("unknown-column-key", set_col("UDI", nulable=True), r"\(UDI\)\.nulable$"),
        ("nullable-not-bool", set_col("UDI", nullable="no"), r"\(UDI\)\.nullable$"),
        ("min-above-max", set_col("Torque [Nm]", min=10.0, max=1.0), r"Torque \[Nm\]\)\.min$"),
        ("min-not-a-number", set_col("Torque [Nm]", min="0"), r"Torque \[Nm\]\)\.min$"),
        ("min-on-categorical", set_col("Type", min=0), r"\(Type\)\.min$"),
        ("categorical-without-categories", drop_col_key("Type", "categories"), r"\(Type\)\.categories$"),
        (
            "target-without-categories",
            drop_col_key("Machine failure", "categories"),
            r"failure\)\.categories$",
        ),
        ("duplicate-categories", set_col("Type", categories=["L", "L"]), r"\(Type\)\.categories$"),
        ("categories-on-float", set_col("Torque [Nm]", categories=[1.0]), r"Torque \[Nm\]\)\.categories$"),
        ("string-feature", set_col("Type", type="string"), r"\(Type\)\.type$"),
        ("duplicate-name", duplicate_column, r"^columns\[14\]\.name$"),
        ("no-target", set_col("Machine failure", role="feature"), r"^columns$"),
        ("two-targets", set_col("TWF", role="target", categories=[0, 1]), r"^columns$"),
        ("target-name-mismatch", set_top("target", "TWF"), r"^target$"),
        ("three-target-categories", set_col("Machine failure", categories=[0, 1, 2]), r"^target$"),
        ("float-target", set_col("Machine failure", type="float"), r"categories$|^target$"),
        ("nullable-target", set_col("Machine failure", nullable=True), r"^target$"),
        ("positive-label-not-a-category", set_top("positiveLabel", 2), r"^positiveLabel$"),
        ("positive-label-bool", set_top("positiveLabel", True), r"^positiveLabel$"),
        ("positive-label-missing", lambda r: r.pop("positiveLabel"), r"^positiveLabel$"),
        ("no-features", no_features, r"^columns$"),
        (
            "quality-fraction-above-one",
            lambda r: r["quality"].update(maxNullFraction=1.5),
            r"maxNullFraction$",
        ),
        ("quality-min-rows-not-int", lambda r: r["quality"].update(minRows=2.5), r"minRows$"),
        ("quality-unknown-key", lambda r: r["quality"].update(minRow=3), r"^quality\.minRow$"),
        (
            "quality-positive-range-inverted",
            lambda r: r["quality"].update(minPositiveFraction=0.6, maxPositiveFraction=0.5),
            r"minPositiveFraction$",
        ),
    ]


@pytest.mark.parametrize(("mutate", "field"), [m[1:] for m in _mutations()], ids=[m[0] for m in _mutations()])
def test_bad_schema_is_rejected_naming_the_field(raw: dict[str, Any], mutate: Any, field: str) -> None:
    mutate(raw)
    with pytest.raises(SchemaError) as caught:
        parse_schema(raw)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field and re.search(field, caught.value.field), caught.value.field
    assert caught.value.field in str(caught.value)


def test_regression_rejection_says_what_is_supported(raw: dict[str, Any]) -> None:
    raw["problemType"] = "regression"
    with pytest.raises(SchemaError, match=r"'regression' is not supported.*binary_classification"):
        parse_schema(raw)


def test_not_an_object_and_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(SchemaError):
        parse_schema(["columns"])  # type: ignore[arg-type]
    bad = tmp_path / "bad.schema.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_schema(bad)


# ------------------------------------------------------------------------------- value coercion


INT = Column(name="n", type="integer", min=0, max=100)
FLOAT = Column(name="x", type="float", nullable=True)
CAT = Column(name="c", type="categorical", categories=("L", "M", "H"))


@pytest.mark.parametrize(
    ("column", "raw", "expected"),
    [
        (INT, "12", 12),
        (INT, " -3 ", -3),
        (INT, "12.0", 12),
        (INT, "", None),
        (FLOAT, "1e3", 1000.0),
        (FLOAT, "298.1", 298.1),
        (FLOAT, ".5", 0.5),
        (FLOAT, "  ", None),
        (CAT, "L", "L"),
        (CAT, "Z", "Z"),  # representation only: membership is violation()'s job
        (CAT, "", None),
    ],
)
def test_parse_coerces_raw_csv_text(column: Column, raw: str, expected: object) -> None:
    value = column.parse(raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("column", "raw"),
    [
        (INT, "12.5"),
        (INT, "1_000"),
        (INT, "twelve"),
        (FLOAT, "nan"),
        (FLOAT, "inf"),
        (FLOAT, "1e999"),
        (FLOAT, "1,5"),
        # Other scripts' digits: int() and float() read them, pandas (what training uses) does not.
        (INT, "\u0663"),
        (FLOAT, "\u0661.5"),
        (INT, "\uff11\uff12"),
    ],
)
def test_parse_refuses_what_is_not_a_number(column: Column, raw: str) -> None:
    with pytest.raises(ValueError, match=f"column {column.name!r}"):
        column.parse(raw)


def test_parse_wants_text() -> None:
    with pytest.raises(TypeError):
        INT.parse(12)  # type: ignore[arg-type]


def test_violation_reports_each_rule() -> None:
    assert INT.violation(50) is None
    assert "below the minimum" in (INT.violation(-1) or "")
    assert "above the maximum" in (INT.violation(101) or "")
    assert "missing value" in (INT.violation(None) or "")
    assert FLOAT.violation(None) is None
    assert "not one of the categories" in (CAT.violation("Z") or "")
    assert CAT.violation("M") is None


# ---------------------------------------------------------------------------- time and optional


def _with_time(raw: dict[str, Any], **column: Any) -> dict[str, Any]:
    raw["columns"].insert(1, {"name": "ts", "type": "string", "role": "time", **column})
    return raw


def test_time_column_orders_rows_but_is_never_a_feature(raw: dict[str, Any]) -> None:
    schema = parse_schema(_with_time(raw))
    assert schema.time_column is not None and schema.time_column.name == "ts"
    assert "ts" not in schema.feature_names
    assert "ts" not in {c.name for c in schema.dropped_columns}  # read for ordering, not dropped
    assert schema.time_column.nullable is False
    assert load_schema(SCHEMA_FILE).time_column is None


def test_only_id_and_leak_columns_are_optional(raw: dict[str, Any]) -> None:
    schema = parse_schema(_with_time(raw))
    assert {c.name for c in schema.optional_columns} == {"UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"}
    assert {c.name for c in schema.required_columns} == {"ts", "Machine failure", *schema.feature_names}
    assert schema.required_columns[0].name == "ts"  # file order (after the optional UDI)
    assert set(schema.optional_columns) | set(schema.required_columns) == set(schema.columns)
    assert not set(schema.optional_columns) & set(schema.required_columns)


@pytest.mark.parametrize("ctype", ["integer", "float"])
def test_numeric_time_columns_sort_by_their_number(raw: dict[str, Any], ctype: str) -> None:
    column = parse_schema(_with_time(raw, type=ctype)).column("ts")
    value = column.parse("1700000000")
    assert value is not None and column.time_key(value) == 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("1970-01-02", 86_400.0),
        ("1970-01-01T00:01:00Z", 60.0),
        ("1970-01-01T01:00:00+01:00", 0.0),  # the same instant as 00:00 UTC
        ("1970-01-01 00:00:01.5", 1.5),  # naive: read as UTC
    ],
)
def test_iso_timestamps_become_utc_epoch_seconds(raw: dict[str, Any], text: str, epoch: float) -> None:
    column = parse_schema(_with_time(raw)).column("ts")
    assert column.parse(text) == text  # the text is kept as written
    assert column.time_key(text) == epoch


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01", "01/02/2024", "T10:00"])
def test_a_bad_timestamp_is_refused_naming_the_column(raw: dict[str, Any], text: str) -> None:
    column = parse_schema(_with_time(raw)).column("ts")
    with pytest.raises(ValueError, match=r"column 'ts'.*not an ISO-8601 timestamp"):
        column.parse(text)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "categorical", "categories": ["a"]}, r"\(ts\)\.type$"),
        ({"nullable": True}, r"\(ts\)\.nullable$"),
        ({"type": "integer", "categories": [1, 2]}, r"\(ts\)\.categories$"),
    ],
)
def test_bad_time_columns_are_rejected(raw: dict[str, Any], change: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_schema(_with_time(raw, **change))
    assert re.search(field, caught.value.field), caught.value.field


def test_at_most_one_time_column(raw: dict[str, Any]) -> None:
    _with_time(raw)
    raw["columns"].append({"name": "ts2", "type": "integer", "role": "time"})
    with pytest.raises(SchemaError, match="at most one column may have role 'time'") as caught:
        parse_schema(raw)
    assert caught.value.field == f"columns[{len(raw['columns']) - 1}].role"


def test_time_key_is_only_for_the_time_column() -> None:
    with pytest.raises(ValueError, match="not 'time'"):
        INT.time_key(3)
