"""Prediction traffic for the demo, built from the dataset through its schema.

Requests are headerless CSV rows of the schema's features in schema order (the inference
contract). The drift phase's shift is generic, not tied to a dataset: it moves the first
`count` numeric features of the schema up by `sigmas` of their standard deviation in the data
(for the AI4I data: air and process temperature, +1 standard deviation each, the direction in
which those temperatures really drift later in the file).
"""

from __future__ import annotations

import csv
import io
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.schema import DatasetSchema


@dataclass(frozen=True)
class Shift:
    features: tuple[str, ...]
    offsets: tuple[float, ...]
    sigmas: float

    def describe(self) -> str:
        moves = ", ".join(f"{name} {offset:+.3g}" for name, offset in zip(self.features, self.offsets, strict=True))
        return f"+{self.sigmas:g} standard deviation on {len(self.features)} feature(s): {moves}"


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sample_rows(rows: Sequence[dict[str, str]], count: int, seed: int) -> list[dict[str, str]]:
    generator = random.Random(seed)
    return generator.sample(list(rows), min(count, len(rows)))


def write_csv(rows: Sequence[dict[str, str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plan_shift(schema: DatasetSchema, rows: Sequence[dict[str, str]], *, count: int = 2,
               sigmas: float = 1.0) -> Shift:
    names = tuple(column.name for column in schema.numeric_features[:count])
    offsets = []
    for name in names:
        values = [float(row[name]) for row in rows if row.get(name) not in (None, "")]
        offsets.append(sigmas * statistics.pstdev(values))
    return Shift(features=names, offsets=tuple(offsets), sigmas=sigmas)


def apply_shift(rows: Iterable[dict[str, str]], shift: Shift) -> list[dict[str, str]]:
    shifted = []
    for row in rows:
        moved = dict(row)
        for name, offset in zip(shift.features, shift.offsets, strict=True):
            moved[name] = f"{float(row[name]) + offset:.4f}"
        shifted.append(moved)
    return shifted


def csv_requests(schema: DatasetSchema, rows: Sequence[dict[str, str]], batch_size: int) -> list[bytes]:
    """Headerless CSV request bodies of the feature columns, `batch_size` rows each."""
    names = schema.feature_names
    bodies = []
    for start in range(0, len(rows), batch_size):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in rows[start:start + batch_size]:
            writer.writerow([row[name] for name in names])
        bodies.append(buffer.getvalue().encode("utf-8"))
    return bodies
