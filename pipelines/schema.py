"""Dataset schema: the one place that knows a dataset's columns.

The schema file (``schemas/*.schema.json``) is read by the validate Lambda, the training job and the
inference container, so this module is standard-library only: it is copied into the Lambda package,
which carries neither pandas nor scikit-learn. Parsing is strict (unknown keys, wrong types and
inconsistent rules are rejected) because a typo in a schema would otherwise silently change what the
model is trained on.

Roles: ``feature`` (the model's input), ``target``, ``id`` and ``leak`` (validated, dropped before
training, and allowed to be absent from a file), and ``time`` (at most one column, never a feature,
never nullable: it orders the rows, so the holdout is the newest rows and a window can be "the last D
days"; integers and floats are epoch seconds, strings ISO-8601 timestamps, naive ones read as UTC).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "COLUMN_TYPES",
    "DROPPED_ROLES",
    "FLOAT_SYNTAX",
    "INTEGER_SYNTAX",
    "OPTIONAL_ROLES",
    "PROBLEM_TYPES",
    "ROLES",
    "TIME_TYPES",
    "Column",
    "DatasetSchema",
    "QualityRules",
    "SchemaError",
    "load_schema",
    "parse_schema",
    "parse_timestamp",
]

COLUMN_TYPES = ("integer", "float", "categorical", "string")
ROLES = ("feature", "target", "id", "leak", "time")
PROBLEM_TYPES = ("binary_classification",)
NUMERIC_TYPES = ("integer", "float")
# Dropped before training: ids carry no signal, leak columns give the label away.
DROPPED_ROLES = ("id", "leak")
# Columns a file may lack: the same roles, since nothing downstream of validation reads them.
OPTIONAL_ROLES = DROPPED_ROLES
# A time column orders rows and defines "the last D days"; a number is read as seconds since the
# Unix epoch (UTC), a string must be an ISO-8601 timestamp.
TIME_TYPES = ("integer", "float", "string")

# Pandas' number parser (what training uses) and these patterns must agree on what a number is, so a
# row the validate Lambda accepts is a row training can read. Python's own int()/float() would also
# accept "1_000", "nan", "infinity" and other scripts' digits ("٣"), which a CSV reader would not
# treat as the same number: the digits are ASCII only. The vectorised validator (pyarrow regexes)
# and the ground-truth label reader use the same syntax.
INTEGER_SYNTAX = r"[+-]?[0-9]+"
FLOAT_SYNTAX = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_INTEGER_RE = re.compile(INTEGER_SYNTAX)
_FLOAT_RE = re.compile(FLOAT_SYNTAX)

_COLUMN_KEYS = frozenset({"name", "type", "role", "nullable", "min", "max", "categories", "unique", "description"})
_TOP_KEYS = frozenset({"name", "description", "problemType", "target", "positiveLabel", "columns", "quality"})
_QUALITY_KEYS = {
    "minRows": "min_rows",
    "maxNullFraction": "max_null_fraction",
    "maxDuplicateRowFraction": "max_duplicate_row_fraction",
    "minPositiveFraction": "min_positive_fraction",
    "maxPositiveFraction": "max_positive_fraction",
}

Value = int | float | str


class SchemaError(ValueError):
    """A schema file is invalid; ``field`` is the path of the offending entry (e.g. ``columns[3].min``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"schema field {field!r}: {message}")


@dataclass(frozen=True)
class Column:
    """One CSV column and the rules its values must follow."""

    name: str
    type: str
    role: str = "feature"
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[Value, ...] | None = None
    unique: bool = False
    description: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def is_categorical(self) -> bool:
        return self.type == "categorical"

    @property
    def is_time(self) -> bool:
        return self.role == "time"

    def time_key(self, value: Value) -> float:
        """A parsed value of the time column as seconds since the Unix epoch (UTC), for sorting.

        Numbers are taken as they are (epoch seconds, or any monotone counter when only the order
        matters); strings are ISO-8601 timestamps, naive ones read as UTC, so an offset-carrying and
        a naive timestamp of the same instant sort together. Raises ``ValueError`` naming the column.
        """
        if not self.is_time:
            raise ValueError(f"column {self.name!r} has role {self.role!r}, not 'time'")
        if isinstance(value, bool):
            raise ValueError(f"column {self.name!r}: {value!r} is not a timestamp")
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_timestamp(value).timestamp()
        except ValueError as exc:
            raise ValueError(f"column {self.name!r}: {value!r} is not an ISO-8601 timestamp") from exc

    def parse(self, raw: str) -> Value | None:
        """Coerce one raw CSV field to this column's Python value (``None`` for an empty field).

        Only the representation is checked here (is it a number?); the value rules (nullability,
        range, categories) are :meth:`violation`'s job, so a validator can report both kinds apart.
        Raises ``ValueError`` naming the column and the offending text.
        """
        if not isinstance(raw, str):
            raise TypeError(f"column {self.name!r}: expected the raw CSV text, got {type(raw).__name__}")
        if raw == "" or (self.is_numeric and raw.strip() == ""):
            return None
        if self.type == "integer":
            text = raw.strip()
            if _INTEGER_RE.fullmatch(text):
                return int(text)
            # Some exporters write integral numbers as "12.0"; accept those, refuse "12.5".
            if _FLOAT_RE.fullmatch(text) and float(text).is_integer():
                return int(float(text))
            raise ValueError(f"column {self.name!r}: {raw!r} is not an integer")
        if self.type == "float":
            text = raw.strip()
            if not _FLOAT_RE.fullmatch(text):
                raise ValueError(f"column {self.name!r}: {raw!r} is not a number")
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(f"column {self.name!r}: {raw!r} is out of the float range")
            return value
        if self.is_time:
            # Representation, like a number's: a row whose time cannot be read cannot be ordered.
            self.time_key(raw)
        return raw

    def violation(self, value: Value | None) -> str | None:
        """Why a parsed value breaks this column's rules, or ``None`` when it is acceptable."""
        if value is None:
            return None if self.nullable else "missing value in a non-nullable column"
        if self.is_numeric and isinstance(value, int | float) and not isinstance(value, bool):
            if self.min is not None and value < self.min:
                return f"{value!r} is below the minimum {self.min!r}"
            if self.max is not None and value > self.max:
                return f"{value!r} is above the maximum {self.max!r}"
        if self.categories is not None and value not in self.categories:
            return f"{value!r} is not one of the categories {list(self.categories)!r}"
        return None


@dataclass(frozen=True)
class QualityRules:
    """Whole-dataset rules the validate Lambda enforces before a snapshot may be trained on."""

    min_rows: int = 100
    max_null_fraction: float = 0.0
    max_duplicate_row_fraction: float = 0.01
    min_positive_fraction: float = 0.0
    max_positive_fraction: float = 1.0


@dataclass(frozen=True)
class DatasetSchema:
    """A parsed, validated dataset schema. Build it with :func:`parse_schema` or :func:`load_schema`."""

    name: str
    problem_type: str
    target: str
    positive_label: Value
    columns: tuple[Column, ...]
    quality: QualityRules = field(default_factory=QualityRules)
    description: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        """All column names in file order (the expected CSV header)."""
        return tuple(c.name for c in self.columns)

    @property
    def features(self) -> tuple[Column, ...]:
        """Feature columns in file order; also the field order of a header-less CSV inference request."""
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.features)

    @property
    def numeric_features(self) -> tuple[Column, ...]:
        return tuple(c for c in self.features if c.is_numeric)

    @property
    def categorical_features(self) -> tuple[Column, ...]:
        return tuple(c for c in self.features if c.is_categorical)

    @property
    def target_column(self) -> Column:
        return self.column(self.target)

    @property
    def dropped_columns(self) -> tuple[Column, ...]:
        """``id`` and ``leak`` columns: validated, but never shown to the model."""
        return tuple(c for c in self.columns if c.role in DROPPED_ROLES)

    @property
    def time_column(self) -> Column | None:
        """The column with role ``time`` (at most one): it orders rows and is never a feature."""
        return next((c for c in self.columns if c.is_time), None)

    @property
    def optional_columns(self) -> tuple[Column, ...]:
        """Columns a file may lack (``id`` and ``leak``): they are dropped before training anyway,
        so a batch written from captured traffic, which has only features, time and label, is
        still a complete batch."""
        return tuple(c for c in self.columns if c.role in OPTIONAL_ROLES)

    @property
    def required_columns(self) -> tuple[Column, ...]:
        """Columns every file must hold: features, the target and the time column, if any."""
        return tuple(c for c in self.columns if c.role not in OPTIONAL_ROLES)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"schema {self.name!r} has no column {name!r}")

    def is_positive(self, value: Value | None) -> bool:
        """Whether a parsed target value is the positive label."""
        return value is not None and value == self.positive_label


def load_schema(path: str | Path) -> DatasetSchema:
    """Read and validate a schema file."""
    path = Path(path)
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaError("<file>", f"{path.name} is not valid JSON: {exc}") from exc
    return parse_schema(mapping)


def parse_schema(mapping: Mapping[str, Any]) -> DatasetSchema:
    """Validate a schema mapping (the decoded JSON) and build a :class:`DatasetSchema`."""
    if not isinstance(mapping, Mapping):
        raise SchemaError("<root>", f"expected a JSON object, got {type(mapping).__name__}")
    _reject_unknown_keys(mapping, _TOP_KEYS, "")
    name = _required_str(mapping, "name", "name")
    description = _optional_str(mapping, "description", "description")
    problem_type = _required_str(mapping, "problemType", "problemType")
    if problem_type not in PROBLEM_TYPES:
        raise SchemaError("problemType", f"{problem_type!r} is not supported (supported: {', '.join(PROBLEM_TYPES)})")

    raw_columns = mapping.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        raise SchemaError("columns", "must be a non-empty list of column objects")
    columns = tuple(_parse_column(raw, f"columns[{i}]") for i, raw in enumerate(raw_columns))
    _check_unique_names(columns)

    target_name = _required_str(mapping, "target", "target")
    target = _check_target(columns, target_name)
    if not any(c.role == "feature" for c in columns):
        raise SchemaError("columns", "no column has role 'feature': there is nothing to learn from")
    _check_time(columns)
    if "positiveLabel" not in mapping:
        raise SchemaError("positiveLabel", "is required")
    positive = _coerce_label(target, mapping["positiveLabel"])
    quality = _parse_quality(mapping.get("quality", {}))
    return DatasetSchema(
        name=name,
        problem_type=problem_type,
        target=target_name,
        positive_label=positive,
        columns=columns,
        quality=quality,
        description=description,
    )


def _parse_column(raw: Any, where: str) -> Column:
    if not isinstance(raw, Mapping):
        raise SchemaError(where, f"expected a column object, got {type(raw).__name__}")
    name = _required_str(raw, "name", f"{where}.name")
    where = f"{where} ({name})"
    _reject_unknown_keys(raw, _COLUMN_KEYS, where)
    ctype = _required_str(raw, "type", f"{where}.type")
    if ctype not in COLUMN_TYPES:
        raise SchemaError(f"{where}.type", f"unknown type {ctype!r} (known: {', '.join(COLUMN_TYPES)})")
    role = raw.get("role", "feature")
    if role not in ROLES:
        raise SchemaError(f"{where}.role", f"unknown role {role!r} (known: {', '.join(ROLES)})")
    if role == "feature" and ctype == "string":
        raise SchemaError(
            f"{where}.type",
            "a 'string' column is free text and cannot be a feature: make it 'categorical' "
            "with its categories, or give it role 'id', 'leak' or (for ISO-8601 timestamps) 'time'",
        )
    if role == "time" and ctype not in TIME_TYPES:
        raise SchemaError(
            f"{where}.type",
            f"a time column must be {', '.join(TIME_TYPES)} (numbers are epoch seconds, strings ISO-8601), "
            f"not {ctype!r}",
        )
    nullable = _optional_bool(raw, "nullable", f"{where}.nullable")
    if role == "time" and nullable:
        # A row without a time could be neither ordered nor placed in a "last D days" window.
        raise SchemaError(f"{where}.nullable", "a time column cannot be nullable: every row needs its time")
    unique = _optional_bool(raw, "unique", f"{where}.unique")
    low = _optional_number(raw, "min", f"{where}.min")
    high = _optional_number(raw, "max", f"{where}.max")
    if (low is not None or high is not None) and ctype not in NUMERIC_TYPES:
        raise SchemaError(f"{where}.min", f"min/max only apply to numeric columns, not {ctype!r}")
    if low is not None and high is not None and low > high:
        raise SchemaError(f"{where}.min", f"min {low!r} is greater than max {high!r}")
    categories = _parse_categories(raw, ctype, role, f"{where}.categories")
    return Column(
        name=name,
        type=ctype,
        role=role,
        nullable=nullable,
        min=low,
        max=high,
        categories=categories,
        unique=unique,
        description=_optional_str(raw, "description", f"{where}.description"),
    )


def _parse_categories(raw: Mapping[str, Any], ctype: str, role: str, where: str) -> tuple[Value, ...] | None:
    needed = ctype == "categorical" or role == "target"
    if role == "time" and "categories" in raw:
        raise SchemaError(where, "categories do not apply to a time column")
    if "categories" not in raw:
        if needed:
            raise SchemaError(where, f"is required for {'the target' if role == 'target' else ctype} columns")
        return None
    values = raw["categories"]
    if not isinstance(values, list) or not values:
        raise SchemaError(where, "must be a non-empty list")
    if ctype == "integer":
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise SchemaError(where, "categories of an integer column must be integers")
        parsed: tuple[Value, ...] = tuple(values)
    elif ctype == "categorical":
        # CSV fields are text, so categories are compared as text: 1 and "1" are the same category.
        if any(isinstance(v, bool) or not isinstance(v, str | int) for v in values):
            raise SchemaError(where, "categories of a categorical column must be strings (or integers)")
        parsed = tuple(str(v) for v in values)
    else:
        raise SchemaError(where, f"categories do not apply to {ctype!r} columns")
    if len(set(parsed)) != len(parsed):
        raise SchemaError(where, f"duplicate categories in {list(parsed)!r}")
    return parsed


def _check_unique_names(columns: tuple[Column, ...]) -> None:
    seen: set[str] = set()
    for i, c in enumerate(columns):
        if c.name in seen:
            raise SchemaError(f"columns[{i}].name", f"duplicate column name {c.name!r}")
        seen.add(c.name)


def _check_time(columns: tuple[Column, ...]) -> None:
    times = [i for i, c in enumerate(columns) if c.is_time]
    if len(times) > 1:
        raise SchemaError(f"columns[{times[1]}].role", f"at most one column may have role 'time', found {len(times)}")


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 timestamp as an aware UTC datetime (a naive timestamp is taken to be UTC).

    Standard library only (``datetime.fromisoformat``, which reads ISO-8601 including a ``Z``
    suffix since Python 3.11), so the validate Lambda and the training job agree on what a
    timestamp is. Raises ``ValueError`` for anything else.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected ISO-8601 text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped or not stripped[0].isdigit():
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp")
    moment = datetime.fromisoformat(stripped)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _check_target(columns: tuple[Column, ...], target_name: str) -> Column:
    targets = [c for c in columns if c.role == "target"]
    if len(targets) != 1:
        raise SchemaError("columns", f"exactly one column must have role 'target', found {len(targets)}")
    target = targets[0]
    if target.name != target_name:
        raise SchemaError("target", f"{target_name!r} is not the column with role 'target' ({target.name!r})")
    if target.type not in ("integer", "categorical"):
        raise SchemaError("target", f"a classification target must be integer or categorical, not {target.type!r}")
    if target.nullable:
        raise SchemaError("target", "the target cannot be nullable: an unlabelled row cannot be trained on")
    assert target.categories is not None  # _parse_categories requires them for the target
    if len(target.categories) != 2:
        raise SchemaError(
            "target",
            f"binary_classification needs exactly two target categories, got {list(target.categories)!r}",
        )
    return target


def _coerce_label(target: Column, label: Any) -> Value:
    if isinstance(label, bool) or not isinstance(label, str | int | float):
        raise SchemaError("positiveLabel", f"must be a string or an integer, got {label!r}")
    try:
        # Through the column's own parser, so 1, "1" and 1.0 all become the value a CSV row would hold.
        value = target.parse(str(label))
    except ValueError as exc:
        raise SchemaError("positiveLabel", str(exc)) from exc
    assert target.categories is not None
    if value not in target.categories:
        raise SchemaError("positiveLabel", f"{label!r} is not one of the target categories {list(target.categories)!r}")
    return value


def _parse_quality(raw: Any) -> QualityRules:
    if not isinstance(raw, Mapping):
        raise SchemaError("quality", f"expected an object, got {type(raw).__name__}")
    _reject_unknown_keys(raw, frozenset(_QUALITY_KEYS), "quality")
    values: dict[str, Any] = {}
    for key, attr in _QUALITY_KEYS.items():
        if key not in raw:
            continue
        value = raw[key]
        where = f"quality.{key}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(where, f"must be a number, got {value!r}")
        if key == "minRows":
            if not isinstance(value, int) or value < 1:
                raise SchemaError(where, f"must be a positive integer, got {value!r}")
        elif not 0.0 <= value <= 1.0:
            raise SchemaError(where, f"must be a fraction between 0 and 1, got {value!r}")
        values[attr] = value
    rules = QualityRules(**values)
    if rules.min_positive_fraction > rules.max_positive_fraction:
        raise SchemaError("quality.minPositiveFraction", "is greater than maxPositiveFraction")
    return rules


def _reject_unknown_keys(raw: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SchemaError(
            f"{where}.{unknown[0]}" if where else unknown[0],
            f"unknown key(s) {unknown!r} (known: {', '.join(sorted(known))})",
        )


def _required_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SchemaError(where, "is required and must be a non-empty string")
    return value


def _optional_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise SchemaError(where, f"must be a string, got {type(value).__name__}")
    return value


def _optional_bool(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise SchemaError(where, f"must be true or false, got {value!r}")
    return value


def _optional_number(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    if key not in raw or raw[key] is None:
        return None
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SchemaError(where, f"must be a finite number, got {value!r}")
    return value
