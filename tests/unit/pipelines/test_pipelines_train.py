"""pipelines.train: arguments, batches and the holdout rule, champion handling, failure reporting."""

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
    for name in (
        "SM_MODEL_DIR",
        "SM_CHANNEL_TRAIN",
        "SM_CHANNEL_CHAMPION",
        "SM_CHANNEL_PLAN",
        "SM_OUTPUT_DATA_DIR",
        "SM_OUTPUT_DIR",
    ):
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
    assert args.champion is None and args.plan is None and args.seed == 3
    assert (args.model_type, args.holdout_fraction) == ("hist_gradient_boosting", 0.2)
    assert (args.threshold, args.false_positive_cost, args.false_negative_cost) == ("best_f1", 1.0, 1.0)
    assert args.threshold_rule == modeling.ThresholdRule("best_f1")
    monkeypatch.setenv("SM_CHANNEL_PLAN", "/opt/ml/input/data/plan")
    assert train.parse_args([]).plan == "/opt/ml/input/data/plan"
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


@pytest.mark.parametrize(
    "bad",
    [
        ["--threshold", "median"],
        ["--threshold", "1.5"],
        ["--threshold", "0"],
        ["--threshold", "cost", "--false-positive-cost", "0"],
        ["--threshold", "cost", "--false-negative-cost", "-2"],
        ["--false-negative-cost", "nan"],
    ],
)
def test_bad_threshold_hyperparameters_are_refused(bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        train.parse_args(["--model-dir", "m", "--train", "t", "--output-data-dir", "o", *bad])


def test_threshold_hyperparameters_are_parsed() -> None:
    base = ["--model-dir", "m", "--train", "t", "--output-data-dir", "o"]
    cost = train.parse_args([*base, "--threshold", "cost", "--false-positive-cost", "2", "--false-negative-cost", "9"])
    assert cost.threshold_rule == modeling.ThresholdRule("cost", None, 2.0, 9.0)
    assert train.parse_args([*base, "--threshold", "0.3"]).threshold_rule == modeling.ThresholdRule("fixed", 0.3)


# ------------------------------------------------------------------------------- batches, holdout


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [(0, 0), (1, 1), (150, 150), (200, 200), (999, 200), (1000, 200), (1003, 201), (5000, 1000)],
)
def test_holdout_size_is_a_fraction_of_the_candidates_but_at_least_200(candidates: int, expected: int) -> None:
    assert train.holdout_size(candidates, 0.2) == expected


def test_holdout_is_the_newest_candidates_and_everything_else_trains() -> None:
    # 300 old rows the champion saw, then 500 new ones: the holdout is the newest 200 new rows.
    candidates = np.r_[np.zeros(300, dtype=bool), np.ones(500, dtype=bool)]
    train_idx, hold_idx = train.holdout_split(candidates, 0.2)
    np.testing.assert_array_equal(hold_idx, np.arange(600, 800))
    np.testing.assert_array_equal(train_idx, np.arange(600))
    # Interleaved candidates (rows ordered by time across batches): only candidates are held out.
    mixed = np.tile([True, False], 300)
    train_idx, hold_idx = train.holdout_split(mixed, 0.5)
    assert len(hold_idx) == 200 and mixed[hold_idx].all()
    assert hold_idx.min() > train_idx[mixed[train_idx]].max()  # newer than every trained-on candidate
    assert sorted([*train_idx, *hold_idx]) == list(range(600))


def test_no_candidate_row_is_a_data_error() -> None:
    with pytest.raises(modeling.DataError, match="unseen by the champion"):
        train.holdout_split(np.zeros(10, dtype=bool), 0.2)


def test_without_a_plan_every_csv_is_a_batch_in_relative_path_order(tmp_path: Path) -> None:
    channel = tmp_path / "train"
    for relative in ("v2/data.csv", "v1/data.csv", "v1/extra.csv", "loose.csv", "v1/validation.json"):
        (channel / relative).parent.mkdir(parents=True, exist_ok=True)
        (channel / relative).write_text("x\n")
    batches = train.discover_batches(channel)
    assert [b.name for b in batches] == ["loose", "v1", "v1/extra", "v2"]
    assert [b.path.relative_to(channel).as_posix() for b in batches] == [
        "loose.csv",
        "v1/data.csv",
        "v1/extra.csv",
        "v2/data.csv",
    ]
    assert not any(b.seen_by_champion for b in batches)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "data.csv").write_text("x\n")  # the layout before plans: one data.csv
    assert [b.name for b in train.discover_batches(tmp_path / "old")] == ["data"]
    (channel / "v1.csv").write_text("x\n")  # would share the name "v1" with v1/data.csv
    assert [b.name for b in train.discover_batches(channel)] == [
        "loose.csv",
        "v1.csv",
        "v1/data.csv",
        "v1/extra.csv",
        "v2/data.csv",
    ]


def _plan(tmp_path: Path, entries: list[dict], files: list[str]) -> tuple[Path, Path]:
    channel, plan = tmp_path / "train", tmp_path / "plan"
    for version in files:
        (channel / version).mkdir(parents=True, exist_ok=True)
        (channel / version / "data.csv").write_text("x\n")
    plan.mkdir(exist_ok=True)
    (plan / "plan.json").write_text(json.dumps({"batches": entries}))
    return channel, plan


def test_a_plan_sets_the_batches_and_their_order(tmp_path: Path) -> None:
    entries = [{"datasetVersion": "b", "seenByChampion": True}, {"datasetVersion": "a", "seenByChampion": False}]
    channel, plan = _plan(tmp_path, entries, ["a", "b", "unlisted"])
    batches = train.discover_batches(channel, plan)
    assert [(b.name, b.seen_by_champion) for b in batches] == [("b", True), ("a", False)]
    assert batches[0].path == channel / "b" / "data.csv"


@pytest.mark.parametrize(
    ("entries", "error", "message"),
    [
        ([{"datasetVersion": "missing", "seenByChampion": False}], FileNotFoundError, "batch missing of plan.json"),
        ([{"datasetVersion": "../a", "seenByChampion": False}], ValueError, "plain folder name"),
        ([{"datasetVersion": "a"}], ValueError, "seenByChampion must be true or false"),
        ([{"datasetVersion": "a", "seenByChampion": False}] * 2, ValueError, "twice"),
        ([], ValueError, "lists no batches"),
    ],
)
def test_a_bad_plan_is_refused(tmp_path: Path, entries: list[dict], error: type, message: str) -> None:
    channel, plan = _plan(tmp_path, entries, ["a"])
    with pytest.raises(error, match=message):
        train.discover_batches(channel, plan)


def test_a_plan_channel_without_plan_json_is_refused(tmp_path: Path) -> None:
    channel, plan = _plan(tmp_path, [], ["a"])
    (plan / "plan.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"holds no plan\.json"):
        train.discover_batches(channel, plan)


TIMED = {
    "name": "timed",
    "problemType": "binary_classification",
    "target": "y",
    "positiveLabel": 1,
    "columns": [
        {"name": "t", "type": "string", "role": "time"},
        {"name": "x", "type": "float"},
        {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
    ],
}


def test_rows_are_ordered_by_time_stably_else_by_batch_then_file(tmp_path: Path) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("t,x,y\n2026-01-03T00:00:00Z,1,0\n2026-01-01T00:00:00Z,2,1\n2026-01-02T00:00:00+00:00,3,0\n")
    second.write_text("t,x,y\n2026-01-02T01:00:00+01:00,4,1\n2025-12-31T23:00:00Z,5,0\n")
    batches = [train.Batch("first", first), train.Batch("second", second)]
    timed = train.load_batches(batches, parse_schema(TIMED))
    # 2026-01-02T01:00+01:00 is the same instant as 2026-01-02T00:00Z: the tie keeps batch order.
    assert timed.frame["x"].tolist() == [5.0, 2.0, 3.0, 4.0, 1.0]
    assert timed.batch.tolist() == ["second", "first", "first", "second", "first"]
    assert "time column 't'" in timed.order

    untimed_schema = json.loads(json.dumps(TIMED))
    untimed_schema["columns"][0]["role"] = "id"
    untimed = train.load_batches(batches, parse_schema(untimed_schema))
    assert untimed.frame["x"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0] and untimed.times is None


def test_a_bad_timestamp_names_the_batch_the_column_and_an_example(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("t,x,y\n2026-01-03T00:00:00Z,1,0\nlast tuesday,2,1\n")
    with pytest.raises(modeling.DataError, match=r"batch v7: time column 't' has 1 value.*'last tuesday'"):
        train.load_batches([train.Batch("v7", path)], parse_schema(TIMED))


def _timed_rows(path: Path, rows: int, start_hour: int, *, positives: bool = True) -> None:
    rng = np.random.default_rng(start_hour)
    x = rng.normal(size=rows)
    y = (x > 0.8).astype(int) if positives else np.zeros(rows, dtype=int)
    times = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(start_hour, start_hour + rows), "h")
    frame = pd.DataFrame({"t": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "x": x.round(4), "y": y})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _run_timed(tmp_path: Path, *extra: str, champion: Path | None = None) -> int:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(TIMED))
    args = [
        *("--train", str(tmp_path / "train"), "--model-dir", str(tmp_path / "model")),
        *("--output-data-dir", str(tmp_path / "out"), "--schema", str(schema)),
        *("--model-type", "logistic_regression", *extra),
    ]
    if champion is not None:
        args += ["--champion", str(champion)]
    return train.main(args)


def test_a_holdout_of_one_class_is_a_clear_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    _timed_rows(tmp_path / "train" / "old" / "data.csv", 600, 0)
    _timed_rows(tmp_path / "train" / "new" / "data.csv", 300, 600, positives=False)  # the newest rows
    assert _run_timed(tmp_path) == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert "DataError" in failure and "holds only negative rows" in failure


def test_a_train_part_without_enough_of_a_class_is_a_clear_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    _timed_rows(tmp_path / "train" / "old" / "data.csv", 300, 0, positives=False)
    _timed_rows(tmp_path / "train" / "new" / "data.csv", 200, 300)  # all candidates go to the holdout
    assert _run_timed(tmp_path) == 1
    assert "the train part (300 rows) has 0 positive" in (tmp_path / "output" / "failure").read_text()


def test_a_fixed_threshold_skips_the_cross_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_cross_validation(*args: object, **kwargs: object) -> None:
        raise AssertionError("a fixed threshold needs no out-of-fold predictions")

    monkeypatch.setattr(modeling, "out_of_fold_probabilities", no_cross_validation)
    _timed_rows(tmp_path / "train" / "a" / "data.csv", 600, 0)
    assert _run_timed(tmp_path, "--threshold", "0.4") == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["threshold"]["mode"] == "fixed" and metrics["challenger"]["threshold"] == 0.4


def test_without_a_champion_the_plan_flags_do_not_shrink_the_candidates(tmp_path: Path) -> None:
    """seenByChampion only matters when a champion is scored; alone, every row is a candidate."""
    _timed_rows(tmp_path / "train" / "a" / "data.csv", 600, 0)
    _timed_rows(tmp_path / "train" / "b" / "data.csv", 600, 600)
    plan = tmp_path / "plan"
    plan.mkdir()
    entries = [{"datasetVersion": "a", "seenByChampion": True}, {"datasetVersion": "b", "seenByChampion": True}]
    (plan / "plan.json").write_text(json.dumps({"batches": entries}))
    assert _run_timed(tmp_path, "--plan", str(plan)) == 0
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())["data"]
    assert (data["candidateRows"], data["holdoutRows"], data["holdoutBatches"]) == (1200, 240, ["b"])
    assert data["holdoutTimeRange"]["max"] == "2026-02-19T23:00:00Z"  # hour 1199, the newest row


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


def test_tampered_champion_archive_is_refused_before_unpickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The champion channel as SageMaker delivers it (model.tar.gz) with one flipped byte in the model."""
    schema = parse_schema(json.loads(SCHEMA_PATH.read_text()))
    frame = modeling.read_dataset([REPO / "data" / "ai4i2020.csv"], schema).head(300)
    features, labels = modeling.features_and_labels(frame, schema)
    pipeline = modeling.build_pipeline(schema, "logistic_regression").fit(features, labels)
    model_dir = tmp_path / "model"
    inference.save_model(model_dir, pipeline, threshold=0.5, schema_path=SCHEMA_PATH, model_type="logistic_regression")
    registered = inference.sha256_file(model_dir / "model.joblib")
    members = {path.name: path.read_bytes() for path in sorted(model_dir.iterdir())}
    tampered = bytearray(members["model.joblib"])
    tampered[len(tampered) // 2] ^= 0xFF
    members["model.joblib"] = bytes(tampered)
    channel = _tar_with(tmp_path, members)

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a tampered champion reached joblib.load")

    monkeypatch.setattr("joblib.load", forbidden)
    with pytest.raises(inference.IntegrityError, match=r"does not match manifest\.json"):
        train.score_champion(channel, features, labels, schema)
    with pytest.raises(inference.IntegrityError, match="registered digest"):
        train.score_champion(channel, features, labels, schema, expected_sha256=registered)
