"""The training script run for real, as SageMaker runs it, then served through the inference hooks.

``pipelines/train.py`` is executed as a subprocess from a code root laid out like the training
job's ``sourcedir.tar.gz`` (``pipelines/`` + ``schema.json``), with ``/opt/ml``-style channels and
``SM_*`` environment variables, on a stratified sample of the real AI4I data. A second run gets the
first model as its champion channel (``model.tar.gz``), so the champion comparison, the integrity
check of the champion and the artifact layout are all exercised end to end.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from pipelines import inference

REPO = Path(__file__).resolve().parents[2]
SAMPLE_ROWS = 1500
SEED = "7"
METRIC_KEYS = {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "threshold"}


@pytest.fixture(scope="module")
def code_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the training container unpacks from sourcedir.tar.gz: pipelines/ and schema.json."""
    root = tmp_path_factory.mktemp("code")
    shutil.copytree(REPO / "pipelines", root / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "schemas" / "ai4i2020.schema.json", root / "schema.json")
    return root


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    frame = pd.read_csv(REPO / "data" / "ai4i2020.csv", dtype=str, keep_default_na=False)
    rows, _ = train_test_split(frame, train_size=SAMPLE_ROWS, stratify=frame["Machine failure"], random_state=0)
    return rows.reset_index(drop=True)


def _opt_ml(base: Path, sample: pd.DataFrame) -> Path:
    """An /opt/ml look-alike with the curated snapshot in the train channel."""
    train = base / "input" / "data" / "train"
    train.mkdir(parents=True)
    sample.to_csv(train / "data.csv", index=False)
    (train / "validation.json").write_text("{}")  # the snapshot folder holds the report too
    return base


def _run_train(
    code_root: Path, opt_ml: Path, *args: str, champion: Path | None = None, plan: Path | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "PYTHONPATH", "MLOPS_"))}
    env.update(
        SM_MODEL_DIR=str(opt_ml / "model"),
        SM_CHANNEL_TRAIN=str(opt_ml / "input" / "data" / "train"),
        SM_OUTPUT_DATA_DIR=str(opt_ml / "output" / "data"),
        SM_OUTPUT_DIR=str(opt_ml / "output"),
        OMP_NUM_THREADS="1",  # small data; OpenMP spin-waits badly on a busy CI runner
    )
    if champion is not None:
        env["SM_CHANNEL_CHAMPION"] = str(champion)
    if plan is not None:
        env["SM_CHANNEL_PLAN"] = str(plan)
    return subprocess.run(
        [sys.executable, "pipelines/train.py", *args],
        cwd=code_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _model_tar(model_dir: Path, destination: Path) -> Path:
    """Package a model directory the way SageMaker does: its files at the archive's root."""
    destination.mkdir(parents=True)
    archive = destination / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


@pytest.fixture(scope="module")
def first_run(code_root: Path, sample: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    opt_ml = _opt_ml(tmp_path_factory.mktemp("first"), sample)
    result = _run_train(code_root, opt_ml, "--model-type", "hist_gradient_boosting", "--seed", SEED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "challenger on holdout: roc_auc=" in result.stdout  # progress reaches the job's log stream
    return opt_ml


@pytest.fixture(scope="module")
def second_run(
    code_root: Path, sample: pd.DataFrame, first_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    base = tmp_path_factory.mktemp("second")
    champion = _model_tar(first_run / "model", base / "input" / "data" / "champion").parent
    opt_ml = _opt_ml(base, sample)
    result = _run_train(
        code_root,
        opt_ml,
        "--model-type",
        "random_forest",
        "--seed",
        SEED,
        "--holdout-fraction",
        "0.2",
        champion=champion,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "champion model.joblib verified" in result.stdout
    return opt_ml


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_first_run_writes_the_documented_artifacts(first_run: Path, code_root: Path) -> None:
    model_dir, output = first_run / "model", first_run / "output" / "data"
    assert sorted(p.name for p in model_dir.iterdir()) == ["code", "manifest.json", "model.joblib", "schema.json"]
    # The serving code rides in the model archive: the container imports code/inference.py from it.
    code = {p.relative_to(model_dir / "code").as_posix() for p in (model_dir / "code").rglob("*") if p.is_file()}
    assert {"inference.py", "schema.json", "pipelines/inference.py", "pipelines/schema.py"} <= code
    entry = (model_dir / "code" / "inference.py").read_bytes()  # the serving entry (pipelines/serving_entry.py)
    assert entry == (code_root / "pipelines" / "serving_entry.py").read_bytes()
    assert {"metrics.json", "baseline.json", "manifest.json"} <= {p.name for p in output.iterdir()}
    assert (model_dir / "schema.json").read_bytes() == (code_root / "schema.json").read_bytes()

    manifest = _json(model_dir / "manifest.json")
    assert manifest == _json(output / "manifest.json")
    assert manifest["artifact"] == "model.joblib"
    assert manifest["sha256"] == inference.sha256_file(model_dir / "model.joblib")
    assert manifest["features"] == [
        "Type",
        "Air temperature [K]",
        "Process temperature [K]",
        "Rotational speed [rpm]",
        "Torque [Nm]",
        "Tool wear [min]",
    ]

    metrics = _json(output / "metrics.json")
    assert metrics["champion"] is None
    assert metrics["artifact_sha256"] == manifest["sha256"]
    assert metrics["model_type"] == "hist_gradient_boosting"
    assert metrics["hyperparameters"] == {
        "model-type": "hist_gradient_boosting",
        "holdout-fraction": 0.2,
        "seed": 7,
        "threshold": "best_f1",
        "false-positive-cost": 1.0,
        "false-negative-cost": 1.0,
    }
    assert metrics["sklearn_version"] == manifest["sklearn_version"]
    rows = metrics["rows"]
    assert rows["total"] == SAMPLE_ROWS and rows["train"] + rows["holdout"] == SAMPLE_ROWS
    assert rows["holdout"] == 300
    assert rows["train_positives"] + rows["holdout_positives"] == 51  # 3.39 % of 1,500, stratified
    # No plan channel: the one data.csv is the one batch, and the holdout is its last 300 rows.
    assert metrics["data"] == {
        "batches": ["data"],
        "trainBatches": ["data"],
        "holdoutBatches": ["data"],
        "trainRows": 1200,
        "holdoutRows": 300,
        "candidateRows": 1500,
        "holdoutRule": "newest rows unseen by the champion",
        "holdoutTimeRange": None,
    }
    challenger = metrics["challenger"]
    assert set(challenger) == METRIC_KEYS
    assert challenger["threshold"] == manifest["threshold"]
    assert metrics["threshold"] == {
        "mode": "best_f1",
        "value": challenger["threshold"],
        "falsePositiveCost": 1.0,
        "falseNegativeCost": 1.0,
    }
    # Real signal on real data: far better than chance (the full data reaches ~0.97).
    assert challenger["roc_auc"] > 0.85 and challenger["pr_auc"] > 0.3

    baseline = _json(output / "baseline.json")
    assert baseline["dataset"] == "ai4i2020" and baseline["rows"] == rows["train"]
    assert set(baseline["numeric"]) == set(manifest["features"][1:])
    assert set(baseline["categorical"]) == {"Type"}
    assert sum(baseline["importance"].values()) == pytest.approx(1.0)
    assert sum(baseline["prediction"]["proportions"]) == pytest.approx(1.0)


def test_plan_channel_from_the_environment(code_root: Path, sample: pd.DataFrame, tmp_path: Path) -> None:
    """SM_CHANNEL_PLAN is read like the other channels; batches come in plan order from <version>/data.csv."""
    opt_ml = tmp_path / "ml"
    train = opt_ml / "input" / "data" / "train"
    versions = ["20260101T000000000000Z-000000000001", "20260102T000000000000Z-000000000002"]
    for version, part in zip(versions, (sample.iloc[:900], sample.iloc[900:]), strict=True):
        (train / version).mkdir(parents=True)
        part.to_csv(train / version / "data.csv", index=False)
    (train / "stray.csv").write_text("not,listed\n")  # not in the plan: never read
    plan = opt_ml / "input" / "data" / "plan"
    plan.mkdir(parents=True)
    entries = [{"datasetVersion": v, "seenByChampion": False} for v in versions]
    (plan / "plan.json").write_text(json.dumps({"batches": entries}))

    result = _run_train(code_root, opt_ml, "--model-type", "logistic_regression", "--threshold", "0.5", plan=plan)

    assert result.returncode == 0, result.stdout + result.stderr
    metrics = _json(opt_ml / "output" / "data" / "metrics.json")
    assert metrics["data"]["batches"] == versions
    assert metrics["data"]["holdoutBatches"] == [versions[1]] and metrics["data"]["holdoutRows"] == 300
    assert metrics["threshold"]["mode"] == "fixed" and metrics["challenger"]["threshold"] == 0.5
    assert "out-of-fold" not in result.stdout  # a fixed threshold needs no cross-validation


def test_champion_is_scored_on_the_same_holdout(first_run: Path, second_run: Path) -> None:
    first = _json(first_run / "output" / "data" / "metrics.json")
    second = _json(second_run / "output" / "data" / "metrics.json")
    assert second["model_type"] == "random_forest"
    assert second["rows"] == first["rows"]
    # Same data and seed, so the same holdout: the champion's numbers are the first run's, exactly.
    assert second["champion"] == first["challenger"]
    assert second["challenger"] != second["champion"]
    assert second["artifact_sha256"] != first["artifact_sha256"]


def test_tampered_champion_fails_the_job(
    code_root: Path, sample: pd.DataFrame, first_run: Path, tmp_path: Path
) -> None:
    tampered = tmp_path / "tampered-model"
    shutil.copytree(first_run / "model", tampered)
    with (tampered / "model.joblib").open("ab") as handle:
        handle.write(b"\0")
    champion = _model_tar(tampered, tmp_path / "ml" / "input" / "data" / "champion").parent
    opt_ml = _opt_ml(tmp_path / "ml", sample)
    result = _run_train(code_root, opt_ml, champion=champion)
    assert result.returncode == 1
    assert "IntegrityError" in result.stdout and "does not match manifest.json" in result.stdout
    assert "does not match manifest.json" in (opt_ml / "output" / "failure").read_text()
    assert not (opt_ml / "output" / "data" / "metrics.json").exists()


def test_module_entry_point_runs(code_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "PYTHONPATH"))}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.train", "--help"],
        cwd=code_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--holdout-fraction" in result.stdout and "--champion" in result.stdout
    for name in ("--plan", "--threshold", "--false-positive-cost", "--false-negative-cost"):
        assert name in result.stdout


def test_served_through_the_inference_hooks(
    second_run: Path, sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = _json(second_run / "output" / "data" / "metrics.json")
    monkeypatch.setenv(inference.SHA256_ENV, metrics["artifact_sha256"])
    model = inference.model_fn(str(second_run / "model"))
    features = list(model.schema.feature_names)

    failed = sample["Machine failure"] == "1"
    rows = pd.concat([sample[failed].head(10), sample[~failed].head(30)])
    body = io.StringIO()
    csv.writer(body, lineterminator="\n").writerows(rows[features].itertuples(index=False))
    from_csv = inference.predict_fn(inference.input_fn(body.getvalue(), "text/csv"), model)
    instances = [{"Type": r["Type"], **{n: float(r[n]) for n in features[1:]}} for r in rows.to_dict(orient="records")]
    from_json = inference.predict_fn(
        inference.input_fn(json.dumps({"instances": instances}).encode(), "application/json"), model
    )
    assert from_csv.probabilities == pytest.approx(from_json.probabilities)

    body, content_type = inference.output_fn(from_json, "application/json")
    assert content_type == "application/json"
    served = json.loads(body)["predictions"]
    threshold = metrics["challenger"]["threshold"]
    assert len(served) == 40
    assert all(p["label"] == int(p["probability"] >= threshold) for p in served)
    csv_body, content_type = inference.output_fn(from_csv, "text/csv")
    assert content_type == "text/csv"
    assert [float(line) for line in csv_body.splitlines()] == pytest.approx(from_csv.probabilities)
    # The served probabilities rank the sample's real failures above its non-failures.
    labels = rows["Machine failure"].astype(int).tolist()
    failures = [p for p, y in zip(from_csv.probabilities, labels, strict=True) if y == 1]
    others = [p for p, y in zip(from_csv.probabilities, labels, strict=True) if y == 0]
    assert len(failures) == 10
    assert sum(failures) / len(failures) > sum(others) / len(others)
