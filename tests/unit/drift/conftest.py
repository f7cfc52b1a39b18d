"""Shared fixtures for the drift tests: the real AI4I data, a small synthetic dataset, and the
verdict's thresholds as deployed (``cdk.json`` ``mlops.drift``: the code has no defaults of its own)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops.local.context import base_context
from pipelines.drift.verdict import VerdictThresholds
from pipelines.schema import DatasetSchema, load_schema, parse_schema

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def drift_context() -> dict[str, Any]:
    """The repository's ``cdk.json`` ``context.mlops.drift`` block, as deployed."""
    return base_context(REPO)["drift"]


@pytest.fixture(scope="session")
def thresholds(drift_context: dict[str, Any]) -> VerdictThresholds:
    """The verdict's thresholds from ``cdk.json``: what the drift function judges with once deployed."""
    return VerdictThresholds.from_context(drift_context)


@dataclass(frozen=True)
class Dataset:
    schema: DatasetSchema
    columns: dict[str, np.ndarray]  # feature columns: float arrays (numeric), object arrays (categorical)

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values())))

    def take(self, index: np.ndarray) -> dict[str, np.ndarray]:
        return {name: column[index] for name, column in self.columns.items()}


@pytest.fixture(scope="session")
def ai4i() -> Dataset:
    schema = load_schema(REPO / "schemas" / "ai4i2020.schema.json")
    with (REPO / "data" / "ai4i2020.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = {
        c.name: (
            np.array([float(r[c.name]) for r in rows])
            if c.is_numeric
            else np.array([r[c.name] for r in rows], dtype=object)
        )
        for c in schema.features
    }
    return Dataset(schema=schema, columns=columns)


SYNTHETIC_SCHEMA = {
    "name": "synthetic",
    "problemType": "binary_classification",
    "target": "y",
    "positiveLabel": 1,
    "columns": [
        {"name": "x", "type": "float"},
        {"name": "const", "type": "float"},
        {"name": "color", "type": "categorical", "categories": ["red", "green", "blue", "never"]},
        {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
    ],
}


@pytest.fixture(scope="session")
def synthetic() -> Dataset:
    """5,000 rows: x ~ N(0, 1), a constant column and a three-colour category (one declared, never seen)."""
    rng = np.random.default_rng(7)
    n = 5000
    columns = {
        "x": rng.normal(size=n),
        "const": np.full(n, 7.0),
        "color": rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n, p=[0.5, 0.3, 0.2]),
    }
    return Dataset(schema=parse_schema(SYNTHETIC_SCHEMA), columns=columns)


WindowFactory = Callable[..., dict[str, np.ndarray]]


@pytest.fixture(scope="session")
def make_window() -> WindowFactory:
    """Draw a window from the synthetic distribution, x shifted by ``shift`` standard deviations."""

    def draw(n: int, seed: int, *, shift: float = 0.0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {
            "x": rng.normal(loc=shift, size=n),
            "const": np.full(n, 7.0),
            "color": rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n, p=[0.5, 0.3, 0.2]),
        }

    return draw
