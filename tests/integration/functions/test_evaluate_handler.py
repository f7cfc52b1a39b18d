"""evaluate against moto S3 with the archives of a real training run."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import boto3
import pytest

from functions.evaluate.handler import lambda_handler
from functions.shared.errors import ArtifactError, ConfigurationError

ARTIFACTS = "mlops-artifacts-123456789012"
JOB = "train-upload-0123456789abcdef0123456789abcdef"
PREFIX = f"training/{JOB}/output/"
THRESHOLDS = {"roc_auc": 0.8, "pr_auc": 0.2}


@pytest.fixture
def s3(aws, monkeypatch):
    client = boto3.client("s3")
    client.create_bucket(Bucket=ARTIFACTS)
    monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS)
    monkeypatch.setenv("GATE_PRIMARY_METRIC", "roc_auc")
    # The fixture's model is scored on the newest 600 of 3,000 rows (13 failures): a real temporal
    # holdout, on which a logistic regression reaches a PR-AUC near 0.3.
    monkeypatch.setenv("GATE_THRESHOLDS", json.dumps(THRESHOLDS))
    monkeypatch.setenv("GATE_MIN_IMPROVEMENT", "0.002")
    return client


def publish(s3, model_tar: bytes, output_tar: bytes) -> dict:
    s3.put_object(Bucket=ARTIFACTS, Key=PREFIX + "model.tar.gz", Body=model_tar)
    s3.put_object(Bucket=ARTIFACTS, Key=PREFIX + "output.tar.gz", Body=output_tar)
    return {"jobName": JOB, "modelArtifacts": f"s3://{ARTIFACTS}/{PREFIX}model.tar.gz"}


def read(s3, key: str) -> bytes:
    return s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()


def with_metrics(training_run, tar_gz, **changes) -> bytes:
    """The run's output archive with metrics.json edited (e.g. a champion's numbers)."""
    files = {p.name: p.read_bytes() for p in training_run.output_dir.iterdir()}
    metrics = json.loads(files["metrics.json"])
    metrics.update(changes)
    files["metrics.json"] = json.dumps(metrics).encode()
    return tar_gz(files)


def test_a_challenger_meeting_the_thresholds_is_approved_and_recorded(s3, training_run, lambda_context, read_metrics):
    metrics = training_run.metrics()
    assert all(metrics["challenger"][k] >= v for k, v in THRESHOLDS.items())  # precondition
    state = publish(s3, training_run.model_tar(), training_run.output_tar())

    result = lambda_handler(state, lambda_context)

    assert result["approved"] is True and result["approvalStatus"] == "Approved"
    assert result["metrics"] == metrics["challenger"] and result["championMetrics"] is None
    assert (
        result["artifactSha256"] == hashlib.sha256((training_run.model_dir / "model.joblib").read_bytes()).hexdigest()
    )
    assert result["reasons"][0].startswith("pass threshold: roc_auc")
    assert any(r.startswith("pass champion: no champion") for r in result["reasons"])
    for name in ("metrics", "baseline", "manifest"):  # copied byte for byte
        assert read(s3, f"reports/{JOB}/{name}.json") == (training_run.output_dir / f"{name}.json").read_bytes()
        assert result["reports"][name] == f"s3://{ARTIFACTS}/reports/{JOB}/{name}.json"
    assert (
        result["reportDigests"]["baseline"]
        == hashlib.sha256((training_run.output_dir / "baseline.json").read_bytes()).hexdigest()
    )
    evaluation = json.loads(read(s3, f"reports/{JOB}/evaluation.json"))
    assert evaluation["approved"] is True and evaluation["policy"] == {
        "primaryMetric": "roc_auc",
        "thresholds": THRESHOLDS,
        "minImprovement": 0.002,
    }
    # The training job's data and threshold blocks reach register (and evaluation.json) unchanged.
    assert result["data"] == metrics["data"] and result["threshold"] == metrics["threshold"]
    assert result["data"]["holdoutRule"] == "newest rows unseen by the champion"
    assert result["threshold"]["mode"] == "best_f1"
    assert evaluation["data"] == metrics["data"] and evaluation["threshold"] == metrics["threshold"]
    assert [m["name"] for m in read_metrics()] == ["ModelsApproved"]


def test_a_challenger_below_a_threshold_is_rejected_with_the_reason(
    s3, training_run, lambda_context, monkeypatch, read_metrics
):
    monkeypatch.setenv("GATE_THRESHOLDS", json.dumps({"roc_auc": 0.995}))
    state = publish(s3, training_run.model_tar(), training_run.output_tar())

    result = lambda_handler(state, lambda_context)

    auc = training_run.metrics()["challenger"]["roc_auc"]
    assert result["approved"] is False and result["approvalStatus"] == "Rejected"
    assert f"FAIL threshold: roc_auc {auc:.4f} < 0.9950" in result["reasons"]
    assert [m["name"] for m in read_metrics()] == ["ModelsRejected"]


def test_a_challenger_worse_than_the_champion_is_rejected(s3, training_run, tar_gz, lambda_context):
    challenger = training_run.metrics()["challenger"]
    better_champion = {**challenger, "roc_auc": challenger["roc_auc"] + 0.01}
    state = publish(s3, training_run.model_tar(), with_metrics(training_run, tar_gz, champion=better_champion))

    result = lambda_handler(state, lambda_context)

    assert result["approved"] is False
    assert result["championMetrics"] == better_champion
    assert any(r.startswith("FAIL champion: roc_auc") for r in result["reasons"])
    assert all(r.startswith("pass threshold") for r in result["reasons"] if "threshold" in r)


def test_a_tie_with_the_champion_is_rejected(s3, training_run, tar_gz, lambda_context):
    challenger = training_run.metrics()["challenger"]
    state = publish(s3, training_run.model_tar(), with_metrics(training_run, tar_gz, champion=dict(challenger)))

    result = lambda_handler(state, lambda_context)

    assert result["approved"] is False and result["approvalStatus"] == "Rejected"
    assert result["reasons"][-1].endswith("; the champion keeps serving")


@pytest.mark.parametrize(("gain", "approved"), [(0.001, False), (0.003, True)])
def test_the_challenger_must_beat_the_champion_by_the_minimum_improvement(
    s3, training_run, tar_gz, lambda_context, gain, approved
):
    challenger = training_run.metrics()["challenger"]
    champion = {**challenger, "roc_auc": challenger["roc_auc"] - gain}
    state = publish(s3, training_run.model_tar(), with_metrics(training_run, tar_gz, champion=champion))

    assert lambda_handler(state, lambda_context)["approved"] is approved


def test_an_improvement_of_exactly_the_minimum_passes(s3, training_run, tar_gz, lambda_context, monkeypatch):
    monkeypatch.setenv("GATE_MIN_IMPROVEMENT", "0.125")  # binary fractions: the sum is exact
    challenger = {**training_run.metrics()["challenger"], "roc_auc": 0.875}
    files = with_metrics(training_run, tar_gz, challenger=challenger, champion={**challenger, "roc_auc": 0.75})
    state = publish(s3, training_run.model_tar(), files)

    result = lambda_handler(state, lambda_context)

    assert result["approved"] is True
    assert result["reasons"][-1] == "pass champion: roc_auc 0.8750 >= champion 0.7500 + required improvement 0.1250"


def test_a_champion_missing_the_primary_metric_fails_closed(s3, training_run, tar_gz, lambda_context):
    champion = {k: v for k, v in training_run.metrics()["challenger"].items() if k != "roc_auc"}
    state = publish(s3, training_run.model_tar(), with_metrics(training_run, tar_gz, champion=champion))

    result = lambda_handler(state, lambda_context)

    assert result["approved"] is False
    assert result["reasons"][-1].startswith("FAIL champion: roc_auc is missing for the champion")


def test_the_whole_execution_state_is_accepted(s3, training_run, lambda_context):
    training = publish(s3, training_run.model_tar(), training_run.output_tar())
    state = {"reason": "upload", "data": {}, "validation": {}, "champion": {"found": False}, "training": training}

    assert lambda_handler(state, lambda_context)["approved"] is True


def test_a_model_that_does_not_match_its_manifest_is_refused(s3, training_run, tar_gz, lambda_context):
    files = {p.name: p.read_bytes() for p in training_run.model_dir.iterdir() if p.is_file()}
    files["model.joblib"] = files["model.joblib"] + b"tampered"
    state = publish(s3, tar_gz(files), training_run.output_tar())

    with pytest.raises(ArtifactError, match=r"model.joblib has sha256 .* but the manifest says"):
        lambda_handler(state, lambda_context)
    assert "Contents" not in s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="reports/")


def unsafe_archive(kind: str, training_run) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in training_run.output_dir.iterdir():
            if kind == "link" and path.name == "metrics.json":
                info = tarfile.TarInfo("metrics.json")
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                archive.addfile(info)
                continue
            name = f"../{path.name}" if kind == "traversal" and path.name == "metrics.json" else path.name
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["traversal", "link"])
def test_unsafe_archives_are_refused(s3, training_run, lambda_context, kind):
    state = publish(s3, training_run.model_tar(), unsafe_archive(kind, training_run))
    with pytest.raises(ArtifactError, match=r"unsafe member|not a regular file"):
        lambda_handler(state, lambda_context)


def test_missing_outputs_are_named(s3, training_run, tar_gz, lambda_context):
    s3.put_object(Bucket=ARTIFACTS, Key=PREFIX + "model.tar.gz", Body=training_run.model_tar())
    state = {"jobName": JOB, "modelArtifacts": f"s3://{ARTIFACTS}/{PREFIX}model.tar.gz"}
    with pytest.raises(ArtifactError, match=r"output.tar.gz does not exist"):
        lambda_handler(state, lambda_context)

    files = {p.name: p.read_bytes() for p in training_run.output_dir.iterdir() if p.name != "baseline.json"}
    s3.put_object(Bucket=ARTIFACTS, Key=PREFIX + "output.tar.gz", Body=tar_gz(files))
    with pytest.raises(ArtifactError, match=r"lacks baseline.json"):
        lambda_handler(state, lambda_context)


def test_bad_input_and_configuration(s3, lambda_context, monkeypatch):
    with pytest.raises(ValueError, match="jobName"):
        lambda_handler({"jobName": "../../etc", "modelArtifacts": "s3://b/k/model.tar.gz"}, lambda_context)
    with pytest.raises(ArtifactError, match=r"must end with model.tar.gz"):
        lambda_handler({"jobName": JOB, "modelArtifacts": f"s3://{ARTIFACTS}/x/model.zip"}, lambda_context)
    monkeypatch.setenv("GATE_THRESHOLDS", '["roc_auc"]')
    with pytest.raises(ConfigurationError, match="GATE_THRESHOLDS"):
        lambda_handler({"jobName": JOB, "modelArtifacts": f"s3://{ARTIFACTS}/{PREFIX}model.tar.gz"}, lambda_context)
    monkeypatch.setenv("GATE_THRESHOLDS", "{}")
    for bad in ("-0.01", "nan"):
        monkeypatch.setenv("GATE_MIN_IMPROVEMENT", bad)
        with pytest.raises(ConfigurationError, match="GATE_MIN_IMPROVEMENT"):
            lambda_handler({"jobName": JOB, "modelArtifacts": f"s3://{ARTIFACTS}/{PREFIX}model.tar.gz"}, lambda_context)
    monkeypatch.delenv("GATE_MIN_IMPROVEMENT")
    with pytest.raises(ConfigurationError, match="GATE_MIN_IMPROVEMENT"):
        lambda_handler({"jobName": JOB, "modelArtifacts": f"s3://{ARTIFACTS}/{PREFIX}model.tar.gz"}, lambda_context)
