"""Property: on random small files the columnar validator reports what a plain per-row reference does.

The reference reads the file with the strict csv module (going on after a malformed record) and
checks each field with ``Column.parse``: the semantics the columnar validator must keep, whichever
of its read paths (typed, text, stdlib) a block takes. Tiny blocks and a tiny key budget make the
files cross block boundaries and spill their keys.
"""

from __future__ import annotations

import csv
import io
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.validate.checks import MAX_EXAMPLES, dataset_failures, header_failures, validate_csv
from functions.validate.columnar import Limits
from pipelines.schema import parse_schema

SCHEMA = parse_schema(
    {
        "name": "random",
        "problemType": "binary_classification",
        "target": "y",
        "positiveLabel": 1,
        "columns": [
            {"name": "i", "type": "integer", "min": -50, "max": 50, "nullable": True, "unique": True},
            {"name": "f", "type": "float", "min": -1000, "max": 1000},
            {"name": "c", "type": "categorical", "categories": ["a", "b", "x y", "p,q"]},
            {"name": "s", "type": "string", "role": "id"},
            {"name": "t", "type": "string", "role": "time"},
            {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
        ],
        "quality": {
            "minRows": 3,
            "maxNullFraction": 0.5,
            "maxDuplicateRowFraction": 0.2,
            "minPositiveFraction": 0.1,
            "maxPositiveFraction": 0.9,
        },
    }
)
NAMES = list(SCHEMA.column_names)

NUMBERS = ["0", "1", "-3", "+7", "007", "-0", "1.0", "2.5", ".5", "1.", "1e1", "1E-2", "1e400", "12.5", "99"]
ODD = ["", " ", "  4 ", "\t5", "nan", "inf", "-inf", "0x1f", "1_0", "\u0663", "\u0661.\u0665", "12345678901234567890"]
TEXT = ["a", "b", "x y", "p,q", "A", "a ", 'say "hi"', "two\nlines", "cr\r\nlf", "\u00e9", ""]
TIMES = ["2026-03-01T10:00:00Z", "2026-03-01T12:30:00+02:00", "2026-02-28 23:59:59", "2026-03-01", "yesterday", ""]
LABELS = ["0", "1", "1", "0", "2", "", "1.0", "x"]

field_values = {
    "i": st.sampled_from(NUMBERS + ODD) | st.integers(-60, 60).map(str),
    "f": st.sampled_from(NUMBERS + ODD) | st.floats(-2000, 2000, allow_nan=False).map(repr),
    "c": st.sampled_from(TEXT),
    "s": st.sampled_from(TEXT) | st.text('ab,"\n ', max_size=4),
    "t": st.sampled_from(TIMES),
    "y": st.sampled_from(LABELS),
}


def quote(value: str, always: bool) -> str:
    if always or any(ch in value for ch in ',"\r\n') or value.startswith(" "):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def files(draw) -> str:
    order = draw(st.permutations(NAMES))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    quote_all = draw(st.booleans())
    lines = [",".join(quote(n, quote_all) for n in order)]
    rows: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["row"] * 12 + ["repeat", "blank", "short", "long", "malformed"]))
        if kind == "repeat" and rows:
            rows.append(draw(st.sampled_from(rows)))
            lines.append(rows[-1])
            continue
        if kind == "blank":
            lines.append("")
            continue
        if kind == "malformed":
            lines.append('1,"x"y,' + ",".join(["0"] * (len(NAMES) - 2)))
            continue
        values = [quote(draw(field_values[n]), quote_all and draw(st.booleans())) for n in order]
        if kind == "short":
            values = values[: draw(st.integers(1, len(values) - 1))]
        elif kind == "long":
            values.append("extra")
        rows.append(",".join(values))
        lines.append(rows[-1])
    text = newline.join(lines)
    return text + (newline if draw(st.booleans()) else "")


def reference(text: str) -> dict:
    """The report's substance, one row at a time with the csv module and Column.parse."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = next(reader)
    position = {name: header.index(name) for name in NAMES}
    tallies: dict[tuple[str, str | None], list] = {}

    def tally(check: str, column: str | None, line: int, example: str) -> None:
        entry = tallies.setdefault((check, column), [0, [], []])
        entry[0] += 1
        if len(entry[1]) < MAX_EXAMPLES:
            entry[1].append(line)
            entry[2].append(example)

    rows = positives = duplicates = 0
    seen_rows: set[str] = set()
    seen_ids: set[int] = set()
    stats = {n: {"values": 0, "nulls": 0, "low": math.inf, "high": -math.inf} for n in NAMES}
    times: list[tuple[float, str]] = []
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:
            tally("malformed_csv", None, reader.line_num, "")
            continue
        if not fields:
            continue
        line = reader.line_num
        rows += 1
        if len(fields) != len(header):
            tally("row_width", None, line, f"{len(fields)} fields")
        key = "\0".join(fields)
        duplicates += key in seen_rows
        seen_rows.add(key)
        for column in SCHEMA.columns:
            raw = fields[position[column.name]] if position[column.name] < len(fields) else ""
            try:
                value = column.parse(raw)
            except ValueError:
                tally("type", column.name, line, raw)
                continue
            if value is None:
                tally("nulls", column.name, line, raw)
                stats[column.name]["nulls"] += 1
                continue
            stats[column.name]["values"] += 1
            if column.is_numeric:
                number = float(value)
                stats[column.name]["low"] = min(stats[column.name]["low"], number)
                stats[column.name]["high"] = max(stats[column.name]["high"], number)
                if (column.min is not None and number < column.min) or (column.max is not None and number > column.max):
                    tally("range", column.name, line, raw)
            if column.categories is not None and value not in column.categories:
                tally("categories", column.name, line, raw)
            if column.unique:
                if value in seen_ids:
                    tally("unique", column.name, line, raw)
                seen_ids.add(value)
            if column.is_time:
                times.append((column.time_key(value), value))
            if column.name == SCHEMA.target and value == SCHEMA.positive_label:
                positives += 1
    failures = [(f.check, f.column, f.count, f.lines, f.examples) for f in header_failures(header, SCHEMA)]
    order = ["malformed_csv", "row_width"]
    failures += [(c, None, *tallies[(c, None)]) for c in order if (c, None) in tallies]
    for column in SCHEMA.columns:
        for check in ("type", "nulls", "range", "categories", "unique"):
            entry = tallies.get((check, column.name))
            if entry and not (check == "nulls" and column.nullable and entry[0] / rows <= 0.5):
                failures.append((check, column.name, *entry))
    dataset = dataset_failures(SCHEMA, rows, positives, duplicates, True)
    if ("malformed_csv", None) in tallies:
        dataset = [f for f in dataset if f.check not in ("min_rows", "label_balance")]
    failures += [(f.check, f.column, f.count, f.lines, f.examples) for f in dataset]
    first = min(times, key=lambda t: t[0]) if times else None  # min/max keep the first of equal keys
    last = max(times, key=lambda t: t[0]) if times else None
    return {
        "rows": rows,
        "positives": positives,
        "duplicates": duplicates,
        "failures": failures,
        "stats": stats,
        "time_range": {"min": first[1], "max": last[1]} if first and last else None,
    }


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=files(),
    block_bytes=st.sampled_from([48, 200, 1 << 20]),
    memory=st.sampled_from([64, 1 << 20]),
    bits=st.integers(1, 3),
)
def test_columnar_verdict_matches_the_row_by_row_reference(text, block_bytes, memory, bits):
    expected = reference(text)
    limits = Limits(block_bytes=block_bytes, hash_memory_bytes=memory, partition_bits=bits)
    result = validate_csv(io.StringIO(text, newline=""), SCHEMA, limits=limits)
    got = [(f.check, f.column, f.count, f.lines, f.examples) for f in result.failures]
    got = [
        (c, col, n, lines, examples if c != "malformed_csv" else [""] * len(lines))
        for c, col, n, lines, examples in got
    ]
    assert got == expected["failures"]
    assert (result.rows, result.positives, result.duplicate_rows) == (
        expected["rows"],
        expected["positives"],
        expected["duplicates"],
    )
    assert result.valid == (not expected["failures"])
    assert result.time_range == expected["time_range"]
    for name, profile in result.columns.items():
        stats = expected["stats"][name]
        assert (profile["values"], profile["nulls"]) == (stats["values"], stats["nulls"]), name
        if "min" in profile:
            assert (profile["min"], profile["max"]) == (stats["low"], stats["high"]), name
