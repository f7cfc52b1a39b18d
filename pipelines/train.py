"""SageMaker training script (script mode): fit a challenger, score it and the champion on one holdout.

Run by the scikit-learn framework container as ``python pipelines/train.py --key value ...`` with the
code root as working directory, by the local cloud in-process through :func:`main`, or as
``python -m pipelines.train``. Everything the evaluate Lambda needs to judge the challenger comes
out of this one job, computed on the same rows: the challenger's holdout metrics, the champion's
metrics on that very holdout (so "better than the champion" compares like with like), and the drift
baseline the deployed model will be monitored against.
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the code root (the folder above pipelines/) importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
import sklearn
from sklearn.model_selection import train_test_split

from pipelines import modeling
from pipelines.drift.baseline import build_baseline
from pipelines.inference import MANIFEST_FILE, MODEL_FILE, SCHEMA_FILE, IntegrityError, load_model, save_model
from pipelines.schema import DatasetSchema, SchemaError, load_schema

CODE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = CODE_ROOT / SCHEMA_FILE
METRICS_FILE = "metrics.json"
BASELINE_FILE = "baseline.json"
CV_FOLDS = 3

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
        "--output-data-dir", default=env("SM_OUTPUT_DATA_DIR"), required=not env("SM_OUTPUT_DATA_DIR")
    )
    parser.add_argument("--model-type", default=modeling.DEFAULT_MODEL_TYPE, choices=modeling.MODEL_TYPES)
    parser.add_argument("--holdout-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--schema", default=str(DEFAULT_SCHEMA))
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
    frame = modeling.read_dataset(_csv_files(Path(args.train)), schema)
    features, labels = modeling.features_and_labels(frame, schema)
    log(f"read {len(frame)} rows, {int(labels.sum())} positive ({labels.mean():.2%})")

    x_train, x_hold, y_train, y_hold = _split(features, labels, args.holdout_fraction, args.seed)
    log(f"split: {len(y_train)} train / {len(y_hold)} holdout rows (stratified, seed {args.seed})")

    # The champion goes first: a champion that fails its integrity check fails the job before any
    # training time is spent.
    champion: dict[str, float] | None = None
    champion_status = "none"
    if args.champion:
        champion, champion_status = score_champion(
            Path(args.champion), x_hold, y_hold, schema, args.champion_sha256
        )

    pipeline = modeling.build_pipeline(schema, args.model_type, args.seed)
    oof = modeling.out_of_fold_probabilities(pipeline, x_train, y_train, seed=args.seed, folds=CV_FOLDS)
    threshold = modeling.best_f1_threshold(y_train, oof)
    log(f"threshold {threshold:.4f} (best F1 on {CV_FOLDS}-fold out-of-fold predictions of the train split)")

    pipeline.fit(x_train, y_train)
    holdout_proba = modeling.positive_probabilities(pipeline, x_hold)
    challenger = modeling.classification_metrics(y_hold, holdout_proba, threshold)
    log("challenger on holdout: " + _format_metrics(challenger))

    importance = modeling.importance_shares(pipeline, x_hold, y_hold, seed=args.seed)
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
        "model_type": args.model_type,
        "hyperparameters": {
            "model-type": args.model_type,
            "holdout-fraction": args.holdout_fraction,
            "seed": args.seed,
        },
        "sklearn_version": sklearn.__version__,
        "artifact_sha256": manifest["sha256"],
    }
    output_dir = Path(args.output_data_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_json(output_dir / METRICS_FILE, metrics)
    _write_json(output_dir / BASELINE_FILE, baseline, compact=True)  # KS samples: keep it small
    _write_json(output_dir / MANIFEST_FILE, manifest)
    log(f"wrote {METRICS_FILE}, {BASELINE_FILE}, {MANIFEST_FILE} to the output data directory")
    return metrics


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


def _csv_files(train_dir: Path) -> list[Path]:
    if not train_dir.is_dir():
        raise FileNotFoundError(f"train channel {train_dir} does not exist")
    files = sorted(train_dir.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"train channel {train_dir} holds no *.csv file")
    log(f"train channel files: {[f.name for f in files]}")
    return files


def _split(
    features: pd.DataFrame, labels: np.ndarray, holdout_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    positives = int(labels.sum())
    negatives = len(labels) - positives
    # Each class needs a row in the holdout and one per cross-validation fold in the train split.
    needed = CV_FOLDS + 1
    if min(positives, negatives) < needed:
        raise modeling.DataError(
            f"too few rows of one class to train and evaluate: {positives} positive, "
            f"{negatives} negative (each needs at least {needed})"
        )
    x_train, x_hold, y_train, y_hold = train_test_split(
        features, labels, test_size=holdout_fraction, stratify=labels, random_state=seed
    )
    if min(int(y_train.sum()), len(y_train) - int(y_train.sum())) < CV_FOLDS:
        raise modeling.DataError("the train split has fewer rows of one class than cross-validation folds")
    return x_train, x_hold, np.asarray(y_train), np.asarray(y_hold)


def _format_metrics(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())


def _write_json(path: Path, document: Any, *, compact: bool = False) -> None:
    text = (
        json.dumps(document, separators=(",", ":"))
        if compact
        else json.dumps(document, indent=2, sort_keys=True)
    )
    path.write_text(text + "\n", encoding="utf-8")


def _write_failure(message: str) -> None:
    """SageMaker shows the content of ``<SM_OUTPUT_DIR>/failure`` as the job's FailureReason."""
    output_dir = os.environ.get("SM_OUTPUT_DIR")
    if output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "failure").write_text(message[:1024], encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
