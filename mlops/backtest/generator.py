"""A seeded, labelled data stream with known concept changes, to backtest retraining policies on.

A backtest is only informative when the truth is known: when the label's relationship to the
features changes, and whether a given alarm *should* fire. Real datasets rarely document either,
so this generator makes a stream whose changes are placed on purpose (all of it from one seed, no
data is committed):

- six numeric features and one categorical (`line`), a time column (ISO-8601, UTC) and the binary
  target `failure` (positive rate 30-40 % in every regime);
- **harmless covariate drift**: `temperature` wanders (a slow trend plus a daily cycle) but the
  label never depends on it, like the air temperature of the AI4I data: the drift check flags the
  feature, the model's predictions do not move, the verdict is `absorbed`, nothing should retrain;
- **change 1** at `CHANGE_FRACTIONS[0]` (45 % of the rows): the plant's `load` rises by one standard
  deviation *and* `vibration` replaces `pressure` as the driver of failures. The serving model's
  predictions move with the load, so the drift alarm can see this change;
- **change 2** at `CHANGE_FRACTIONS[1]` (75 %): the decision boundary rotates (`speed` now raises the
  risk instead of lowering it, `pressure` comes back with the opposite sign) while every input keeps
  its distribution. Only labels can reveal this one: no input-drift test can, by construction.

Labels are drawn as `Bernoulli(sigmoid(SHARPNESS * score))`, so even a perfect model is wrong on a
share of rows: a model fitted to the current regime reaches about 87-89 % accuracy (ROC-AUC about
0.94), a model of the previous regime about 60-70 % after a change (`tests/unit/backtest/` checks
both with a real fit).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHANGE_FRACTIONS",
    "DEFAULT_INTERVAL_MINUTES",
    "DEFAULT_ROWS",
    "DEFAULT_SEED",
    "DEFAULT_START",
    "FEATURES",
    "TARGET",
    "TIME_COLUMN",
    "GeneratedStream",
    "generate",
    "schema_document",
    "write_stream",
]

DEFAULT_ROWS = 20_000
DEFAULT_SEED = 2026
# Where the regimes change, as fractions of the stream (documented in the module docstring).
CHANGE_FRACTIONS = (0.45, 0.75)
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
# Five minutes between rows: a 1,000-row window spans ~3.5 days, so labels that arrive one window
# late still find their captured requests within the ground-truth lookback (168 h by default).
# Hourly rows would make one such window six weeks long and every delayed label "unknown".
DEFAULT_INTERVAL_MINUTES = 5
TIME_COLUMN = "time"
TARGET = "failure"
FEATURES = ("temperature", "pressure", "vibration", "load", "speed", "humidity")
LINES = ("A", "B", "C")
# Physical units for the standardised features: (mean, standard deviation, decimals).
_UNITS = {
    "temperature": (300.0, 2.0, 2),
    "pressure": (5.0, 0.8, 3),
    "vibration": (1.2, 0.3, 4),
    "load": (60.0, 12.0, 2),
    "speed": (1500.0, 150.0, 1),
    "humidity": (45.0, 10.0, 2),
}
SHARPNESS = 2.6
# Each regime's score: weights on the standardised features, a weight for line C, an intercept.
_REGIMES: tuple[dict[str, Any], ...] = (
    {"pressure": 1.5, "load": 1.2, "speed": -0.9, "lineC": 0.6, "intercept": -0.8},
    {"vibration": 1.5, "load": 1.2, "humidity": 0.6, "speed": -0.4, "lineC": 0.6, "intercept": -2.0},
    {"vibration": 1.1, "speed": 1.2, "pressure": -1.1, "load": 0.6, "lineC": -0.6, "intercept": -1.25},
)
_LOAD_SHIFT_SIGMAS = 1.0  # change 1 raises the load (standardised units)


@dataclass(frozen=True)
class GeneratedStream:
    """The stream's rows as text (CSV-ready, in column order) plus what a test needs to know."""

    columns: tuple[str, ...]
    rows: list[list[str]]
    regimes: np.ndarray  # regime index per row (0, 1, 2)
    change_rows: tuple[int, ...]  # first row of regimes 1 and 2

    def labels(self) -> np.ndarray:
        index = self.columns.index(TARGET)
        return np.array([int(row[index]) for row in self.rows])


def _regime_of(rows: int, fractions: Sequence[float]) -> tuple[np.ndarray, tuple[int, ...]]:
    changes = tuple(round(f * rows) for f in fractions)
    regime = np.zeros(rows, dtype=int)
    for number, first in enumerate(changes, start=1):
        regime[first:] = number
    return regime, changes


def generate(
    rows: int = DEFAULT_ROWS,
    *,
    seed: int = DEFAULT_SEED,
    start: datetime = DEFAULT_START,
    interval_minutes: float = DEFAULT_INTERVAL_MINUTES,
    change_fractions: Sequence[float] = CHANGE_FRACTIONS,
) -> GeneratedStream:
    """The stream, deterministic in its arguments (same seed, same bytes)."""
    if rows < 10:
        raise ValueError(f"rows must be at least 10, got {rows}")
    if interval_minutes <= 0:
        raise ValueError(f"interval_minutes must be positive, got {interval_minutes}")
    if sorted(change_fractions) != list(change_fractions) or not all(0 < f < 1 for f in change_fractions):
        raise ValueError(f"change fractions must be increasing and inside (0, 1), got {list(change_fractions)}")
    if len(change_fractions) + 1 > len(_REGIMES):
        raise ValueError(f"at most {len(_REGIMES) - 1} changes are defined")
    rng = np.random.default_rng(seed)
    regime, changes = _regime_of(rows, change_fractions)
    position = np.arange(rows) / max(rows - 1, 1)
    hours = np.arange(rows) * interval_minutes / 60.0
    z = {name: rng.standard_normal(rows) for name in FEATURES}
    # Harmless covariate drift: +2.5 standard deviations over the stream and a daily cycle.
    z["temperature"] = 0.7 * z["temperature"] + 2.5 * position + 0.5 * np.sin(2 * np.pi * hours / 24.0)
    z["load"] = z["load"] + np.where(regime >= 1, _LOAD_SHIFT_SIGMAS, 0.0)
    line = rng.choice(len(LINES), size=rows, p=[0.5, 0.3, 0.2])
    score = np.zeros(rows)
    for number, weights in enumerate(_REGIMES[: len(changes) + 1]):
        mask = regime == number
        part = np.full(mask.sum(), weights["intercept"])
        for name, weight in weights.items():
            if name in FEATURES:
                part += weight * z[name][mask]
        part += weights.get("lineC", 0.0) * (line[mask] == 2)
        score[mask] = part
    probability = 1.0 / (1.0 + np.exp(-SHARPNESS * score))
    label = (rng.uniform(size=rows) < probability).astype(int)

    columns = (TIME_COLUMN, *FEATURES, "line", TARGET)
    step = timedelta(minutes=interval_minutes)
    text_rows = []
    for i in range(rows):
        moment = start + i * step
        values = [moment.strftime("%Y-%m-%dT%H:%M:%SZ")]
        for name in FEATURES:
            mean, sd, decimals = _UNITS[name]
            values.append(f"{mean + sd * z[name][i]:.{decimals}f}")
        values.append(LINES[line[i]])
        values.append(str(label[i]))
        text_rows.append(values)
    return GeneratedStream(columns=columns, rows=text_rows, regimes=regime, change_rows=changes)


def schema_document(name: str = "backtest-stream") -> dict[str, Any]:
    """The dataset schema of the stream (README "Dataset schema"; the time column has role `time`)."""
    columns: list[dict[str, Any]] = [
        {"name": TIME_COLUMN, "type": "string", "role": "time", "description": "when the row was observed (UTC)"}
    ]
    for feature in FEATURES:
        columns.append({"name": feature, "type": "float"})
    columns[1]["description"] = "drifts over time; the label never depends on it"
    columns.append({"name": "line", "type": "categorical", "categories": list(LINES)})
    columns.append({"name": TARGET, "type": "integer", "role": "target", "categories": [0, 1]})
    return {
        "name": name,
        "description": "mlops backtest's generated stream: harmless drift and two concept changes "
        f"(at {CHANGE_FRACTIONS[0]:.0%} and {CHANGE_FRACTIONS[1]:.0%} of the rows)",
        "problemType": "binary_classification",
        "target": TARGET,
        "positiveLabel": 1,
        "columns": columns,
        # Windows of a few hundred rows are batches too (ground truth): the row minimum stays low.
        "quality": {
            "minRows": 100,
            "maxNullFraction": 0.0,
            "maxDuplicateRowFraction": 0.01,
            "minPositiveFraction": 0.05,
            "maxPositiveFraction": 0.8,
        },
    }


def write_stream(
    directory: Path,
    rows: int = DEFAULT_ROWS,
    *,
    seed: int = DEFAULT_SEED,
    interval_minutes: float = DEFAULT_INTERVAL_MINUTES,
) -> tuple[Path, Path]:
    """Write `stream.csv` and `stream.schema.json` into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stream = generate(rows, seed=seed, interval_minutes=interval_minutes)
    data = directory / "stream.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(stream.columns)
        writer.writerows(stream.rows)
    schema = directory / "stream.schema.json"
    schema.write_text(json.dumps(schema_document(), indent=2) + "\n", encoding="utf-8")
    return data, schema
