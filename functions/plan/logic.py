"""PlanTraining: choose the window a run trains on, or skip a run that has nothing new to learn.

A retraining is only worth its cost (and only has a fair holdout) when the window holds labelled
rows the champion was not trained on: the holdout is drawn from exactly those rows, so both models
are scored on data neither has seen. With none, training would reproduce the champion at best,
so the run ends as ``no_new_data`` (docs/ARCHITECTURE.md, "PlanTraining").

What the champion trained on comes from its ``metrics.json`` (``data.trainBatches``). A champion
trained before batches were recorded cannot say, so a conservative reading is used (see
:func:`champion_seen`): treating too much as seen can only skip a run, never mislabel the holdout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from functions.plan.window import WindowMode, select_window, since_quality_change, window_summary
from functions.shared.batches import (
    RETRAINING_STATE_KEY,
    Batch,
    list_batches,
    read_json_if_exists,
    snapshots_prefix,
    version_sort_key,
    version_time,
)
from functions.shared.config import env_float, env_int, env_str
from functions.shared.contracts import PlanOutput
from functions.shared.errors import ConfigurationError, NoCuratedDataError, UnsupportedEventError
from functions.shared.observability import count, logger
from functions.shared.s3 import parse_s3_uri, put_bytes, put_json, s3_uri

__all__ = [
    "SKIP_NO_NEW_DATA",
    "SKIP_UPLOAD_NOT_RETRAINING",
    "ChampionBatches",
    "PlanSettings",
    "champion_seen",
    "plan_training",
]

SKIP_NO_NEW_DATA = "no_new_data"
SKIP_UPLOAD_NOT_RETRAINING = "upload_not_retraining"
PLANS_PREFIX = "training/plans/"
# Step Functions execution names never hold "/" or whitespace; refusing them keeps the plan's keys
# inside its own folder whatever the caller sends.
_EXECUTION_NAME = re.compile(r"[^\s/\\]{1,80}")


def env_flag(name: str) -> bool:
    """``true`` / ``false`` (any case): a typo must fail the deployment, not flip a behaviour."""
    raw = env_str(name).strip().lower()
    if raw not in {"true", "false"}:
        raise ConfigurationError(f"environment variable {name} must be 'true' or 'false', got {raw!r}")
    return raw == "true"


@dataclass(frozen=True)
class PlanSettings:
    curated_bucket: str
    artifacts_bucket: str
    dataset_name: str
    window_mode: WindowMode
    window_value: int
    retrain_on_upload: bool
    quality_tolerance: float | None = None

    @classmethod
    def from_env(cls) -> PlanSettings:
        raw_mode = env_str("TRAINING_WINDOW_MODE").strip().lower()
        try:
            mode = WindowMode(raw_mode)
        except ValueError:
            choices = ", ".join(m.value for m in WindowMode)
            raise ConfigurationError(
                f"environment variable TRAINING_WINDOW_MODE must be one of {choices}, got {raw_mode!r}"
            ) from None
        # The value means nothing for "all" (cdk.json writes 0 there), so it is only checked otherwise.
        value = env_int("TRAINING_WINDOW_VALUE", default=0)
        if mode is not WindowMode.ALL and value < 1:
            raise ConfigurationError(
                f"environment variable TRAINING_WINDOW_VALUE must be >= 1 for window mode {mode.value!r}, got {value}"
            )
        return cls(
            curated_bucket=env_str("CURATED_BUCKET"),
            artifacts_bucket=env_str("ARTIFACTS_BUCKET"),
            dataset_name=env_str("DATASET_NAME"),
            window_mode=mode,
            window_value=value,
            retrain_on_upload=env_flag("RETRAIN_ON_UPLOAD"),
            quality_tolerance=env_float("QUALITY_TOLERANCE", minimum=0.0),
        )


@dataclass(frozen=True)
class ChampionBatches:
    """The batches the champion is taken to have trained on, and how that was decided."""

    train_batches: list[str]
    seen: frozenset[str]
    rule: str


def champion_seen(metrics: Any, batches: Sequence[Batch], metrics_written: datetime | None) -> ChampionBatches:
    """Which of ``batches`` the champion has seen, from its ``metrics.json`` (``None`` if unreadable).

    In order of preference:
    1. ``data.trainBatches``: exactly those (what the training script records);
    2. ``data.batches`` without ``trainBatches``: every batch not newer than the newest one named;
    3. no ``data`` block (a champion trained before batches were recorded): every batch validated
       no later than its metrics.json was written — a later batch cannot have been trained on;
    4. nothing usable (no metrics.json): every batch, logged. The run is then skipped until a
       champion with a record exists; retraining on rows the champion may have seen would score
       it on its own training data, which is the one thing the gate must never do.
    """
    data = metrics.get("data") if isinstance(metrics, dict) else None
    data = data if isinstance(data, dict) else {}
    trained = data.get("trainBatches")
    if _is_names(trained):
        return ChampionBatches(list(trained), frozenset(trained), "trainBatches")
    named = data.get("batches")
    if _is_names(named) and named:
        newest = max(version_sort_key(v) for v in named)
        seen = [b.dataset_version for b in batches if b.sort_key <= newest]
        return ChampionBatches(seen, frozenset(seen) | frozenset(named), "not newer than data.batches")
    if isinstance(metrics, dict) and metrics_written is not None:
        cutoff = metrics_written.astimezone(UTC)
        seen = [b.dataset_version for b in batches if (version_time(b.dataset_version) or cutoff) <= cutoff]
        return ChampionBatches(seen, frozenset(seen), "validated before the champion's metrics.json")
    seen = [b.dataset_version for b in batches]
    logger.warning(
        "the champion's metrics.json names no batches and cannot be read: treating every batch as seen",
        extra={"batches": len(seen)},
    )
    return ChampionBatches(seen, frozenset(seen), "unknown: all seen")


def _is_names(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _champion_batches(champion: dict[str, Any], batches: Sequence[Batch]) -> ChampionBatches:
    uri = champion.get("metricsUri")
    metrics: Any = None
    written: datetime | None = None
    if isinstance(uri, str) and uri:
        location = parse_s3_uri(uri)
        found = read_json_if_exists(location.bucket, location.key)
        if found is None:
            logger.warning("the champion's metrics.json does not exist", extra={"metricsUri": uri})
        else:
            metrics, written = found
            if metrics is None:
                logger.warning("the champion's metrics.json is not JSON", extra={"metricsUri": uri})
    else:
        logger.warning("the champion has no metricsUri", extra={"modelPackageArn": champion.get("modelPackageArn")})
    return champion_seen(metrics, batches, written)


def _request(event: Any) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    if not isinstance(event, dict):
        raise UnsupportedEventError(f"the plan function expects a JSON object, got {type(event).__name__}")
    reason, name = event.get("reason"), event.get("executionName")
    champion, validation = event.get("champion"), event.get("validation") or {}
    if not isinstance(reason, str) or not reason:
        raise UnsupportedEventError("the plan input lacks 'reason'")
    if not isinstance(name, str) or not _EXECUTION_NAME.fullmatch(name) or name in {".", ".."}:
        raise UnsupportedEventError(f"the plan input's 'executionName' is not an execution name: {name!r}")
    if not isinstance(champion, dict):
        raise UnsupportedEventError("the plan input lacks 'champion' (the ResolveChampion output)")
    if not isinstance(validation, dict):
        raise UnsupportedEventError("the plan input's 'validation' must be an object")
    return reason, name, champion, validation


def plan_training(event: Any, settings: PlanSettings, now: datetime | None = None) -> PlanOutput:
    """Select the window, decide train / skip, write the plan when training; see the module docstring."""
    now = now or datetime.now(UTC)
    reason, execution_name, champion, validation = _request(event)
    batches = list_batches(settings.curated_bucket, settings.dataset_name)
    if not batches:
        raise NoCuratedDataError(
            f"no curated batch of dataset {settings.dataset_name!r} in "
            f"{s3_uri(settings.curated_bucket, snapshots_prefix(settings.dataset_name))}"
        )
    validated = validation.get("datasetVersion")
    if validated and validated not in {b.dataset_version for b in batches}:
        logger.warning(
            "the batch this run validated is not among the listed batches", extra={"datasetVersion": validated}
        )
    window = select_window(batches, settings.window_mode, settings.window_value)
    summary = window_summary(window, settings.window_mode, settings.window_value)
    if reason == "quality" and settings.quality_tolerance is not None:
        changed = since_quality_change(window, settings.quality_tolerance)
        if changed is not None:
            window = changed
            summary = {**window_summary(window, settings.window_mode, settings.window_value), "since": "quality_change"}

    has_champion = bool(champion.get("found"))
    known = _champion_batches(champion, batches) if has_champion else None
    seen = known.seen if known else frozenset()
    unseen = [b for b in window if b.dataset_version not in seen]
    new_rows = sum(b.rows for b in unseen)
    context = {
        "reason": reason,
        "executionName": execution_name,
        "window": summary,
        "newBatches": len(unseen),
        "newRows": new_rows,
        "championRule": known.rule if known else None,
    }

    skipped: str | None = None
    if has_champion and reason == "upload" and not settings.retrain_on_upload:
        skipped = SKIP_UPLOAD_NOT_RETRAINING
    elif has_champion and new_rows == 0:
        skipped = SKIP_NO_NEW_DATA

    prefix = f"{PLANS_PREFIX}{execution_name}/"
    out: PlanOutput = {
        "train": skipped is None,
        "skipped": skipped,
        "planPrefixUri": None,
        "manifestUri": None,
        "window": summary,
        "newBatches": len(unseen),
        "newRows": new_rows,
    }
    if skipped is not None:
        logger.info(f"not training: {skipped}", extra=context)
        count("RetrainingSkipped", Reason=skipped)
        if skipped == SKIP_NO_NEW_DATA:
            # The champion has seen the whole window, newest batch included: record it, so that a
            # trigger whose state predates this champion stops starting runs that end here.
            _write_state(settings, window[-1].dataset_version, execution_name, now)
        return out

    plan = {
        "dataset": settings.dataset_name,
        "createdAt": now.isoformat(),
        "window": summary,
        "batches": [_plan_entry(b, seen) for b in window],
        "champion": (
            {
                "modelPackageArn": champion.get("modelPackageArn"),
                "version": champion.get("version"),
                "trainBatches": known.train_batches,
            }
            if known is not None
            else None
        ),
    }
    manifest: list[Any] = [
        {"prefix": s3_uri(settings.curated_bucket, snapshots_prefix(settings.dataset_name))},
        *(f"{b.dataset_version}/data.csv" for b in window),
    ]
    put_json(settings.artifacts_bucket, f"{prefix}plan.json", plan)
    manifest_uri = put_bytes(
        settings.artifacts_bucket,
        f"{prefix}train.manifest",
        json.dumps(manifest, indent=1).encode("utf-8"),
        "application/json",
    )
    _write_state(settings, window[-1].dataset_version, execution_name, now)
    out["planPrefixUri"] = s3_uri(settings.artifacts_bucket, prefix)
    out["manifestUri"] = manifest_uri
    logger.info("training planned", extra={**context, "planPrefixUri": out["planPrefixUri"]})
    return out


def _plan_entry(batch: Batch, seen: frozenset[str]) -> dict[str, Any]:
    return {
        "datasetVersion": batch.dataset_version,
        "key": batch.key,
        "rows": batch.rows,
        "positives": batch.positives,
        "timeRange": batch.time_range,
        "origin": batch.origin,
        "seenByChampion": batch.dataset_version in seen,
    }


def _write_state(settings: PlanSettings, last: str, execution_name: str, now: datetime) -> None:
    """``retraining/state.json``: the trigger's ``no_new_data`` guard compares new batches with it."""
    put_json(
        settings.artifacts_bucket,
        RETRAINING_STATE_KEY,
        {"lastTrainedBatch": last, "executionName": execution_name, "at": now.isoformat()},
    )
