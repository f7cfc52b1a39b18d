"""The training job in the learning loop: batches from a plan, and a holdout the champion never saw.

Real scikit-learn training (``pipelines.train.main``, in-process) on small generated batches with a
time column. A champion is trained on batches A and B; a challenger then gets a plan where A and B
are ``seenByChampion`` and C is new: every row either model is judged on must come from C, so the
comparison the gate makes is between two models that were both not trained on those rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from pipelines import inference, modeling, train
from pipelines.schema import DatasetSchema, parse_schema

SCHEMA_DOC: dict[str, Any] = {
    "name": "loop",
    "problemType": "binary_classification",
    "target": "failed",
    "positiveLabel": 1,
    "columns": [
        {"name": "id", "type": "integer", "role": "id", "unique": True},
        {"name": "at", "type": "string", "role": "time"},
        {"name": "load", "type": "float"},
        {"name": "heat", "type": "float"},
        {"name": "kind", "type": "categorical", "categories": ["a", "b"]},
        {"name": "failed", "type": "integer", "role": "target", "categories": [0, 1]},
        {"name": "cause", "type": "integer", "role": "leak"},
    ],
}
START = datetime(2026, 1, 1, tzinfo=UTC)
SEED = 5


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def _no_sagemaker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SM_MODEL_DIR", "SM_CHANNEL_TRAIN", "SM_CHANNEL_CHAMPION", "SM_CHANNEL_PLAN", "SM_OUTPUT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def schema_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "schema.json"
    path.write_text(json.dumps(SCHEMA_DOC), encoding="utf-8")
    return path


def _batch(rows: int, first_id: int, first_hour: int, seed: int, *, shuffle: bool = False) -> pd.DataFrame:
    """Rows one hour apart from ``first_hour``; the label depends on load and heat."""
    rng = np.random.default_rng(seed)
    load, heat = rng.normal(size=rows), rng.normal(size=rows)
    failed = (load + 0.5 * heat + rng.normal(0, 0.5, rows) > 1.0).astype(int)
    hours = np.arange(first_hour, first_hour + rows)
    frame = pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + rows),
            "at": [(START + timedelta(hours=int(h))).isoformat().replace("+00:00", "Z") for h in hours],
            "load": load.round(4),
            "heat": heat.round(4),
            "kind": rng.choice(["a", "b"], rows),
            "failed": failed,
            "cause": failed * rng.integers(1, 4, rows),
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True) if shuffle else frame


def _write_channel(root: Path, batches: dict[str, pd.DataFrame], seen: set[str]) -> tuple[Path, Path]:
    """The train channel (``<datasetVersion>/data.csv``) and plan channel (``plan.json``) of a run."""
    train_dir, plan_dir = root / "train", root / "plan"
    entries = []
    for version, frame in batches.items():
        (train_dir / version).mkdir(parents=True)
        frame.to_csv(train_dir / version / "data.csv", index=False)
        entries.append(
            {
                "datasetVersion": version,
                "key": f"snapshots/loop/{version}/data.csv",
                "rows": len(frame),
                "positives": int(frame["failed"].sum()),
                "timeRange": None,
                "origin": "upload",
                "seenByChampion": version in seen,
            }
        )
    plan_dir.mkdir(parents=True)
    (plan_dir / "plan.json").write_text(json.dumps({"dataset": "loop", "batches": entries}), encoding="utf-8")
    return train_dir, plan_dir


def _train(root: Path, schema_path: Path, batches: dict[str, pd.DataFrame], seen: set[str], *args: str) -> dict:
    train_dir, plan_dir = _write_channel(root, batches, seen)
    code = train.main(
        [
            *("--train", str(train_dir), "--plan", str(plan_dir)),
            *("--model-dir", str(root / "model"), "--output-data-dir", str(root / "output")),
            *("--schema", str(schema_path), "--model-type", "logistic_regression", "--seed", str(SEED)),
            *args,
        ]
    )
    assert code == 0, "the training script failed; see its log above"
    return json.loads((root / "output" / "metrics.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def batches() -> dict[str, pd.DataFrame]:
    a = _batch(500, 0, 0, 1)
    b = _batch(500, 500, 500, 2, shuffle=True)  # file order is not time order
    # C is a batch built from captured traffic: no id and no leak column (both optional).
    c = _batch(500, 1000, 1000, 3).drop(columns=["id", "cause"])
    return {
        "20260101T000000000000Z-aaaaaaaaaaaa": a,
        "20260201T000000000000Z-bbbbbbbbbbbb": b,
        "20260301T000000000000Z-cccccccccccc": c,
    }


@pytest.fixture(scope="module")
def champion_run(tmp_path_factory: pytest.TempPathFactory, schema_path: Path, batches: dict) -> tuple[Path, dict]:
    a, b, _ = batches
    root = tmp_path_factory.mktemp("champion")
    return root, _train(root, schema_path, {a: batches[a], b: batches[b]}, seen=set())


@pytest.fixture(scope="module")
def challenger_run(
    tmp_path_factory: pytest.TempPathFactory, schema_path: Path, batches: dict, champion_run: tuple[Path, dict]
) -> tuple[Path, dict]:
    a, b, _ = batches
    root = tmp_path_factory.mktemp("challenger")
    champion_model = champion_run[0] / "model"
    return root, _train(root, schema_path, batches, {a, b}, "--champion", str(champion_model))


def test_the_champion_holds_out_its_newest_rows(champion_run: tuple[Path, dict], batches: dict) -> None:
    a, b, _ = batches
    data = champion_run[1]["data"]
    assert data["batches"] == [a, b]
    assert (data["trainRows"], data["holdoutRows"]) == (800, 200)  # max(round(0.2 x 1000), 200)
    assert data["holdoutBatches"] == [b] and data["trainBatches"] == [a, b]  # B is partly trained on
    # B's rows are shuffled in its file; the holdout is still its last 200 hours.
    assert data["holdoutTimeRange"] == {"min": "2026-02-03T08:00:00Z", "max": "2026-02-11T15:00:00Z"}  # hours 800-999
    assert data["holdoutRule"] == "newest rows unseen by the champion"
    assert champion_run[1]["champion"] is None


def test_the_champion_is_judged_only_on_rows_it_never_trained_on(
    challenger_run: tuple[Path, dict], champion_run: tuple[Path, dict], batches: dict, schema_path: Path
) -> None:
    a, b, c = batches
    metrics, champion_metrics = challenger_run[1], champion_run[1]
    data = metrics["data"]
    assert data["batches"] == [a, b, c]
    assert data["holdoutBatches"] == [c]
    assert not set(data["holdoutBatches"]) & set(champion_metrics["data"]["trainBatches"])
    assert data["trainBatches"] == [a, b, c]  # C's older rows are trained on
    assert (data["candidateRows"], data["holdoutRows"], data["trainRows"]) == (500, 200, 1300)
    assert metrics["rows"]["holdout"] == 200 and metrics["rows"]["total"] == 1500

    # Every holdout row comes from C: the champion's metrics are exactly its score on C's newest 200 rows.
    schema = parse_schema(SCHEMA_DOC)
    newest_of_c = batches[c].sort_values("at").tail(200)
    assert data["holdoutTimeRange"] == {"min": newest_of_c["at"].iloc[0], "max": newest_of_c["at"].iloc[-1]}
    expected = _score(champion_run[0] / "model", newest_of_c, schema)
    assert metrics["champion"] == pytest.approx(expected)
    assert metrics["champion_status"] == "scored"


def _score(model_dir: Path, rows: pd.DataFrame, schema: DatasetSchema) -> dict[str, float]:
    model = inference.load_model(model_dir)
    features, labels = modeling.features_and_labels(rows.reset_index(drop=True), schema)
    probabilities = modeling.positive_probabilities(model.pipeline, features)
    return modeling.classification_metrics(labels, probabilities, model.threshold)


def test_rows_are_ordered_by_the_time_column_not_by_batch_order(tmp_path: Path, schema_path: Path) -> None:
    # The plan lists "late" first, but its rows are the newest: the time column decides.
    late, early = _batch(400, 0, 5000, 4, shuffle=True), _batch(400, 400, 0, 5, shuffle=True)
    metrics = _train(tmp_path, schema_path, {"v1-late": late, "v2-early": early}, seen=set())
    data = metrics["data"]
    assert data["holdoutBatches"] == ["v1-late"] and data["holdoutRows"] == 200
    newest = late.sort_values("at").tail(200)["at"]
    assert data["holdoutTimeRange"] == {"min": newest.iloc[0], "max": newest.iloc[-1]}


def test_threshold_modes_are_recorded(tmp_path: Path, schema_path: Path, batches: dict) -> None:
    a, b, _ = batches
    two = {a: batches[a], b: batches[b]}
    fixed = _train(tmp_path / "fixed", schema_path, two, set(), "--threshold", "0.35")
    assert fixed["threshold"] == {"mode": "fixed", "value": 0.35, "falsePositiveCost": 1.0, "falseNegativeCost": 1.0}
    assert fixed["challenger"]["threshold"] == 0.35

    cost = _train(tmp_path / "cost", schema_path, two, set(), "--threshold", "cost", "--false-negative-cost", "20")
    assert cost["threshold"]["mode"] == "cost" and cost["threshold"]["falseNegativeCost"] == 20.0
    assert cost["hyperparameters"]["false-negative-cost"] == 20.0
    # A missed failure costing 20 false alarms pushes the threshold down and recall up.
    best_f1 = _train(tmp_path / "f1", schema_path, two, set())
    assert best_f1["threshold"]["mode"] == "best_f1"
    assert cost["threshold"]["value"] < best_f1["threshold"]["value"]
    assert cost["challenger"]["recall"] >= best_f1["challenger"]["recall"]
