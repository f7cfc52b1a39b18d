"""Parsing 100,000 captured rows, and judging them: the drift Lambda's work at scale, before and after.

The drift Lambda reads a window's SageMaker data-capture JSON lines into feature columns
(``functions.drift.capture.CaptureWindow``) and judges them (``pipelines.drift.assess_drift``). This
builds 100,000 captured rows of the AI4I data in file order (the 10,000 rows ten times over) in the
shapes the endpoint sees -- one row per request, the demo's 50-row CSV requests, 50-row JSON
instances -- and prints, per shape, the median wall time over ``--runs`` runs of

* the parse before (the per-value parser the package had, kept below as the peer) and after;
* ``assess_drift`` on the parsed window, with the categorical path before (a key function run twice
  per value, kept below) and after, against a baseline of a random 8,000 rows.

Every run also checks that before and after give identical columns, predictions, counters and
reports, so a speed-up can never hide a change of result.

    python benchmarks/drift_capture_parse.py [--runs 5] [--rows 100000]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import functools
import io
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from functions.drift.capture import CSV_TYPE, JSON_TYPE, CaptureWindow  # noqa: E402
from mlops.local.context import base_context  # noqa: E402
from pipelines.drift import verdict  # noqa: E402
from pipelines.drift.baseline import build_baseline  # noqa: E402
from pipelines.drift.stats import (  # noqa: E402
    CategoryProportions,
    category_key,
    chi_square,
    psi,
)
from pipelines.schema import Column, DatasetSchema, load_schema  # noqa: E402

MAX_PROBLEMS_KEPT = 10

# ----------------------------------------------------------------------------------------------------
# The peer: the capture parser as functions/drift/capture.py had it (one _typed call per value).
# ----------------------------------------------------------------------------------------------------


def _old_media_type(value: str | None) -> str:
    return (value or "").split(",")[0].split(";")[0].strip().lower()


def _old_decode_payload(part: Mapping[str, Any]) -> tuple[str, str]:
    """``(media type, text)`` of a capture ``endpointInput``/``endpointOutput`` block."""
    encoding = str(part.get("encoding", "")).upper()
    data = part.get("data")
    if not isinstance(data, str):
        raise ValueError("capture payload has no 'data' text")
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8-sig")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"BASE64 payload does not decode to UTF-8 text: {exc}") from exc
    elif encoding not in {"CSV", "JSON"}:
        raise ValueError(f"unknown capture encoding {encoding!r}")
    media = _old_media_type(part.get("observedContentType"))
    if not media:  # SageMaker always records it; infer from the encoding for hand-made captures
        media = JSON_TYPE if encoding == "JSON" else CSV_TYPE
    return media, data


def _old_csv_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]


def _old_parse_inputs(media: str, text: str, features: Sequence[Column]) -> list[list[Any]]:
    """Rows of raw feature values in ``features`` order; raises ValueError for an unusable request."""
    names = [c.name for c in features]
    if media == CSV_TYPE:
        rows: list[Any] = _old_csv_rows(text)
    elif media == JSON_TYPE:
        payload = json.loads(text)
        if isinstance(payload, Mapping):
            payload = payload.get("instances")
        if not isinstance(payload, list):
            raise ValueError('JSON input must be {"instances": [...]} or a list')
        rows = payload
    else:
        raise ValueError(f"unsupported input content type {media!r}")
    header: list[str] | None = None
    if rows and isinstance(rows[0], list) and all(isinstance(c, str) for c in rows[0]):
        cells = [c.strip() for c in rows[0]]
        if set(names) <= set(cells):
            header, rows = cells, rows[1:]
    out: list[list[Any]] = []
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            out.append([row.get(n) for n in names])
        elif isinstance(row, list):
            if header is not None:
                if len(row) != len(header):
                    raise ValueError(f"row {i}: {len(row)} values under a header of {len(header)}")
                by_name = dict(zip(header, row, strict=True))
                out.append([by_name.get(n) for n in names])
            elif len(row) == len(names):
                out.append(list(row))
            else:
                raise ValueError(f"row {i}: {len(row)} values, expected {len(names)} features")
        else:
            raise ValueError(f"row {i}: expected an object or an array, got {type(row).__name__}")
    return out


def _old_parse_outputs(media: str, text: str) -> list[float]:
    """Positive-class probabilities from a JSON ``{"predictions": [{"probability"}]}`` or CSV body."""
    if media == JSON_TYPE:
        payload = json.loads(text)
        items = payload.get("predictions") if isinstance(payload, Mapping) else payload
        if not isinstance(items, list):
            raise ValueError('JSON output must be {"predictions": [...]}')
        return [float(item["probability"] if isinstance(item, Mapping) else item) for item in items]
    if media == CSV_TYPE:
        return [float(row[0]) for row in _old_csv_rows(text)]
    raise ValueError(f"unsupported output content type {media!r}")


def _old_typed(column: Column, value: Any) -> Any:
    """Numeric features as floats (``None`` when unusable), categorical ones as their text."""
    if value is None:
        return None
    if column.is_numeric:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
        try:
            parsed = column.parse(str(value))
        except ValueError:
            return None
        return None if parsed is None else float(parsed)
    # Categories are compared as text by the drift statistics; a nested value is kept visible as JSON.
    return json.dumps(value) if isinstance(value, list | dict) else value


@dataclass
class OldCaptureWindow:
    """Feature columns (by name) and predictions accumulated from capture lines."""

    features: Sequence[Column]
    columns: dict[str, list[Any]] = field(init=False)
    predictions: list[float] = field(default_factory=list)
    requests: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    unmatched_predictions: int = 0

    def __post_init__(self) -> None:
        self.columns = {c.name: [] for c in self.features}

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def _problem(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(f"{where}: {why}")

    def add_lines(self, lines: Iterable[str | bytes], source: str) -> None:
        for number, line in enumerate(lines, start=1):
            if isinstance(line, bytes):
                line = line.decode("utf-8", errors="replace")
            if line.strip():
                self.add_record(line, f"{source}:{number}")

    def add_record(self, line: str, where: str) -> None:
        """Add one capture line; a request that cannot be read is skipped as a whole."""
        try:
            record = json.loads(line)
            capture = record["captureData"]
            rows = _old_parse_inputs(*_old_decode_payload(capture["endpointInput"]), self.features)
            output = capture.get("endpointOutput")
            predictions = _old_parse_outputs(*_old_decode_payload(output)) if output else []
        except (ValueError, KeyError, TypeError) as exc:
            self._problem(where, f"{type(exc).__name__}: {exc}")
            return
        self.requests += 1
        for row in rows:
            for column, value in zip(self.features, row, strict=True):
                self.columns[column.name].append(_old_typed(column, value))
        if len(predictions) != len(rows):
            self.unmatched_predictions += 1
        self.predictions.extend(p for p in predictions if p == p)  # drop NaN


# ----------------------------------------------------------------------------------------------------
# The peer: the categorical path of the verdict as it was (category_key twice per value).
# ----------------------------------------------------------------------------------------------------


def _old_categorical_proportions(values: Iterable[Any], categories: Sequence[Any]) -> CategoryProportions:
    keys = [category_key(c) for c in categories]
    if any(k is None for k in keys) or len(set(keys)) != len(keys):
        raise ValueError(f"categories must be distinct and non-empty, got {list(categories)!r}")
    texts = np.asarray([str(category_key(v)) for v in values], dtype=np.str_)
    if texts.size == 0:
        raise ValueError("values is empty")
    distinct, counts_of_distinct = np.unique(texts, return_counts=True)
    position = {k: i for i, k in enumerate(keys)}
    slots = np.fromiter((position.get(str(d), len(keys)) for d in distinct), dtype=np.int64)
    counts = np.bincount(slots, weights=counts_of_distinct, minlength=len(keys) + 1).astype(np.int64)
    return CategoryProportions(proportions=counts / texts.size, counts=counts, unseen=distinct[slots == len(keys)])


def _old_categorical(
    self: Any, name: str, spec: Mapping[str, Any], column: Sequence[Any] | None
) -> verdict.FeatureDrift:
    if column is None:
        return verdict._absent(name, "categorical")
    keys = [k for k in (category_key(v) for v in column) if k is not None]
    missing_fraction = verdict._fraction(self.records - len(keys), self.records)
    if not keys:
        return verdict._empty(name, "categorical", missing_fraction)
    baseline_shares: Mapping[str, float] = spec["proportions"]
    window = _old_categorical_proportions(keys, list(baseline_shares))
    expected = np.append(np.asarray(list(baseline_shares.values()), dtype=np.float64), 0.0)
    feature_psi = psi(expected, window.proportions)
    test = chi_square(window.counts, expected)
    unseen = tuple(str(u) for u in window.unseen)
    large = feature_psi >= self.config.min_psi
    effect = f"PSI {feature_psi:.3g} ({'reaches' if large else 'below'} min PSI {self.config.min_psi:g})"
    if unseen:
        effect += f"; {int(window.counts[-1])} value(s) of unseen categories {list(unseen)[:5]!r}"
    drifted, reason = self._decide(len(keys), "chi-square", test.pvalue, large, effect)
    return verdict.FeatureDrift(
        name=name,
        kind="categorical",
        psi=feature_psi,
        ks_statistic=None,
        ks_pvalue=None,
        chi2_statistic=test.statistic,
        chi2_pvalue=test.pvalue,
        pvalue=test.pvalue,
        drifted=drifted,
        reason=reason,
        missing_fraction=missing_fraction,
        values=len(keys),
        window_proportions=tuple(float(p) for p in window.proportions),
        unseen_categories=unseen,
    )


@contextmanager
def old_categorical_path() -> Any:
    saved = verdict._Judge.categorical
    verdict._Judge.categorical = _old_categorical  # type: ignore[method-assign]
    try:
        yield
    finally:
        verdict._Judge.categorical = saved  # type: ignore[method-assign]


# ----------------------------------------------------------------------------------------------------
# Data and measurement
# ----------------------------------------------------------------------------------------------------


def capture_lines(
    schema: DatasetSchema, rows: list[dict[str, str]], total: int, per_request: int, style: str
) -> list[bytes]:
    """``total`` rows of ``rows`` in file order (cycled) as capture lines of ``per_request`` rows each."""
    names = list(schema.feature_names)
    lines = []
    for start in range(0, total, per_request):
        batch = [rows[i % len(rows)] for i in range(start, min(start + per_request, total))]
        if style == "csv":
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows([row[n] for n in names] for row in batch)
            endpoint_input = {
                "observedContentType": CSV_TYPE,
                "mode": "INPUT",
                "data": buffer.getvalue(),
                "encoding": "CSV",
            }
        else:
            instances = [{n: (row[n] if n == "Type" else float(row[n])) for n in names} for row in batch]
            endpoint_input = {
                "observedContentType": JSON_TYPE,
                "mode": "INPUT",
                "data": json.dumps({"instances": instances}),
                "encoding": "JSON",
            }
        probabilities = [round((start + i) % 97 / 97, 6) for i in range(len(batch))]
        output = json.dumps({"predictions": [{"probability": p, "label": int(p >= 0.5)} for p in probabilities]})
        record = {
            "captureData": {
                "endpointInput": endpoint_input,
                "endpointOutput": {
                    "observedContentType": JSON_TYPE,
                    "mode": "OUTPUT",
                    "data": output,
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": f"{start:08d}", "inferenceTime": "2026-11-12T17:00:00Z"},
            "eventVersion": "0",
        }
        lines.append(json.dumps(record).encode("utf-8"))
    return lines


def paired_medians(before: Callable[[], object], after: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median seconds of each task over ``runs`` runs, alternating, so a busy moment slows both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for task, sink in ((before, times[0]), (after, times[1])):
            start = time.perf_counter()
            task()
            sink.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def parse_old(schema: DatasetSchema, lines: list[bytes]) -> OldCaptureWindow:
    window = OldCaptureWindow(schema.features)
    window.add_lines(lines, "bench.jsonl")
    return window


def parse_new(schema: DatasetSchema, lines: list[bytes]) -> CaptureWindow:
    window = CaptureWindow(schema.features)
    window.add_lines(lines, "bench.jsonl")
    window.columns  # noqa: B018 -- typing the columns is part of the parse
    return window


THRESHOLDS = verdict.VerdictThresholds.from_context(base_context(REPO)["drift"])  # cdk.json, as deployed


def assess(baseline: Mapping[str, Any], window: Any, *, old_path: bool) -> verdict.DriftReport:
    if not old_path:
        return verdict.assess_drift(baseline, window.columns, window.predictions, config=THRESHOLDS)
    with old_categorical_path():
        return verdict.assess_drift(baseline, window.columns, window.predictions, config=THRESHOLDS)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (a JSON NaN is kept as NaN in a column)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def check_same_window(old: OldCaptureWindow, new: CaptureWindow) -> None:
    for name, column in old.columns.items():
        other = new.columns[name]
        if len(column) != len(other) or not all(map(_same, column, other)):
            raise AssertionError(f"column {name!r} differs between the old and the new parse")
    for attribute in ("predictions", "requests", "skipped", "problems", "unmatched_predictions", "rows"):
        if getattr(old, attribute) != getattr(new, attribute):
            raise AssertionError(f"{attribute} differs between the old and the new parse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--rows", type=int, default=100_000, help="captured rows per window")
    args = parser.parse_args()

    schema = load_schema(REPO / "schemas" / "ai4i2020.schema.json")
    with (REPO / "data" / "ai4i2020.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    training = np.random.default_rng(0).permutation(len(rows))[:8000]
    baseline = build_baseline(
        schema,
        {
            c.name: [float(rows[i][c.name]) if c.is_numeric else rows[i][c.name] for i in training]
            for c in schema.features
        },
    )

    print(f"{args.rows:,} captured rows (AI4I in file order), median of {args.runs} runs; times in ms")
    print(
        f"{'requests':<24} {'lines':>7} {'parse before':>13} {'after':>8} {'ratio':>6}"
        f" {'assess before':>14} {'after':>8} {'ratio':>6}"
    )
    for label, per_request, style in (
        ("1 row, CSV", 1, "csv"),
        ("50 rows, CSV", 50, "csv"),
        ("50 rows, JSON instances", 50, "json"),
    ):
        lines = capture_lines(schema, rows, args.rows, per_request, style)
        old, new = parse_old(schema, lines), parse_new(schema, lines)
        check_same_window(old, new)
        if assess(baseline, old, old_path=True).to_dict() != assess(baseline, new, old_path=False).to_dict():
            raise AssertionError("the report differs between the old and the new categorical path")

        parse_before, parse_after = paired_medians(
            functools.partial(parse_old, schema, lines), functools.partial(parse_new, schema, lines), args.runs
        )
        assess_before, assess_after = paired_medians(
            functools.partial(assess, baseline, old, old_path=True),
            functools.partial(assess, baseline, new, old_path=False),
            args.runs,
        )
        print(
            f"{label:<24} {len(lines):>7,} {parse_before * 1e3:>13.0f} {parse_after * 1e3:>8.0f}"
            f" {parse_before / parse_after:>5.1f}x {assess_before * 1e3:>14.1f} {assess_after * 1e3:>8.1f}"
            f" {assess_before / assess_after:>5.1f}x"
        )
    print("identical columns, predictions, counters and reports before and after: checked for every shape")


if __name__ == "__main__":
    main()
