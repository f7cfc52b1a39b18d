"""pipelines.train: argument defaults, champion handling and failure reporting (no full training)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from pipelines import inference, modeling, train
from pipelines.schema import parse_schema

REPO = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO / "schemas" / "ai4i2020.schema.json"


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def _no_sagemaker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SM_MODEL_DIR", "SM_CHANNEL_TRAIN", "SM_CHANNEL_CHAMPION", "SM_OUTPUT_DATA_DIR", "SM_OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_arguments_default_to_the_sagemaker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")
    args = train.parse_args(["--seed", "3", "--some-platform-flag", "x"])
    assert (args.model_dir, args.train, args.output_data_dir) == (
        "/opt/ml/model",
        "/opt/ml/input/data/train",
        "/opt/ml/output/data",
    )
    assert args.champion is None and args.seed == 3
    assert (args.model_type, args.holdout_fraction) == ("hist_gradient_boosting", 0.2)
    # The schema travels in sourcedir.tar.gz beside pipelines/: the code root, not the working directory.
    assert Path(args.schema) == Path(train.__file__).resolve().parent.parent / "schema.json"


def test_required_locations_and_bad_hyperparameters_are_refused() -> None:
    with pytest.raises(SystemExit):
        train.parse_args([])
    base = ["--model-dir", "m", "--train", "t", "--output-data-dir", "o"]
    with pytest.raises(SystemExit):
        train.parse_args([*base, "--holdout-fraction", "1.5"])
    with pytest.raises(SystemExit):
        train.parse_args([*base, "--model-type", "xgboost"])


def _locations(model_dir: Path, channel: Path, output: Path) -> list[str]:
    return [
        *("--model-dir", str(model_dir), "--train", str(channel), "--output-data-dir", str(output)),
        *("--schema", str(SCHEMA_PATH)),
    ]


def _data(tmp_path: Path, positives: int, rows: int = 400) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.read_csv(REPO / "data" / "ai4i2020.csv", dtype=str, keep_default_na=False)
    negatives = frame[frame["Machine failure"] == "0"].sample(rows - positives, random_state=0)
    chosen = pd.concat([negatives, frame[frame["Machine failure"] == "1"].head(positives)])
    channel = tmp_path / "train"
    channel.mkdir()
    chosen.iloc[rng.permutation(len(chosen))].to_csv(channel / "data.csv", index=False)
    return channel


def test_too_few_positives_fails_with_a_clear_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    channel = _data(tmp_path, positives=3)
    code = train.main(_locations(tmp_path / "model", channel, tmp_path / "out"))
    assert code == 1
    assert "3 positive" in (tmp_path / "output" / "failure").read_text()
    assert not (tmp_path / "model").exists()


def test_empty_train_channel_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    (tmp_path / "train").mkdir()
    code = train.main(_locations(tmp_path / "m", tmp_path / "train", tmp_path / "out"))
    assert code == 1
    assert "holds no *.csv" in (tmp_path / "output" / "failure").read_text()


def _tar_with(tmp_path: Path, members: dict[str, bytes]) -> Path:
    channel = tmp_path / "champion"
    channel.mkdir()
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return channel


def test_champion_archive_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    channel = _tar_with(tmp_path, {"manifest.json": b"{}", "../../escaped.txt": b"x"})
    with pytest.raises(inference.IntegrityError, match="unsafe or corrupt"):
        train._champion_model_dir(channel, tmp_path / "scratch")
    assert not (tmp_path / "escaped.txt").exists()


def test_champion_channel_must_hold_one_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"neither model\.tar\.gz"):
        train._champion_model_dir(tmp_path / "empty", tmp_path / "scratch")


def test_champion_trained_on_other_features_is_not_compared(tmp_path: Path) -> None:
    raw = {
        "name": "other",
        "problemType": "binary_classification",
        "target": "y",
        "positiveLabel": 1,
        "columns": [
            {"name": "x", "type": "float"},
            {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
        ],
    }
    other_schema_path = tmp_path / "other.schema.json"
    other_schema_path.write_text(json.dumps(raw))
    other = parse_schema(raw)
    frame = pd.DataFrame({"x": np.arange(40.0), "y": [0, 1] * 20})
    features, labels = modeling.features_and_labels(frame, other)
    pipeline = modeling.build_pipeline(other, "logistic_regression").fit(features, labels)
    champion = tmp_path / "champion"
    inference.save_model(
        champion, pipeline, threshold=0.5, schema_path=other_schema_path, model_type="logistic_regression"
    )

    ai4i = parse_schema(json.loads(SCHEMA_PATH.read_text()))
    holdout = pd.DataFrame({name: [0.0] for name in ai4i.feature_names})
    metrics, status = train.score_champion(champion, holdout, np.array([1]), ai4i)
    assert (metrics, status) == (None, "incompatible")


def test_champion_registry_digest_is_enforced(tmp_path: Path) -> None:
    schema = parse_schema(json.loads(SCHEMA_PATH.read_text()))
    frame = modeling.read_dataset([REPO / "data" / "ai4i2020.csv"], schema).head(300)
    features, labels = modeling.features_and_labels(frame, schema)
    pipeline = modeling.build_pipeline(schema, "logistic_regression").fit(features, labels)
    champion = tmp_path / "champion"
    inference.save_model(champion, pipeline, threshold=0.5, schema_path=SCHEMA_PATH, model_type="logistic_regression")
    with pytest.raises(inference.IntegrityError, match="registered digest"):
        train.score_champion(champion, features, labels, schema, expected_sha256="f" * 64)
    metrics, status = train.score_champion(
        champion, features, labels, schema, expected_sha256=inference.sha256_file(champion / "model.joblib")
    )
    assert status == "scored" and metrics is not None
    assert metrics["threshold"] == 0.5  # the champion is judged at its own threshold
    assert metrics["roc_auc"] > 0.5
