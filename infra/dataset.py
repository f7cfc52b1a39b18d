"""What the infrastructure needs to know about the dataset: its name and its feature columns.

The CDK app may not import ``pipelines`` (it only packages it), so it reads the two facts it needs
from the schema file with ``json``: the dataset name (``DATASET_NAME``) and the feature columns
(one drift graph per feature). ``pipelines.schema`` remains the one full parser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DatasetFacts", "read_dataset_facts"]

_DROPPED_ROLES = frozenset({"target", "id", "leak", "time"})  # never features


@dataclass(frozen=True)
class DatasetFacts:
    name: str
    features: tuple[str, ...]


def read_dataset_facts(schema_path: Path) -> DatasetFacts:
    """Dataset name and feature columns (role ``feature``, the default) in file order."""
    try:
        document = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read the schema file {schema_path}: {error}") from error
    name = document.get("name") if isinstance(document, dict) else None
    columns = document.get("columns") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name or not isinstance(columns, list):
        raise ValueError(f"schema file {schema_path}: expected a 'name' string and a 'columns' list")
    features = tuple(
        column["name"]
        for column in columns
        if isinstance(column, dict) and column.get("role", "feature") not in _DROPPED_ROLES
    )
    if not features:
        raise ValueError(f"schema file {schema_path}: no feature columns")
    return DatasetFacts(name=name, features=features)
