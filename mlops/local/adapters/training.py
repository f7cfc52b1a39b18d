"""SageMaker training jobs that really train: the job's script runs per the script-mode contract.

moto records a training job and calls it Completed at once, with no artifact. This adapter keeps
moto's record but starts the job InProgress and runs it on a worker thread the way the SageMaker
scikit-learn container would: it lays out `/opt/ml` in a scratch directory (hyperparameters.json,
inputdataconfig.json, one folder per channel filled from S3), unpacks `sagemaker_submit_directory`,
runs `sagemaker_program` with the `SM_*` environment and the hyperparameters as `--key value`
arguments in a subprocess, then uploads `model.tar.gz` and `output.tar.gz` where SageMaker puts them
and marks the job Completed — or Failed with the script's `failure` file or its last log lines.
The script's output lands in CloudWatch Logs under `/aws/sagemaker/TrainingJobs`, as in AWS.

A channel is filled as SageMaker fills it, per its `S3DataType`: `S3Prefix` downloads every object
under the prefix (at its key relative to the prefix); `ManifestFile` reads the manifest object (a
JSON array: `{"prefix": "s3://bucket/prefix/"}`, then keys relative to it) and downloads exactly
the listed objects at their relative keys, so a job trains on the batches its plan chose and not
on whatever else shares the prefix. Each job runs on its own thread with its own environment
dictionary for the subprocess; nothing here touches `os.environ`.

As in SageMaker, a training job name is unique in the account: creating a job under a name already
taken fails with ``ResourceInUse`` (moto would silently replace the earlier job). A
``("sagemaker", "TrainingJob")`` fault (`mlops.local.adapters.faults`) fails the next job the way
SageMaker reports a failed job, without running its script.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto.sagemaker.exceptions import ResourceInUseException
from moto.sagemaker.models import FakeTrainingJob, SageMakerModelBackend

from functions.shared.s3 import parse_s3_uri
from mlops.local.adapters.faults import FaultInjector
from mlops.local.adapters.patches import PatchPoint, PatchSet
from mlops.local.adapters.process import environment_snapshot
from mlops.local.constants import REGION

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# Hyperparameters the SageMaker SDK and container use for themselves, not passed to the script.
_FRAMEWORK_HYPERPARAMETERS = {
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
}


def _unquote(value: str) -> str:
    """The SageMaker SDK JSON-encodes hyperparameters ('"train.py"'); CDK passes them plain."""
    if value.startswith('"') and value.endswith('"'):
        return json.loads(value)
    return value


def _tar_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=str(path.relative_to(directory)))
    return buffer.getvalue()


class TrainingJobRunner:
    """Runs training jobs created through moto's SageMaker API."""

    def __init__(self, work_dir: Path, faults: FaultInjector | None = None) -> None:
        self._work_dir = work_dir
        self._faults = faults
        self._threads: list[threading.Thread] = []

    def create_training_job(self, backend: SageMakerModelBackend, **kwargs: Any) -> FakeTrainingJob:
        name = kwargs.get("training_job_name", "")
        existing = backend.training_jobs.get(name)
        if existing is not None:
            raise ResourceInUseException(
                "Training job names must be unique within an AWS account and region, and a training job "
                f"with this name already exists ({existing.arn})"
            )
        job = _ORIGINAL_CREATE(backend, **kwargs)
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.training_end_time = None  # type: ignore[assignment]  # moto types it set; a running job has none
        thread = threading.Thread(
            target=self._run_safely,
            args=(job,),
            name=f"training-{job.training_job_name}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()
        return job

    def wait(self, timeout: float | None = None) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    def _run_safely(self, job: FakeTrainingJob) -> None:
        try:
            self._run(job)
            job.training_job_status = job.secondary_status = "Completed"
        except Exception as error:  # any failure is the job's failure, reported as SageMaker does
            job.training_job_status = job.secondary_status = "Failed"
            job.failure_reason = str(error)[:1024]  # type: ignore[attr-defined]  # read by the describe patch
        finally:
            job.training_end_time = job.last_modified_time = datetime.now(UTC)

    def _run(self, job: FakeTrainingJob) -> None:
        injected = self._faults.training_job_failure(job.training_job_name) if self._faults else None
        if injected is not None:
            raise RuntimeError(injected)
        s3 = boto3.client("s3", region_name=REGION)
        hyperparameters = {key: _unquote(value) for key, value in (job.hyper_parameters or {}).items()}
        program = hyperparameters.get("sagemaker_program")
        submit_dir = hyperparameters.get("sagemaker_submit_directory")
        if not program or not submit_dir:
            raise ValueError("ClientError: sagemaker_program and sagemaker_submit_directory are required")

        root = Path(tempfile.mkdtemp(prefix=f"{job.training_job_name}-", dir=self._work_dir))
        ml = root / "opt" / "ml"
        code_dir, model_dir = ml / "code", ml / "model"
        output_data_dir, failure_file = ml / "output" / "data", ml / "output" / "failure"
        for directory in (code_dir, model_dir, output_data_dir, ml / "input" / "config"):
            directory.mkdir(parents=True, exist_ok=True)

        job.secondary_status = "Downloading"
        code = parse_s3_uri(submit_dir)
        archive_bytes = s3.get_object(Bucket=code.bucket, Key=code.key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(archive_bytes)) as archive:
            archive.extractall(code_dir, filter="data")

        channels = {}
        for channel in job.input_data_config:
            name = channel["ChannelName"]
            channel_dir = ml / "input" / "data" / name
            channel_dir.mkdir(parents=True, exist_ok=True)
            source = channel["DataSource"]["S3DataSource"]
            uri, data_type = source["S3Uri"], source.get("S3DataType", "S3Prefix")
            if data_type == "S3Prefix":
                self._download_prefix(s3, uri, channel_dir)
            elif data_type == "ManifestFile":
                self._download_manifest(s3, uri, channel_dir)
            else:  # AugmentedManifestFile needs Pipe mode and record wrapping, which nothing here uses
                raise ValueError(f"ClientError: S3DataType {data_type!r} of channel {name!r} is not supported locally")
            channels[name] = {"ContentType": channel.get("ContentType", ""), "TrainingInputMode": "File"}

        script_hps = {k: v for k, v in hyperparameters.items() if k not in _FRAMEWORK_HYPERPARAMETERS}
        (ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        (ml / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(channels))
        (ml / "input" / "config" / "resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
        )
        env = {
            **{k: v for k, v in environment_snapshot().items() if not k.startswith(("AWS_", "SM_"))},
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(output_data_dir),
            "SM_OUTPUT_DIR": str(ml / "output"),
            "SM_INPUT_DIR": str(ml / "input"),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps(script_hps),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_NUM_CPUS": str(os.cpu_count() or 1),
            "SM_MODULE_DIR": submit_dir,
            "SM_TRAINING_ENV": json.dumps({"job_name": job.training_job_name, "hyperparameters": script_hps}),
            "TRAINING_JOB_NAME": job.training_job_name,
            "PYTHONUNBUFFERED": "1",
            # One training job shares this machine with everything else; a thread pool per core
            # makes scikit-learn's histogram boosting several times slower under contention.
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "PYTHONPATH": str(code_dir),
        }
        for name in channels:
            env[f"SM_CHANNEL_{name.upper()}"] = str(ml / "input" / "data" / name)
        arguments = [f"--{key}={value}" for key, value in sorted(script_hps.items())]

        job.secondary_status = "Training"
        process = subprocess.run(  # noqa: S603 - the job's own script, as SageMaker runs it
            [sys.executable, str(code_dir / program), *arguments],
            cwd=code_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=float((job.stopping_condition or {}).get("MaxRuntimeInSeconds", 86400)),
        )
        log = process.stdout + process.stderr
        self._publish_logs(job.training_job_name, log)
        if process.returncode != 0:
            reason = failure_file.read_text() if failure_file.exists() else "\n".join(log.strip().splitlines()[-5:])
            raise RuntimeError(f"AlgorithmError: {reason}")

        job.secondary_status = "Uploading"
        artifacts = parse_s3_uri(job.model_artifacts["S3ModelArtifacts"])
        out_bucket, out_key = artifacts.bucket, artifacts.key
        s3.put_object(Bucket=out_bucket, Key=out_key, Body=_tar_directory(model_dir))
        s3.put_object(
            Bucket=out_bucket, Key=out_key.rsplit("/", 1)[0] + "/output.tar.gz", Body=_tar_directory(output_data_dir)
        )

    @staticmethod
    def _download_prefix(s3: Any, uri: str, target: Path) -> None:
        location = parse_s3_uri(uri, prefix=True)
        bucket, prefix = location.bucket, location.key
        paginator = s3.get_paginator("list_objects_v2")
        found = False
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :].lstrip("/") or item["Key"].rsplit("/", 1)[-1]
                destination = (target / relative).resolve()
                if not destination.is_relative_to(target.resolve()):
                    raise ValueError(f"unsafe key {item['Key']!r} in channel {uri}")
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                found = True
        if not found:
            raise ValueError(f"ClientError: no objects under the channel's S3 prefix {uri}")

    @staticmethod
    def _download_manifest(s3: Any, uri: str, target: Path) -> None:
        """Download the objects a SageMaker manifest lists, each at its key relative to the prefix."""
        location = parse_s3_uri(uri)
        try:
            raw = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
        except ClientError as error:
            raise ValueError(f"ClientError: cannot read the channel's manifest {uri}: {error}") from error
        try:
            manifest = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"ClientError: the manifest {uri} is not valid JSON: {error}") from error
        head = manifest[0] if isinstance(manifest, list) and manifest else None
        prefix_uri = head.get("prefix") if isinstance(head, dict) else None
        if not isinstance(prefix_uri, str) or not prefix_uri.startswith("s3://"):
            raise ValueError(f'ClientError: the manifest {uri} must start with {{"prefix": "s3://bucket/prefix/"}}')
        relatives = manifest[1:]
        if not relatives or not all(isinstance(item, str) and item for item in relatives):
            raise ValueError(f"ClientError: the manifest {uri} lists no object keys after its prefix")
        base = parse_s3_uri(prefix_uri, prefix=True)
        prefix_bucket, prefix = base.bucket, base.key
        root = target.resolve()
        for relative in relatives:
            destination = (target / relative).resolve()
            if not destination.is_relative_to(root) or destination == root:
                raise ValueError(f"ClientError: unsafe key {relative!r} in the manifest {uri}")
            object_key = prefix + relative
            try:
                body = s3.get_object(Bucket=prefix_bucket, Key=object_key)["Body"].read()
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                raise ValueError(
                    f"ClientError: the manifest {uri} lists s3://{prefix_bucket}/{object_key}, "
                    f"which cannot be read ({code or error})"
                ) from error
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(body)

    def _publish_logs(self, job_name: str, text: str) -> None:
        logs = boto3.client("logs", region_name=REGION)
        stream = f"{job_name}/algo-1"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=LOG_GROUP)
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        now = int(datetime.now(UTC).timestamp() * 1000)
        lines = [line for line in text.splitlines() if line.strip()] or ["(no output)"]
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": line} for line in lines[-5000:]],
        )


_ORIGINAL_CREATE = SageMakerModelBackend.create_training_job
CREATE_TRAINING_JOB = PatchPoint(
    SageMakerModelBackend, "create_training_job", "moto records a training job; the local cloud runs its script"
)
PATCH_POINTS = (CREATE_TRAINING_JOB,)
_active: PatchSet | None = None


def install(runner: TrainingJobRunner) -> None:
    """Route CreateTrainingJob to ``runner`` (a second install replaces the first runner)."""
    global _active
    uninstall()
    _active = PatchSet([(CREATE_TRAINING_JOB, lambda self, **kw: runner.create_training_job(self, **kw))])
    _active.install()


def uninstall() -> None:
    global _active
    if _active is not None:
        _active.uninstall()
        _active = None
