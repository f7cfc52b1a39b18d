"""The columnar validator's own guarantees: bounded memory with spilled keys, parts and merge, the read paths."""

from __future__ import annotations

import io
import itertools
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.validate.checks import validate_csv
from functions.validate.columnar import Limits, PartialResult, discard, merge, validate_part
from pipelines.schema import load_schema, parse_schema

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = load_schema(ROOT / "schemas" / "ai4i2020.schema.json")
LINES = (ROOT / "data" / "ai4i2020.csv").read_text(encoding="utf-8").splitlines()
HEADER, ROWS = LINES[0], LINES[1:]

# A small schema for generated files: a unique integer id, two numbers, a category, the label.
WIDE = parse_schema(
    {
        "name": "generated",
        "problemType": "binary_classification",
        "target": "y",
        "positiveLabel": 1,
        "columns": [
            {"name": "id", "type": "integer", "role": "id", "unique": True},
            {"name": "a", "type": "integer", "min": 0, "max": 1000},
            {"name": "b", "type": "float"},
            {"name": "kind", "type": "categorical", "categories": ["p", "q", "r"]},
            {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
        ],
        "quality": {"minRows": 10, "maxDuplicateRowFraction": 1.0},
    }
)


def generated_lines(rows: int, *, repeat_every: int = 0) -> Iterator[str]:
    """The header and ``rows`` rows, made on the fly (never held): row i's fields are a function of i.

    With ``repeat_every``, row i (i % repeat_every == 0) repeats row i - repeat_every // 2 exactly:
    a duplicate row and a repeated id whose first occurrence is far earlier in the file.
    """
    yield "id,a,b,kind,y\n"
    for i in range(1, rows + 1):
        j = i - repeat_every // 2 if repeat_every and i % repeat_every == 0 else i
        yield f"{j},{j % 1000},{j * 0.25},{'pqr'[j % 3]},{int(j % 7 == 0)}\n"


def run(text: str, schema=SCHEMA, **limits):
    return validate_csv(io.StringIO(text, newline=""), schema, limits=Limits(**limits) if limits else None)


def found(result) -> dict[tuple[str, str | None], object]:
    return {(f.check, f.column): f for f in result.failures}


def edit(row: str, column: str, value: str) -> str:
    fields = row.split(",")
    fields[SCHEMA.column_names.index(column)] = value
    return ",".join(fields)


def body(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# -- memory: keys spill past the budget, and the count is still exact -------------------------


def test_a_file_many_times_the_hash_budget_spills_and_finds_every_repeat(tmp_path):
    rows, every = 60_000, 1000  # 24 B row keys + 88 B id keys per row: ~6.7 MB of keys for a 1 MiB budget
    limits = Limits(block_bytes=32 << 10, hash_memory_bytes=1 << 20, partition_bits=2, spill_dir=str(tmp_path))
    part = validate_part(generated_lines(rows, repeat_every=every), WIDE, limits=limits, spill_all=False)
    assert part.spill is not None and Path(part.spill).is_dir()  # keys went to disk
    assert sum(p.stat().st_size for p in Path(part.spill).rglob("*.keys")) > 5 * (1 << 20)
    try:
        result = merge([part], WIDE, limits=limits)
    finally:
        discard([part])
    assert not any(tmp_path.iterdir())  # spilled partitions and re-split scratch are removed

    repeats = rows // every
    assert result.rows == rows
    assert result.duplicate_rows == repeats
    unique = found(result)[("unique", "id")]
    assert unique.count == repeats
    assert unique.lines == [1 + every * k for k in range(1, 6)]  # row i is on line i + 1
    assert unique.examples == [str(every * k - every // 2) for k in range(1, 6)]
    assert result.columns["id"]["duplicates"] == repeats
    assert result.columns["a"]["values"] == rows


def test_one_row_repeated_beyond_the_budget_is_counted_in_one_pass(tmp_path):
    lines = ["id,a,b,kind,y\n", *(f"{i},1,2.5,p,0\n" for i in range(1, 101))]
    lines += ["7,1,2.5,p,0\n"] * 40_000  # one key, ~1 MB of row keys: no re-split can divide it
    limits = Limits(block_bytes=16 << 10, hash_memory_bytes=256 << 10, partition_bits=1, spill_dir=str(tmp_path))
    result = validate_csv(iter(lines), WIDE, limits=limits)
    assert result.duplicate_rows == 40_000
    assert found(result)[("unique", "id")].lines == [102, 103, 104, 105, 106]
    assert not any(tmp_path.iterdir())


def test_memory_does_not_grow_with_the_file(tmp_path):
    limits = Limits(block_bytes=32 << 10, hash_memory_bytes=512 << 10, partition_bits=3, spill_dir=str(tmp_path))
    peaks = []
    for rows in (40_000, 160_000):
        tracemalloc.start()
        result = validate_csv(generated_lines(rows, repeat_every=500), WIDE, limits=limits)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert result.rows == rows and result.duplicate_rows == rows // 500
    # 4x the rows (and 4x the ~13 MB of keys): the peak stays within the budget and the block buffers
    assert peaks[1] < 1.5 * peaks[0], peaks
    assert peaks[1] < 12 << 20, peaks


# -- parts and merge ---------------------------------------------------------------------------


def without_means(result) -> dict:
    report = result.to_dict()
    report["columns"] = {name: {k: v for k, v in p.items() if k != "mean"} for name, p in report["columns"].items()}
    return report


def split_parts(text: str, cuts: list[int]) -> list[str]:
    lines = text.splitlines(keepends=True)
    bounds = [0, *cuts, len(lines)]
    return ["".join(lines[a:b]) for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("known_lines", [True, False])
def test_parts_merge_into_the_report_of_the_whole_file(tmp_path, known_lines):
    rows = list(ROWS[:900])
    rows[10] = edit(rows[10], "Type", "X")  # an unknown category in part 1
    rows[700] = rows[3]  # a duplicate row and id across parts: first seen in part 1, repeated in part 3
    rows[450] = rows[450].replace('"', "") + ",extra"  # a ragged row in part 2
    text = body(rows)
    whole = run(text)
    limits = Limits(hash_memory_bytes=4 << 10, spill_dir=str(tmp_path))  # every part spills
    pieces = split_parts(text, [301, 601])
    header = HEADER.split(",")
    partials = []
    line = 1
    for n, piece in enumerate(pieces):
        part = validate_part(
            io.StringIO(piece, newline=""),
            SCHEMA,
            first_line=line if known_lines or n == 0 else None,
            with_header=n == 0,
            header=None if n == 0 else header,
            limits=limits,
        )
        partials.append(PartialResult.from_dict(json.loads(json.dumps(part.to_dict()))))  # JSON round trip
        line += piece.count("\n")
    merged = merge(partials, SCHEMA, limits=limits)
    discard(partials)
    assert not any(tmp_path.iterdir())
    assert without_means(merged) == without_means(whole)
    for name, profile in whole.columns.items():  # float sums in another order: equal to rounding
        assert merged.columns[name].get("mean") == pytest.approx(profile.get("mean"), rel=1e-12)
    checks = found(merged)
    assert checks[("unique", "UDI")].lines == [702]
    assert checks[("categories", "Type")].lines == [12]
    assert checks[("row_width", None)].lines == [452]
    assert merged.duplicate_rows == 1


def test_a_part_without_the_header_needs_it():
    with pytest.raises(ValueError, match="header"):
        validate_part(io.StringIO("1,2\n"), SCHEMA, with_header=False)


# -- reading: the fixed bug, malformed lines, quoting, encodings ------------------------------


def test_a_one_megabyte_field_is_a_value_not_the_end_of_the_file():
    rows = list(ROWS[:1000])
    fields = rows[100].split(",")
    fields[1] = "P" * (1 << 20)  # the string id column
    rows[100] = ",".join(fields)
    result = run(body(rows))
    assert result.valid, [f.summary() for f in result.failures]
    assert result.rows == 1000

    fields[6] = "9" * (1 << 20)  # now also in a float column: a type error, still not a short file
    rows[100] = ",".join(fields)
    result = run(body(rows))
    assert [(f.check, f.column, f.lines) for f in result.failures] == [("type", "Torque [Nm]", [102])]
    assert result.rows == 1000


def test_a_malformed_line_mid_file_is_reported_and_reading_goes_on():
    rows = list(ROWS[:1000])
    rows[500] = edit(rows[500], "Type", '"L"x')
    result = run(body(rows))
    assert [(f.check, f.lines) for f in result.failures] == [("malformed_csv", [502])]
    assert result.failures[0].message.startswith("the CSV cannot be parsed")
    assert result.rows == 999  # every other row is still read and checked
    # too few rows after a malformed line: not reported, the malformed line is the problem
    few = run(body([*rows[:150], '1,"x"y,L,1,1,1,1,1,0,0,0,0,0,0']))
    assert [f.check for f in few.failures] == ["malformed_csv"]


def test_a_line_longer_than_the_limit_is_skipped_not_buffered():
    rows = list(ROWS[:300])
    rows[30] = "x" * 5000
    result = run(body(rows), max_line_bytes=4096, block_bytes=1024)
    failure = found(result)[("malformed_csv", None)]
    assert failure.lines == [32] and "longer than 4096 bytes" in failure.message
    assert result.rows == 299
    assert [f.check for f in result.failures] == ["malformed_csv"]


@pytest.mark.parametrize("block_bytes", [64, 1000, 1 << 22])
def test_quoted_fields_with_newlines_keep_physical_lines_across_blocks(block_bytes):
    rows = list(ROWS[:400])
    for i in (0, 150, 151, 300):
        fields = rows[i].split(",")
        fields[1] = f'"P\n{i}\r\n,""q"""'  # a quoted id holding CR LF, LF, a comma and quotes
        rows[i] = ",".join(fields)
    rows[200] = edit(rows[200], "Type", "Z")
    result = run(body(rows), block_bytes=block_bytes)
    # rows 0, 150, 151 span three lines each, so row 200 is on line 2 + 200 + 3 * 2
    assert [(f.check, f.lines) for f in result.failures] == [("categories", [208])]
    assert result.rows == 400


def test_quoted_and_crlf_files_read_like_plain_ones():
    rows = ROWS[:500]
    plain = run(body(rows))
    quoted = body(['"' + r.replace(",", '","') + '"' for r in rows], '"' + HEADER.replace(",", '","') + '"')
    assert run(quoted).to_dict() == plain.to_dict()
    assert run(body(rows).replace("\n", "\r\n")).to_dict() == plain.to_dict()
    assert run("\ufeff" + body(rows)).to_dict() == plain.to_dict()  # a byte-order mark is not a header byte


def test_non_utf8_bytes_anywhere_make_the_file_unreadable():
    data = body(ROWS[:300]).encode()
    data = data[:20_000] + b"\xff" + data[20_000:]
    result = validate_csv(io.BytesIO(data), SCHEMA, limits=Limits(block_bytes=4096))
    assert [f.check for f in result.failures] == ["encoding"] and result.rows == 0
    assert "invalid start byte" in result.failures[0].message


def test_numbers_follow_column_parse_exactly():
    schema = parse_schema(
        {
            "name": "numbers",
            "problemType": "binary_classification",
            "target": "y",
            "positiveLabel": 1,
            "columns": [
                {"name": "i", "type": "integer", "nullable": True, "unique": True},
                {"name": "f", "type": "float", "nullable": True},
                {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
            ],
            "quality": {"minRows": 1, "maxNullFraction": 1.0},
        }
    )
    cases = [  # (integer field, float field, is the integer a type error, is the float one)
        ("+5", "+1.5", False, False),
        ("12.0", "1.", False, False),
        ("0x10", "0x10", True, True),  # pyarrow's parser would take 0x10 as 16
        ("1_0", "1_0", True, True),
        ("\u0663", "\u0661.\u0665", True, True),  # other scripts' digits: int() takes them, pandas does not
        (" 7 ", "\t2.5 ", False, False),
        ("1e3", "1e400", False, True),  # out of the float range
        ("nan", "inf", True, True),
        ("99999999999999999999", "-0", False, False),  # beyond int64
        ("12.5", ".5e1", True, False),
    ]
    rows = [f"{i},{f},{n % 2}" for n, (i, f, _, _) in enumerate(cases)]
    result = run("i,f,y\n" + "\n".join(rows) + "\n", schema)
    checks = found(result)
    assert checks[("type", "i")].lines == [n + 2 for n, case in enumerate(cases) if case[2]][:5]
    assert checks[("type", "i")].count == sum(case[2] for case in cases)
    assert checks[("type", "f")].count == sum(case[3] for case in cases)
    assert ("unique", "i") not in checks  # 5, 12, 3, 7, 1000 and 10**20-1 are distinct
    assert result.columns["i"]["max"] == float(99999999999999999999)


# -- the vectorised string hash: one function whichever way the bytes are laid out --------------


def test_the_string_hash_does_not_depend_on_padding_path_or_neighbours():
    import pyarrow as pa

    from functions.validate.spill import hash_strings

    values = ["", "a", "a\0", "ab", "abcdefgh", "abcdefghi", "x" * 1023, "x" * 1025, "y" * 5000, "é", "\u0663,1"]
    ascii_values = [v for v in values if v.isascii()]
    together = hash_strings(pa.array(ascii_values), ascii_only=True)  # pyarrow pads into one matrix
    gathered = hash_strings(pa.array(ascii_values))  # numpy gathers the bytes
    alone = [hash_strings(pa.array([v]), ascii_only=True) for v in ascii_values]  # other widths
    for k in range(len(ascii_values)):
        assert together[0][k] == gathered[0][k] == alone[k][0][0], ascii_values[k]
        assert together[1][k] == gathered[1][k] == alone[k][1][0], ascii_values[k]
    h1, h2 = hash_strings(pa.array(values))
    assert len({(int(a), int(b)) for a, b in zip(h1, h2, strict=True)}) == len(values)  # all distinct
    sliced = pa.array(["pad", *values])[1:]  # an array with an offset into its buffers
    assert list(hash_strings(sliced)[0]) == list(h1)


def test_a_failing_read_leaves_no_spilled_keys_behind(tmp_path):
    class Broken:
        def __init__(self) -> None:
            self.lines = generated_lines(20_000)

        def read(self, n: int) -> bytes:
            if not n:
                return b""
            chunk = "".join(line for _, line in zip(range(500), self.lines, strict=False)).encode()
            if not chunk:
                raise OSError("connection reset")
            return chunk

    limits = Limits(block_bytes=8 << 10, hash_memory_bytes=32 << 10, spill_dir=str(tmp_path))
    with pytest.raises(OSError, match="connection reset"):
        validate_csv(Broken(), WIDE, limits=limits)
    assert not any(tmp_path.iterdir())
