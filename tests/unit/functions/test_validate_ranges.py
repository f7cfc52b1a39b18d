"""Byte-range planning and line alignment of the distributed validation (functions/validate/distributed.py)."""

from __future__ import annotations

import pytest

from functions.validate.distributed import _QuoteParity, align_range, plan_ranges


def _owned(data: bytes, start: int, end: int, chunk: int = 3) -> bytes:
    """What the part of ``[start, end)`` reads, fed as a ranged GetObject from ``start - 1`` would be."""
    offset = max(start - 1, 0)
    body = data[offset:]
    return b"".join(align_range(iter([body[i : i + chunk] for i in range(0, len(body), chunk)]), start, end))


def test_ranges_cover_the_object_once_in_order():
    assert plan_ranges(10, 4) == [
        {"index": 0, "start": 0, "end": 4},
        {"index": 1, "start": 4, "end": 8},
        {"index": 2, "start": 8, "end": 10},
    ]
    assert plan_ranges(8, 4)[-1] == {"index": 1, "start": 4, "end": 8}
    assert plan_ranges(0, 4) == [{"index": 0, "start": 0, "end": 0}]
    with pytest.raises(ValueError):
        plan_ranges(10, 0)


DATA = b"h1,h2\naa,1\nbbbb,2\nc,3\n"  # lines start at 0, 6, 11, 18


@pytest.mark.parametrize("chunk", [1, 2, 5, 64])
@pytest.mark.parametrize("part_bytes", [1, 2, 3, 5, 6, 7, 11, 12, 100])
def test_every_line_is_read_by_exactly_one_range(part_bytes, chunk):
    parts = [_owned(DATA, r["start"], r["end"], chunk) for r in plan_ranges(len(DATA), part_bytes)]
    assert b"".join(parts) == DATA
    for part in parts:
        assert part == b"" or part.endswith(b"\n")


def test_a_range_starting_at_a_line_start_owns_that_line():
    assert _owned(DATA, 6, 11) == b"aa,1\n"  # byte 5 is the line break before


def test_a_range_starting_just_after_a_line_start_skips_to_the_next_line():
    assert _owned(DATA, 7, 12) == b"bbbb,2\n"  # the line at 11 starts inside, and is read past 12


def test_a_range_ending_just_before_a_line_break_reads_its_last_line_to_the_end():
    assert _owned(DATA, 0, 10) == b"h1,h2\naa,1\n"


def test_a_range_ending_just_after_a_line_break_stops_there():
    assert _owned(DATA, 0, 11) == b"h1,h2\naa,1\n"


def test_a_range_with_no_full_line_owns_nothing():
    assert _owned(DATA, 12, 17) == b""  # inside "bbbb,2": the next line starts at 18


def test_crlf_line_ends():
    data = b"h\r\na\r\nbb\r\n"  # lines start at 0, 3, 6
    assert _owned(data, 2, 4) == b"a\r\n"  # starts between \r and \n: the line at 3 is its first
    assert _owned(data, 3, 5) == b"a\r\n"
    parts = [_owned(data, r["start"], r["end"], 1) for r in plan_ranges(len(data), 2)]
    assert b"".join(parts) == data


def test_a_last_line_without_a_line_break_is_read_to_the_end():
    data = b"h\na\nbbb"
    assert _owned(data, 3, 5) == b"bbb"
    assert b"".join(_owned(data, r["start"], r["end"]) for r in plan_ranges(len(data), 2)) == data


def test_quote_parity_finds_a_quoted_line_break_only():
    plain = _QuoteParity()
    for chunk in (b'a,"x,y"\n', b'b,"say ""hi"""\n', b"c,d\n"):
        plain.feed(chunk)
    assert not plain.quoted_break
    split = _QuoteParity()
    for chunk in (b'a,"line one', b'\nline two"\n'):
        split.feed(chunk)
    assert split.quoted_break
