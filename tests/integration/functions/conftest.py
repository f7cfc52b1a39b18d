"""Shared fixtures of the handler tests: a Lambda context, the metrics namespace, moto.

Environment defaults are set at import time, before any handler module is imported, because
Powertools reads the metrics namespace and service name when its objects are built.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

for _name, _value in {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "mlops-test",
    "POWERTOOLS_METRICS_NAMESPACE": "MLOps/Pipeline",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "LOG_LEVEL": "INFO",
}.items():
    os.environ.setdefault(_name, _value)

from moto import mock_aws  # noqa: E402

from functions.shared.aws import reset_clients  # noqa: E402
from mlops.local.adapters.lambda_runtime import LambdaContext  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[3]
EVENTS_DIR = REPO_ROOT / "tests" / "fixtures" / "events"
SCHEMA_PATH = REPO_ROOT / "schemas" / "ai4i2020.schema.json"
DATA_PATH = REPO_ROOT / "data" / "ai4i2020.csv"
REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def lambda_context() -> LambdaContext:
    """The context the local cloud's Lambda runtime passes a handler (one fake for every test)."""
    return LambdaContext(
        function_name="mlops-test-function",
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mlops-test-function",
        memory_limit_in_mb=512,
        timeout_seconds=300,
        log_group_name="/aws/lambda/mlops-test-function",
        log_stream_name="2026/11/12/[$LATEST]test",
    )


@pytest.fixture(autouse=True)
def _metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every metric is a ``single_metric`` (no state kept between invocations to clear); a test that
    removes the namespace to see the error must not leak that into the next."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "MLOps/Pipeline")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh moto account; cached boto3 clients are dropped so they bind to this mock."""
    # Never let a handler reach an endpoint or profile configured in the developer's shell.
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, REGION)
    reset_clients()
    with mock_aws():
        yield
    reset_clients()


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """Read an event fixture from tests/fixtures/events (a fresh copy each call)."""

    def _load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))

    return _load


@pytest.fixture
def schema_path() -> Path:
    return SCHEMA_PATH


@pytest.fixture
def dataset_path() -> Path:
    return DATA_PATH


@pytest.fixture
def read_metrics(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """Parse the EMF documents printed so far: ``[{"name", "value", "namespace", "dimensions"}]``."""

    def _read() -> list[dict[str, Any]]:
        return _parse_emf(capsys.readouterr().out)

    return _read


@dataclass(frozen=True)
class TrainingRun:
    """What one real SageMaker-style training job wrote (SM_MODEL_DIR and SM_OUTPUT_DATA_DIR)."""

    model_dir: Path
    output_dir: Path
    train_csv: Path

    def model_tar(self) -> bytes:
        """SageMaker packs the whole model directory, the serving code's folder (code/) included."""
        files = sorted(p for p in self.model_dir.rglob("*") if p.is_file())
        return make_tar_gz({p.relative_to(self.model_dir).as_posix(): p.read_bytes() for p in files})

    def output_tar(self) -> bytes:
        return make_tar_gz({p.name: p.read_bytes() for p in sorted(self.output_dir.iterdir())})

    def metrics(self) -> dict[str, Any]:
        return json.loads((self.output_dir / "metrics.json").read_text())


def make_tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz with the given root-level files, as SageMaker packs model and output directories."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def training_run(tmp_path_factory: pytest.TempPathFactory) -> TrainingRun:
    """Run the real training script once per session on the first 3,000 AI4I rows (about a second:
    logistic regression), producing a real model.joblib, metrics.json, baseline.json, manifest.json."""
    from pipelines.train import main as train_main

    root = tmp_path_factory.mktemp("training")
    train_dir, model_dir, output_dir = root / "train", root / "model", root / "output"
    train_dir.mkdir()
    lines = DATA_PATH.read_text(encoding="utf-8").splitlines(keepends=True)
    train_csv = train_dir / "data.csv"
    train_csv.write_text("".join(lines[:3001]), encoding="utf-8")
    code = train_main(
        [
            "--train",
            str(train_dir),
            "--model-dir",
            str(model_dir),
            "--output-data-dir",
            str(output_dir),
            "--model-type",
            "logistic_regression",
            "--seed",
            "42",
            "--schema",
            str(SCHEMA_PATH),
        ]
    )
    assert code == 0, "the training script failed; see its log above"
    return TrainingRun(model_dir, output_dir, train_csv)


@pytest.fixture
def tar_gz() -> Callable[[dict[str, bytes]], bytes]:
    return make_tar_gz


def _parse_emf(captured_stdout: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for line in captured_stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "_aws" not in doc:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            dims = {d: doc[d] for group in directive["Dimensions"] for d in group}
            for metric in directive["Metrics"]:
                values = doc[metric["Name"]]
                for value in values if isinstance(values, list) else [values]:
                    found.append(
                        {
                            "name": metric["Name"],
                            "value": value,
                            "namespace": directive["Namespace"],
                            "dimensions": dims,
                        }
                    )
    return found
