"""SageMaker training script (script mode): fit a challenger, score it and the champion on one holdout.

Run by the scikit-learn framework container as ``python pipelines/train.py --key value ...`` with the
code root as working directory, by the local cloud in-process through :func:`main`, or as
``python -m pipelines.train``. Everything the evaluate Lambda needs to judge the challenger comes
out of this one job, computed on the same rows: the challenger's holdout metrics, the champion's
metrics on that very holdout (so "better than the champion" compares like with like), and the drift
baseline the deployed model will be monitored against.

The train channel holds batches (``<datasetVersion>/data.csv``, listed in order by the plan
channel's ``plan.json``). The holdout is the newest rows the champion has not seen: neither model
was trained on them, and they are the rows most like the traffic the winner will serve. A random
split would let the champion be scored on rows it was trained on and flatter it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the code root (the folder above pipelines/) importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
import sklearn

from pipelines import modeling
from pipelines.drift.baseline import build_baseline
from pipelines.inference import MANIFEST_FILE, MODEL_FILE, SCHEMA_FILE, IntegrityError, load_model, save_model
from pipelines.schema import DatasetSchema, SchemaError, load_schema

CODE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = CODE_ROOT / SCHEMA_FILE
# The serving code travels inside model.tar.gz (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code), so
# an endpoint starts from its model archive alone: no code download, no install, no network.
SERVING_CODE_DIR = "code"
SERVING_PROGRAM = "inference.py"
METRICS_FILE = "metrics.json"
BASELINE_FILE = "baseline.json"
PLAN_FILE = "plan.json"
BATCH_FILE = "data.csv"  # a batch's file in the train channel: <datasetVersion>/data.csv
CV_FOLDS = 3
MIN_HOLDOUT_ROWS = 200  # below this a holdout metric is mostly noise; small candidate sets go whole
HOLDOUT_RULE = "newest rows unseen by the champion"

# Failures a user can fix (bad data, bad schema, bad arguments, a tampered champion): reported as one
# clear line rather than a traceback.
EXPECTED_ERRORS = (modeling.DataError, SchemaError, IntegrityError, ValueError, FileNotFoundError)


def log(message: str) -> None:
    """One progress line; SageMaker streams stdout to CloudWatch Logs."""
    print(f"[train {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=env("SM_MODEL_DIR"), required=not env("SM_MODEL_DIR"))
    parser.add_argument("--train", default=env("SM_CHANNEL_TRAIN"), required=not env("SM_CHANNEL_TRAIN"))
    parser.add_argument("--champion", default=env("SM_CHANNEL_CHAMPION") or None)
    parser.add_argument(
        "--plan", default=env("SM_CHANNEL_PLAN") or None, help="channel holding plan.json (batches, in order)"
    )
    parser.add_argument("--output-data-dir", default=env("SM_OUTPUT_DATA_DIR"), required=not env("SM_OUTPUT_DATA_DIR"))
    parser.add_argument("--model-type", default=modeling.DEFAULT_MODEL_TYPE, choices=modeling.MODEL_TYPES)
    parser.add_argument("--holdout-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--schema", default=str(DEFAULT_SCHEMA))
    parser.add_argument(
        "--threshold",
        default="best_f1",
        help="best_f1 | cost | a number in (0, 1): how the decision threshold is chosen",
    )
    parser.add_argument("--false-positive-cost", type=float, default=1.0, help="cost of one false positive (cost mode)")
    parser.add_argument("--false-negative-cost", type=float, default=1.0, help="cost of one false negative (cost mode)")
    parser.add_argument(
        "--champion-sha256",
        default=None,
        help="registry digest of the champion's model.joblib; checked, when given, before it is loaded",
    )
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # SageMaker may pass hyperparameters meant for other tools; a typo should still be visible.
        log(f"ignoring unknown arguments: {unknown}")
    if not 0.0 < args.holdout_fraction < 1.0:
        parser.error(f"--holdout-fraction must be between 0 and 1, got {args.holdout_fraction}")
    try:
        args.threshold_rule = modeling.ThresholdRule.parse(
            args.threshold, args.false_positive_cost, args.false_negative_cost
        )
    except ValueError as exc:
        parser.error(f"--threshold / --false-positive-cost / --false-negative-cost: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate and write the artifacts; returns the process exit code."""
    started = time.monotonic()
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse has printed the reason; SageMaker shows the failure file
        if exc.code not in (0, None):
            _write_failure("invalid arguments or hyperparameters (the job log has the details)")
        raise
    try:
        run(args)
    except EXPECTED_ERRORS as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        _write_failure(f"{type(exc).__name__}: {exc}")
        return 1
    except Exception as exc:
        traceback.print_exc()
        _write_failure(f"unexpected {type(exc).__name__}: {exc}")
        return 1
    log(f"done in {time.monotonic() - started:.1f} s")
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The training job proper; returns the metrics document it wrote."""
    schema = load_schema(args.schema)
    log(f"schema {schema.name!r}: {len(schema.features)} features, target {schema.target!r}")
    rule: modeling.ThresholdRule = args.threshold_rule
    batches = discover_batches(Path(args.train), Path(args.plan) if args.plan else None)
    data = load_batches(batches, schema)
    features, labels = modeling.features_and_labels(data.frame, schema)
    log(f"read {len(labels)} rows from {len(batches)} batch(es), {int(labels.sum())} positive ({labels.mean():.2%})")

    # Without a champion (or a plan saying what it saw) every row is a candidate for the holdout.
    unseen = {b.name for b in batches if not (args.champion and b.seen_by_champion)}
    candidates = np.isin(data.batch, list(unseen))
    train_idx, hold_idx = holdout_split(candidates, args.holdout_fraction)
    x_train, y_train = features.iloc[train_idx], labels[train_idx]
    x_hold, y_hold = features.iloc[hold_idx], labels[hold_idx]
    _check_classes(labels, y_train, y_hold, int(candidates.sum()))
    log(
        f"split: {len(y_train)} train / {len(y_hold)} holdout rows ({HOLDOUT_RULE}: newest {len(y_hold)} of "
        f"{int(candidates.sum())} candidate rows, ordered by {data.order})"
    )

    # The champion goes first: a champion that fails its integrity check fails the job before any
    # training time is spent.
    champion: dict[str, float] | None = None
    champion_status = "none"
    if args.champion:
        champion, champion_status = score_champion(Path(args.champion), x_hold, y_hold, schema, args.champion_sha256)

    pipeline = modeling.build_pipeline(schema, args.model_type, args.seed)
    if rule.needs_out_of_fold:
        oof = modeling.out_of_fold_probabilities(pipeline, x_train, y_train, seed=args.seed, folds=CV_FOLDS)
        threshold = rule.choose(y_train, oof)
        log(f"threshold {threshold:.4f} ({rule.mode} on {CV_FOLDS}-fold out-of-fold predictions of the train rows)")
    else:
        threshold = rule.choose()
        log(f"threshold {threshold:.4f} (fixed by the threshold hyperparameter)")

    pipeline.fit(x_train, y_train)
    holdout_proba = modeling.positive_probabilities(pipeline, x_hold)
    challenger = modeling.classification_metrics(y_hold, holdout_proba, threshold)
    log("challenger on holdout: " + _format_metrics(challenger))

    importances = modeling.permutation_importances(pipeline, x_hold, y_hold, seed=args.seed)
    importance = modeling.importance_shares(importances)
    log("permutation importance: " + ", ".join(f"{k}={v:.3f}" for k, v in importance.items()))
    baseline = build_baseline(
        schema,
        modeling.baseline_columns(x_train, schema),
        predictions=[float(p) for p in holdout_proba],
        importance=importance,
        seed=args.seed,
    )

    manifest = save_model(
        Path(args.model_dir),
        pipeline,
        threshold=threshold,
        schema_path=Path(args.schema),
        model_type=args.model_type,
    )
    log(f"wrote {MODEL_FILE} sha256={manifest['sha256']}")
    packed = pack_serving_code(Path(args.model_dir), Path(args.schema))
    log(f"packed the serving code into the model archive: {SERVING_CODE_DIR}/ ({packed} files)")

    metrics = {
        "challenger": challenger,
        "champion": champion,
        "champion_status": champion_status,
        "rows": {
            "train": len(y_train),
            "holdout": len(y_hold),
            "total": len(labels),
            "train_positives": int(y_train.sum()),
            "holdout_positives": int(y_hold.sum()),
        },
        "data": data_summary(data, train_idx, hold_idx, schema, int(candidates.sum())),
        "threshold": rule.describe(threshold),
        "model_type": args.model_type,
        "hyperparameters": {
            "model-type": args.model_type,
            "holdout-fraction": args.holdout_fraction,
            "seed": args.seed,
            "threshold": args.threshold,
            "false-positive-cost": args.false_positive_cost,
            "false-negative-cost": args.false_negative_cost,
        },
        "sklearn_version": sklearn.__version__,
        "artifact_sha256": manifest["sha256"],
        # What the model card shows beyond the holdout metrics, computed on the same holdout rows.
        "card": {
            "permutationImportance": {
                name: {**values, "share": importance[name]} for name, values in importances.items()
            },
            "segments": modeling.segment_metrics(schema, x_hold, y_hold, holdout_proba, threshold),
        },
    }
    output_dir = Path(args.output_data_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_json(output_dir / METRICS_FILE, metrics)
    _write_json(output_dir / BASELINE_FILE, baseline, compact=True)  # KS samples: keep it small
    _write_json(output_dir / MANIFEST_FILE, manifest)
    log(f"wrote {METRICS_FILE}, {BASELINE_FILE}, {MANIFEST_FILE} to the output data directory")
    return metrics


def pack_serving_code(model_dir: Path, schema_path: Path, code_root: Path = CODE_ROOT) -> int:
    """Copy the serving code into ``<model_dir>/code``: ``inference.py`` at its root (the container
    imports ``SAGEMAKER_PROGRAM`` as a top-level module), the ``pipelines`` package it imports, and
    the schema. Returns the number of files written."""
    target = model_dir / SERVING_CODE_DIR
    entry = code_root / SERVING_PROGRAM  # the source archive's root copy of pipelines/serving_entry.py
    if not entry.is_file():
        entry = code_root / "pipelines" / "serving_entry.py"  # run from a checkout
    files = [(entry, Path(SERVING_PROGRAM)), (schema_path, Path(SCHEMA_FILE))]
    package = code_root / "pipelines"
    files += [
        (path, path.relative_to(code_root))
        for path in sorted(package.rglob("*.py"))
        if "__pycache__" not in path.relative_to(code_root).parts
    ]
    for source, relative in files:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(source.read_bytes())
    return len(files)


def score_champion(
    channel: Path,
    features: pd.DataFrame,
    labels: np.ndarray,
    schema: DatasetSchema,
    expected_sha256: str | None = None,
) -> tuple[dict[str, float] | None, str]:
    """The champion's metrics on the challenger's holdout, and a one-word status.

    An artifact that fails its integrity check raises (a tampered model is a security event, not a
    reason to skip the comparison); a champion trained on other features cannot be compared and
    yields ``(None, "incompatible")``.
    """
    if not channel.is_dir():
        raise FileNotFoundError(f"champion channel {channel} does not exist")
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = _champion_model_dir(channel, Path(scratch))
        champion = load_model(model_dir, expected_sha256)
        log(f"champion {MODEL_FILE} verified, sha256={champion.sha256}")
        wanted = list(champion.schema.feature_names)
        if wanted != list(schema.feature_names):
            log(f"champion was trained on features {wanted}, not {list(schema.feature_names)}: not compared")
            return None, "incompatible"
        probabilities = modeling.positive_probabilities(champion.pipeline, features[wanted])
        metrics = modeling.classification_metrics(labels, probabilities, champion.threshold)
    log("champion on the same holdout: " + _format_metrics(metrics))
    return metrics, "scored"


def _champion_model_dir(channel: Path, scratch: Path) -> Path:
    archives = sorted(channel.glob("*.tar.gz"))
    if len(archives) > 1:
        raise ValueError(f"champion channel holds {len(archives)} archives, expected one model.tar.gz")
    if archives:
        try:
            with tarfile.open(archives[0], "r:gz") as archive:
                # The "data" filter refuses absolute paths, "..", links out of the folder and devices.
                archive.extractall(scratch, filter="data")
        except tarfile.TarError as exc:
            raise IntegrityError(f"champion archive {archives[0].name} is unsafe or corrupt: {exc}") from exc
        return scratch
    if (channel / MANIFEST_FILE).is_file():
        return channel
    raise FileNotFoundError(f"champion channel {channel} holds neither model.tar.gz nor {MANIFEST_FILE}")


@dataclass(frozen=True)
class Batch:
    """One batch of the train channel: a validated file and whether the champion trained on it."""

    name: str  # the datasetVersion, or a name derived from the file's relative path
    path: Path
    seen_by_champion: bool = False


@dataclass(frozen=True)
class TrainingData:
    """Every row of every batch, in training order, with the batch each row came from."""

    frame: pd.DataFrame
    batch: np.ndarray  # batch name per row
    times: np.ndarray | None  # sortable time key per row, when the schema has a time column
    batches: tuple[Batch, ...]
    order: str  # how the rows are ordered, for the log


def discover_batches(train_dir: Path, plan_dir: Path | None = None) -> list[Batch]:
    """The batches to train on, oldest first: from ``plan.json`` when a plan channel is given,
    otherwise every ``*.csv`` under the train channel (sorted by relative path, one batch each), so
    a channel holding one ``data.csv`` (the layout before plans) still trains."""
    if not train_dir.is_dir():
        raise FileNotFoundError(f"train channel {train_dir} does not exist")
    if plan_dir is not None:
        return _planned_batches(train_dir, plan_dir)
    files = sorted(
        (p for p in train_dir.rglob("*.csv") if p.is_file()), key=lambda p: p.relative_to(train_dir).as_posix()
    )
    if not files:
        raise FileNotFoundError(f"train channel {train_dir} holds no *.csv file")
    shown = [f.relative_to(train_dir).as_posix() for f in files]
    names = [_batch_name(f.relative_to(train_dir)) for f in files]
    if len(set(names)) != len(names):  # e.g. v1.csv beside v1/data.csv: fall back to the paths
        names = shown
    batches = [Batch(name, f) for name, f in zip(names, files, strict=True)]
    log(f"train channel files (no plan): {shown if len(shown) <= 5 else [*shown[:2], '...', *shown[-2:]]}")
    return batches


def _batch_name(relative: Path) -> str:
    """``<v>/data.csv`` is batch ``<v>`` (the snapshot layout); any other file is its path minus ``.csv``."""
    if relative.name == BATCH_FILE and relative.parent != Path("."):
        return relative.parent.as_posix()
    return relative.with_suffix("").as_posix()


def _planned_batches(train_dir: Path, plan_dir: Path) -> list[Batch]:
    plan_file = plan_dir / PLAN_FILE
    if not plan_file.is_file():
        raise FileNotFoundError(f"plan channel {plan_dir} holds no {PLAN_FILE}")
    try:
        plan = json.loads(plan_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{PLAN_FILE} is not valid JSON: {exc}") from exc
    entries = plan.get("batches") if isinstance(plan, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{PLAN_FILE} lists no batches")
    batches: list[Batch] = []
    for i, entry in enumerate(entries):
        version = entry.get("datasetVersion") if isinstance(entry, dict) else None
        if not isinstance(version, str) or not version or version in {".", ".."} or "/" in version or "\\" in version:
            raise ValueError(f"{PLAN_FILE} batches[{i}]: datasetVersion must be a plain folder name, got {version!r}")
        seen = entry.get("seenByChampion")
        if not isinstance(seen, bool):
            raise ValueError(f"{PLAN_FILE} batches[{i}] ({version}): seenByChampion must be true or false")
        if any(b.name == version for b in batches):
            raise ValueError(f"{PLAN_FILE} lists batch {version} twice")
        path = train_dir / version / BATCH_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"batch {version} of {PLAN_FILE} is not in the train channel ({version}/{BATCH_FILE})"
            )
        batches.append(Batch(version, path, seen))
    log(
        f"plan: {len(batches)} batch(es) from {batches[0].name} to {batches[-1].name}, "
        f"{sum(not b.seen_by_champion for b in batches)} marked unseen by the champion"
    )
    return batches


def load_batches(batches: Sequence[Batch], schema: DatasetSchema) -> TrainingData:
    """Read every batch and order the rows: by the time column when the schema has one (a stable
    sort, so equal times keep batch then file order), else batch order then file order."""
    labels = [f"batch {b.name}" for b in batches]
    frame, origin = modeling.read_files([b.path for b in batches], schema, names=labels)
    if frame.empty:
        raise modeling.DataError(f"the {len(batches)} batch(es) of the train channel hold no data rows")
    batch = np.asarray([b.name for b in batches], dtype=object)[origin]
    time_column = schema.time_column
    if time_column is None:
        return TrainingData(frame, batch, None, tuple(batches), "batch, then file order")
    keys = modeling.time_keys(frame, schema, source=np.asarray(labels, dtype=object)[origin])
    assert keys is not None  # the schema has a time column
    order = np.argsort(keys, kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    return TrainingData(frame, batch[order], keys[order], tuple(batches), f"time column {time_column.name!r}")


def holdout_size(candidates: int, holdout_fraction: float) -> int:
    """``max(round(fraction * candidates), min(candidates, 200))``: a fraction of the new rows, but
    never fewer than 200 of them (all of them when there are fewer)."""
    return max(round(holdout_fraction * candidates), min(candidates, MIN_HOLDOUT_ROWS))


def holdout_split(candidates: np.ndarray, holdout_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (rows in training order, oldest first) of the train part and of the holdout.

    The holdout is the newest :func:`holdout_size` rows among ``candidates`` (the rows the champion
    has not seen); every other row, older candidates included, is trained on.
    """
    positions = np.flatnonzero(np.asarray(candidates, dtype=bool))
    if len(positions) == 0:
        raise modeling.DataError(
            "no row is unseen by the champion: nothing to compare the models on (the plan should have skipped)"
        )
    hold = positions[len(positions) - holdout_size(len(positions), holdout_fraction) :]
    mask = np.zeros(len(candidates), dtype=bool)
    mask[hold] = True
    return np.flatnonzero(~mask), hold


def _check_classes(labels: np.ndarray, y_train: np.ndarray, y_hold: np.ndarray, candidates: int) -> None:
    positives = int(labels.sum())
    negatives = len(labels) - positives
    # Each class needs a row in the holdout and one per cross-validation fold in the train part.
    needed = CV_FOLDS + 1
    if min(positives, negatives) < needed:
        raise modeling.DataError(
            f"too few rows of one class to train and evaluate: {positives} positive, "
            f"{negatives} negative (each needs at least {needed})"
        )
    hold_positives = int(y_hold.sum())
    if hold_positives in (0, len(y_hold)):
        raise modeling.DataError(
            f"the holdout ({len(y_hold)} newest of {candidates} rows unseen by the champion) holds only "
            f"{'negative' if hold_positives == 0 else 'positive'} rows: ROC-AUC cannot be computed; "
            "more labelled data of both classes is needed"
        )
    train_positives = int(y_train.sum())
    if min(train_positives, len(y_train) - train_positives) < CV_FOLDS:
        raise modeling.DataError(
            f"the train part ({len(y_train)} rows) has {train_positives} positive and "
            f"{len(y_train) - train_positives} negative rows; each class needs at least {CV_FOLDS} "
            "(one per cross-validation fold)"
        )


def data_summary(
    data: TrainingData, train_idx: np.ndarray, hold_idx: np.ndarray, schema: DatasetSchema, candidates: int
) -> dict[str, Any]:
    """The ``data`` block of metrics.json: which batches were trained on and which held out.

    ``trainBatches`` is what the next run's plan marks ``seenByChampion``, so it lists every batch
    with at least one training row: a batch partly held out is still one the model has seen.
    """
    names = [b.name for b in data.batches]
    in_train, in_hold = set(data.batch[train_idx]), set(data.batch[hold_idx])
    time_range = None
    column = schema.time_column
    if column is not None and data.times is not None and len(hold_idx):
        values = data.frame[column.name].to_numpy()[hold_idx]
        keys = data.times[hold_idx]
        time_range = {
            "min": _plain(values[int(np.argmin(keys))], column.type),
            "max": _plain(values[int(np.argmax(keys))], column.type),
        }
    return {
        "batches": names,
        "trainBatches": [n for n in names if n in in_train],
        "holdoutBatches": [n for n in names if n in in_hold],
        "trainRows": len(train_idx),
        "holdoutRows": len(hold_idx),
        "candidateRows": candidates,
        "holdoutRule": HOLDOUT_RULE,
        "holdoutTimeRange": time_range,
    }


def _plain(value: Any, column_type: str) -> Any:
    """A time value as JSON: the text as written, or the number (an integer for integer columns)."""
    if column_type == "integer":
        return int(value)
    if column_type == "float":
        return float(value)
    return str(value)


def _format_metrics(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())


def _write_json(path: Path, document: Any, *, compact: bool = False) -> None:
    text = json.dumps(document, separators=(",", ":")) if compact else json.dumps(document, indent=2, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


def _write_failure(message: str) -> None:
    """SageMaker shows the content of ``<SM_OUTPUT_DIR>/failure`` as the job's FailureReason."""
    output_dir = os.environ.get("SM_OUTPUT_DIR")
    if output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "failure").write_text(message[:1024], encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
