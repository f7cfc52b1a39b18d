"""SageMaker real-time endpoints that serve the deployed model and capture data.

moto answers `InvokeEndpoint` with a fixed body for any name and has no `UpdateEndpoint`. Here:

- Create, update (blue/green, with auto-rollback) and delete follow SageMaker's control plane:
  `mlops.local.adapters.endpoint_deployments`. The model starts when its fleet does, so a model
  that cannot load fails the endpoint (or rolls an update back) instead of failing requests later.
- `InvokeEndpoint` follows endpoint -> endpoint config (during an update: the old or the new one, at
  the shifted traffic weight) -> production variant -> model, downloads the model's `ModelDataUrl`
  and its code — `SAGEMAKER_SUBMIT_DIRECTORY` as an S3 archive, or the `code/` folder inside
  `model.tar.gz` (`/opt/ml/model/code`) — and answers through the code's
  `model_fn`/`input_fn`/`predict_fn`/`output_fn` (the scikit-learn serving contract) with the
  model's container environment set (so the artifact's SHA-256 check runs as it would in AWS).
- Each request publishes the endpoint's invocation metrics in `AWS/SageMaker` (`Invocations`,
  `ModelLatency` in microseconds, `Invocation4XXErrors`, `Invocation5XXErrors`,
  `InvocationModelErrors`; dimensions `EndpointName`, `VariantName`), which the rollback alarms watch.
- When the endpoint config enables data capture, each request/response is written in SageMaker's
  capture format (one JSON line per request) to
  `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<id>.jsonl`, honouring the sampling
  percentage and the Input/Output capture options. `eventMetadata` carries `eventId`,
  `inferenceTime` (ISO-8601 UTC with milliseconds, `2026-11-12T17:00:00.123Z`, as SageMaker writes
  it) and, when the caller sent `InferenceId` (header `X-Amzn-SageMaker-Inference-Id`),
  `inferenceId`: the key the groundtruth function joins labels on.
"""

from __future__ import annotations

import base64
import io
import json
import random
import tarfile
import tempfile
import time
import uuid
from contextlib import redirect_stdout, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from functions.shared.s3 import parse_s3_uri
from mlops.local.adapters import endpoint_deployments
from mlops.local.adapters.alarms import AlarmEvaluator
from mlops.local.adapters.code_loader import EXECUTION_LOCK, CodeLoader
from mlops.local.adapters.endpoint_deployments import SERVING_STATUSES, EndpointLifecycle
from mlops.local.adapters.patches import PatchPoint, PatchSet
from mlops.local.adapters.process import patched_environ
from mlops.local.constants import REGION

# The model archive's place in the serving container, and its code folder (SAGEMAKER_SUBMIT_DIRECTORY
# when the code travels inside model.tar.gz).
CONTAINER_MODEL_DIR = "/opt/ml/model"
MODEL_CODE_DIRECTORY = f"{CONTAINER_MODEL_DIR}/code"


class InvocationError(JsonRESTError):
    """An InvokeEndpoint error with SageMaker Runtime's code and HTTP status."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(error_type, message)
        self.code = status


class EndpointServer:
    """Serves invocations of moto endpoints with the deployed model and inference code."""

    def __init__(self, work_dir: Path, loader: CodeLoader, alarms: AlarmEvaluator | None = None) -> None:
        self._work_dir = work_dir
        self._loader = loader
        self._served: dict[str, tuple[Any, Any]] = {}  # model name -> (inference module, model)
        self._random = random.Random(0)
        self.invocations = 0
        self.captured = 0
        self.lifecycle = EndpointLifecycle(self.start_model, alarms)

    def start_model(self, backend: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str) -> None:
        """Load the model of a config's variant as its fleet starts (raises when it cannot load)."""
        config = backend.describe_endpoint_config(endpoint_config_name)
        variant = config["ProductionVariants"][0]
        model = backend._models[variant["ModelName"]]
        container = model.primary_container or (model.containers or [{}])[0]
        output = io.StringIO()
        try:
            with EXECUTION_LOCK, patched_environ(container.get("Environment", {})), redirect_stdout(output):
                self._load(variant["ModelName"], container)
        finally:
            _publish_logs(endpoint_name, variant["VariantName"], output.getvalue())

    # -- InvokeEndpoint -------------------------------------------------------------------------
    def invoke(
        self,
        account_id: str,
        region: str,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str,
        inference_id: str | None = None,
    ) -> tuple[int, dict[str, str], str]:
        backend = sagemaker_backends[account_id][region]
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None or endpoint.endpoint_status not in SERVING_STATUSES:
            raise InvocationError("ValidationError", f"Endpoint {endpoint_name} of account {account_id} not found.")
        config = backend.endpoint_configs[self.lifecycle.route(endpoint)]
        variant = config.production_variants[0]
        model = backend._models[variant["ModelName"]]
        container = model.primary_container or (model.containers or [{}])[0]
        output = io.StringIO()
        started = time.perf_counter()
        parsed = False
        try:
            with EXECUTION_LOCK, patched_environ(container.get("Environment", {})), redirect_stdout(output):
                inference, loaded = self._load(variant["ModelName"], container)
                request = inference.input_fn(body.decode("utf-8"), content_type)
                parsed = True
                prediction = inference.predict_fn(request, loaded)
                response_body, response_type = inference.output_fn(prediction, accept or content_type)
        except Exception as error:  # the model's failure is the caller's ModelError, as in SageMaker
            # A request the model cannot read is the client's error (4XX); one it fails on, the model's (5XX).
            _publish_metrics(
                endpoint_name, variant["VariantName"], time.perf_counter() - started, 500 if parsed else 400
            )
            raise InvocationError("ModelError", f"Received client error (400) from primary: {error}", 424) from error
        finally:
            _publish_logs(endpoint_name, variant["VariantName"], output.getvalue())
        _publish_metrics(endpoint_name, variant["VariantName"], time.perf_counter() - started, 200)
        self.invocations += 1
        if isinstance(response_body, bytes):
            response_body = response_body.decode("utf-8")
        self._capture(
            endpoint_name,
            variant["VariantName"],
            config.data_capture_config,
            body,
            content_type,
            response_body,
            response_type,
            inference_id,
        )
        headers = {"Content-Type": response_type, "x-Amzn-Invoked-Production-Variant": variant["VariantName"]}
        return 200, headers, response_body

    def _load(self, model_name: str, container: dict[str, Any]) -> tuple[Any, Any]:
        """The model's inference module (its own module set, switched in) and its loaded model."""
        environment = container.get("Environment", {})
        module_name = environment.get("SAGEMAKER_PROGRAM", "inference.py").removesuffix(".py").replace("/", ".")
        if model_name not in self._served:
            s3 = boto3.client("s3", region_name=REGION)
            model_root = Path(tempfile.mkdtemp(prefix=f"model-{model_name}-", dir=self._work_dir))
            model_dir, code_dir = model_root / "model", model_root / "code"
            submit_directory = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", MODEL_CODE_DIRECTORY)
            archives = [(container["ModelDataUrl"], model_dir)]
            if submit_directory.startswith("s3://"):
                archives.append((submit_directory, code_dir))
            for uri, target in archives:
                archive_location = parse_s3_uri(uri)
                data = s3.get_object(Bucket=archive_location.bucket, Key=archive_location.key)["Body"].read()
                with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                    archive.extractall(target, filter="data")
            if not submit_directory.startswith("s3://"):
                # The code travels inside model.tar.gz: /opt/ml/model/code in the container.
                code_dir = model_dir / Path(submit_directory).relative_to(CONTAINER_MODEL_DIR)
            inference = self._loader.load(code_dir, module_name, owner=f"model:{model_name}")
            self._served[model_name] = (code_dir, inference.model_fn(str(model_dir)))
        code_dir, model = self._served[model_name]
        return self._loader.load(code_dir, module_name, owner=f"model:{model_name}"), model

    def _capture(
        self,
        endpoint_name: str,
        variant: str,
        capture: dict[str, Any] | None,
        body: bytes,
        content_type: str,
        response_body: str,
        response_type: str,
        inference_id: str | None = None,
    ) -> None:
        if not capture or not capture.get("EnableCapture"):
            return
        if self._random.uniform(0, 100) >= float(capture.get("InitialSamplingPercentage", 100)):
            return
        modes = {option.get("CaptureMode") for option in capture.get("CaptureOptions", [])} or {"Input", "Output"}
        record: dict[str, Any] = {"captureData": {}, "eventVersion": "0"}
        if "Input" in modes:
            record["captureData"]["endpointInput"] = _captured(body, content_type, "INPUT", capture)
        if "Output" in modes:
            record["captureData"]["endpointOutput"] = _captured(
                response_body.encode("utf-8"), response_type, "OUTPUT", capture
            )
        now = datetime.now(UTC)  # read per request: a virtual clock (time-machine) may be moving it
        metadata = {"eventId": str(uuid.uuid4())}
        if inference_id:  # SageMaker records the caller's InferenceId only when one was sent
            metadata["inferenceId"] = inference_id
        metadata["inferenceTime"] = capture_time(now)
        record["eventMetadata"] = metadata
        destination = parse_s3_uri(capture["DestinationS3Uri"], prefix=True)
        bucket, prefix = destination.bucket, destination.key
        key = "/".join(
            part
            for part in (
                prefix.rstrip("/"),
                endpoint_name,
                variant,
                now.strftime("%Y/%m/%d/%H"),
                f"{now.strftime('%M-%S-%f')}-{uuid.uuid4().hex[:8]}.jsonl",
            )
            if part
        )
        boto3.client("s3", region_name=REGION).put_object(
            Bucket=bucket, Key=key, Body=(json.dumps(record) + "\n").encode("utf-8")
        )
        self.captured += 1


def _publish_metrics(endpoint_name: str, variant: str, seconds: float, status: int) -> None:
    """One request's invocation metrics, as SageMaker publishes them per endpoint variant."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": variant}]
    values = {
        "Invocations": 1.0,
        "Invocation4XXErrors": float(400 <= status < 500),
        "Invocation5XXErrors": float(status >= 500),
        "InvocationModelErrors": float(status >= 400),
    }
    data: list[dict[str, Any]] = [
        {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "Count"}
        for name, value in values.items()
    ]
    if status < 500:
        data.append(
            {"MetricName": "ModelLatency", "Dimensions": dimensions, "Value": seconds * 1e6, "Unit": "Microseconds"}
        )
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(Namespace="AWS/SageMaker", MetricData=data)


def capture_time(moment: datetime) -> str:
    """`inferenceTime` as SageMaker writes it: UTC, ISO-8601, milliseconds, `Z` suffix."""
    moment = moment.astimezone(UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}Z"


def _publish_logs(endpoint_name: str, variant: str, text: str) -> None:
    """What the serving code printed goes to the endpoint's log group, as the container's stdout does."""
    if not text.strip():
        return
    logs = boto3.client("logs", region_name=REGION)
    group, stream = f"/aws/sagemaker/Endpoints/{endpoint_name}", f"{variant}/local"
    with suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(datetime.now(UTC).timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now, "message": line} for line in text.splitlines() if line],
    )


def _captured(data: bytes, content_type: str, mode: str, capture: dict[str, Any]) -> dict[str, str]:
    headers = capture.get("CaptureContentTypeHeader", {})
    base_type = content_type.split(";")[0].strip()
    if base_type in headers.get("CsvContentTypes", ["text/csv"]):
        encoding, text = "CSV", data.decode("utf-8")
    elif base_type in headers.get("JsonContentTypes", ["application/json"]):
        encoding, text = "JSON", data.decode("utf-8")
    else:
        encoding, text = "BASE64", base64.b64encode(data).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


# InvokeEndpoint's `InferenceId` parameter travels as this header (botocore's sagemaker-runtime model).
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"


def _header(headers: Any, name: str) -> str | None:
    """A request header by name, case-insensitively: in-process mock and server mode differ in casing."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return None


INVOKE_ENDPOINT = PatchPoint(
    SageMakerRuntimeResponse, "invoke_endpoint", "moto answers a fixed body for any endpoint name"
)
UPDATE_ENDPOINT = PatchPoint(SageMakerResponse, "update_endpoint", "moto has no UpdateEndpoint", adds=True)
# Only this module's own points: CreateEndpoint and DeleteEndpoint are endpoint_deployments'.
PATCH_POINTS = (INVOKE_ENDPOINT, UPDATE_ENDPOINT)
_active: PatchSet | None = None


def install(server: EndpointServer) -> None:
    """Serve InvokeEndpoint and UpdateEndpoint through ``server`` (a second install replaces the first)."""
    global _active

    def invoke_endpoint(self: SageMakerRuntimeResponse) -> Any:
        endpoint_name = self.path.split("/")[2]
        body = self.body if isinstance(self.body, bytes) else (self.body or "").encode("utf-8")
        return server.invoke(
            self.current_account,
            self.region,
            endpoint_name,
            body,
            self.headers.get("Content-Type", "text/csv"),
            self.headers.get("Accept", ""),
            _header(self.headers, INFERENCE_ID_HEADER),
        )

    def update_endpoint(self: SageMakerResponse) -> ActionResult:
        arn = server.lifecycle.update(
            self.sagemaker_backend,
            self._get_param("EndpointName"),
            self._get_param("EndpointConfigName"),
            self._get_param("DeploymentConfig"),
        )
        return ActionResult({"EndpointArn": arn})

    uninstall()
    _active = PatchSet([(INVOKE_ENDPOINT, invoke_endpoint), (UPDATE_ENDPOINT, update_endpoint)])
    _active.install()
    endpoint_deployments.install(server.lifecycle)


def uninstall() -> None:
    global _active
    endpoint_deployments.uninstall()
    if _active is not None:
        _active.uninstall()
        _active = None
