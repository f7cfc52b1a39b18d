"""Evaluate a finished training job: read its outputs, verify the model, apply the gate, record it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.evaluate.artifacts import member_sha256, read_members
from functions.evaluate.gate import GateDecision, GatePolicy, decide
from functions.shared.config import env_float, env_json, env_str
from functions.shared.contracts import EvaluationOutput, EvaluationReports
from functions.shared.errors import ArtifactError, ConfigurationError
from functions.shared.observability import count, logger
from functions.shared.s3 import S3Location, parse_s3_uri, put_bytes, put_json

__all__ = ["EvaluateSettings", "evaluate_training_job"]

METRICS, BASELINE, MANIFEST = "metrics.json", "baseline.json", "manifest.json"
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # SageMaker's training job name rule
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class EvaluateSettings:
    artifacts_bucket: str
    policy: GatePolicy

    @classmethod
    def from_env(cls) -> EvaluateSettings:
        thresholds = env_json("GATE_THRESHOLDS")
        if not isinstance(thresholds, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) for k, v in thresholds.items()
        ):
            raise ConfigurationError(
                f"environment variable GATE_THRESHOLDS must be a JSON object of metric -> number, got {thresholds!r}"
            )
        policy = GatePolicy(
            primary_metric=env_str("GATE_PRIMARY_METRIC"),
            thresholds={k: float(v) for k, v in thresholds.items()},
            min_improvement=env_float("GATE_MIN_IMPROVEMENT", minimum=0.0),
        )
        return cls(env_str("ARTIFACTS_BUCKET"), policy)


def _output_archive(model_artifacts: str) -> tuple[S3Location, S3Location]:
    """SageMaker writes ``output.tar.gz`` (SM_OUTPUT_DATA_DIR) beside ``model.tar.gz``."""
    try:
        model = parse_s3_uri(model_artifacts)
    except ValueError as exc:
        raise ArtifactError(f"modelArtifacts: {exc}") from exc
    folder, _, name = model.key.rpartition("/")
    if name != "model.tar.gz":
        raise ArtifactError(f"modelArtifacts must end with model.tar.gz, got {model_artifacts!r}")
    return model, S3Location(model.bucket, f"{folder}/output.tar.gz" if folder else "output.tar.gz")


def _json(raw: bytes, name: str, where: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{where}: {name} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ArtifactError(f"{where}: {name} must hold a JSON object")
    return document


def _verified_sha256(model: S3Location, metrics: dict[str, Any], manifest: dict[str, Any]) -> str:
    """The model's digest, after checking that metrics, manifest and the archive itself agree.

    This digest becomes MLOPS_MODEL_SHA256 on the served model and the registry's lineage, so it
    must describe the very model.joblib that was evaluated, not merely what a JSON file claims.
    """
    claimed = manifest.get("sha256")
    artifact = manifest.get("artifact")
    if not isinstance(claimed, str) or not _SHA256.fullmatch(claimed):
        raise ArtifactError(f"{MANIFEST} has no valid sha256")
    if not isinstance(artifact, str) or "/" in artifact or artifact in {"", ".", ".."}:
        raise ArtifactError(f"{MANIFEST} names no plain artifact file (artifact={artifact!r})")
    if metrics.get("artifact_sha256") not in (None, claimed):
        raise ArtifactError(f"{METRICS} and {MANIFEST} disagree on the model's sha256")
    actual = member_sha256(model, artifact)
    if actual != claimed:
        raise ArtifactError(f"{model.uri}: {artifact} has sha256 {actual}, but the manifest says {claimed}")
    return actual


def evaluate_training_job(state: Mapping[str, Any], settings: EvaluateSettings) -> EvaluationOutput:
    """Gate one training job (input ``{"jobName", "modelArtifacts", ...}``); see docs/ARCHITECTURE.md."""
    job, artifacts = state.get("jobName"), state.get("modelArtifacts")
    if not isinstance(job, str) or not _JOB_NAME.fullmatch(job):
        raise ValueError(f"jobName must be a SageMaker training job name, got {job!r}")
    if not isinstance(artifacts, str):
        raise ValueError(f"modelArtifacts must be the S3 URI of model.tar.gz, got {artifacts!r}")
    model, output = _output_archive(artifacts)
    members = read_members(output, {METRICS, BASELINE, MANIFEST})
    metrics = _json(members[METRICS], METRICS, output.uri)
    manifest = _json(members[MANIFEST], MANIFEST, output.uri)
    _json(members[BASELINE], BASELINE, output.uri)  # must parse: the drift Lambda depends on it
    challenger = metrics.get("challenger")
    champion = metrics.get("champion")
    if not isinstance(challenger, dict):
        raise ArtifactError(f"{output.uri}: {METRICS} has no 'challenger' metrics object")
    if champion is not None and not isinstance(champion, dict):
        raise ArtifactError(f"{output.uri}: {METRICS} 'champion' must be an object or null")
    sha256 = _verified_sha256(model, metrics, manifest)

    decision: GateDecision = decide(challenger, champion, settings.policy)
    prefix = f"reports/{job}/"
    bucket = settings.artifacts_bucket
    reports: EvaluationReports = {
        "metrics": put_bytes(bucket, prefix + METRICS, members[METRICS], "application/json"),
        "baseline": put_bytes(bucket, prefix + BASELINE, members[BASELINE], "application/json"),
        "manifest": put_bytes(bucket, prefix + MANIFEST, members[MANIFEST], "application/json"),
        "evaluation": f"s3://{bucket}/{prefix}evaluation.json",
    }
    result: EvaluationOutput = {
        "approved": decision.approved,
        "approvalStatus": decision.approval_status,
        "reasons": decision.reasons,
        "metrics": challenger,
        "championMetrics": champion,
        "artifactSha256": sha256,
        "reports": reports,
        # Digests of the reports as written, recorded by register as the registry's ContentDigest.
        "reportDigests": {
            "metrics": hashlib.sha256(members[METRICS]).hexdigest(),
            "baseline": hashlib.sha256(members[BASELINE]).hexdigest(),
        },
        "modelType": metrics.get("model_type"),
        "hyperparameters": metrics.get("hyperparameters"),
        "rows": metrics.get("rows"),
        # What the model was trained and held out on, and how its threshold was chosen: register
        # records them in the lineage, and the next plan reads data.trainBatches from metrics.json.
        "data": metrics.get("data"),
        "threshold": metrics.get("threshold"),
    }
    put_json(
        bucket,
        prefix + "evaluation.json",
        {
            "jobName": job,
            "modelArtifacts": artifacts,
            "evaluatedAt": datetime.now(UTC).isoformat(),
            "policy": {
                "primaryMetric": settings.policy.primary_metric,
                "thresholds": dict(settings.policy.thresholds),
                "minImprovement": settings.policy.min_improvement,
            },
            **result,
        },
    )
    count("ModelsApproved" if decision.approved else "ModelsRejected")
    logger.info("evaluated", extra={"jobName": job, "approved": decision.approved, "reasons": decision.reasons})
    return result
