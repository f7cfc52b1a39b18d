"""Lambda invoke without Docker: the deployed function's own code runs in this process.

moto stores the function's deployment package (the zip CloudFormation pointed it at) but can only
run it in a Docker container. This adapter unpacks that very zip, imports the handler named in the
function's configuration, and calls it with the function's own environment variables and a
Lambda-like context. The response follows Lambda's contract: the JSON result, or an error payload
with `errorType`/`errorMessage` and the `FunctionError: Unhandled` flag that Step Functions turns
into the error name its Retry and Catch match on. The request payload is decoded once, as the
Python runtime does: any JSON value is an event (a JSON string arrives as a `str`), and a payload
that is not JSON (truncated, say) never reaches the handler: the invocation fails with the
runtime's own `Runtime.UnmarshalError`. An asynchronous invocation (InvocationType Event, as
EventBridge and S3 invoke) that fails is run again up to the function's `MaximumRetryAttempts`
(event invoke config; 2 without one; AWS waits about one and two minutes, this runtime does not),
then its record in Lambda's destination format (request context, payload, response) goes to the
function's `OnFailure` destination (SQS or SNS); without one it is dropped, as in AWS, and kept in
`async_failures`. Everything the handler prints goes to the function's
CloudWatch log group in moto, as Lambda would send it; the output sink is one per process, so the
loggers a handler built in an earlier local cloud (Powertools keeps them per service name) still
write to the invocation that runs now.

Managed public layers (Powertools, AWS SDK for pandas) are provided by this Python environment;
any other layer is refused as moto would refuse it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from moto.awslambda.models import LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.utilities.arns import parse_arn

from mlops.local.adapters.code_loader import EXECUTION_LOCK, CodeLoader
from mlops.local.adapters.patches import PatchPoint, PatchSet
from mlops.local.adapters.process import patched_environ

# The public managed layers the functions use, per region with their publishers: the one table the
# CDK app reads too. Their contents are installed in the local Python environment instead.
LAYER_TABLE_FILE = Path(__file__).resolve().parents[3] / "infra" / "data" / "lambda_layers.json"


@functools.cache
def managed_layer_accounts() -> dict[str, str]:
    """Publisher account -> layer title, for every region of the layer table."""
    document = json.loads(LAYER_TABLE_FILE.read_text(encoding="utf-8"))
    return {
        arn.split(":")[4]: layer["title"] for layer in document["layers"].values() for arn in layer["arns"].values()
    }


@dataclass
class LambdaContext:
    """The attributes of the context object Lambda passes to a Python handler."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _LogSink(io.TextIOBase):
    """A stdout stand-in: loggers created during an invocation keep writing to the current one."""

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback
        self._local = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            return self._fallback.write(text)
        buffer.append(text)
        return len(text)

    def flush(self) -> None:
        if getattr(self._local, "buffer", None) is None:
            self._fallback.flush()

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        previous = getattr(self._local, "buffer", None)
        self._local.buffer = []
        try:
            yield self._local.buffer
        finally:
            self._local.buffer = previous


# One sink for the process: a logger that outlives a local cloud (Powertools reuses the stdlib
# logger of its service name, and with it the stream it was first given) keeps reaching the
# invocation that is running now.
_SINK = _LogSink(sys.__stdout__)
# The tail of the logs returned with a RequestResponse invocation (LogType Tail): Lambda sends 4 KB.
_LOG_TAIL_BYTES = 4096
_DEFAULT_ASYNC_RETRIES = 2  # Lambda's MaximumRetryAttempts for asynchronous invocations without a config


def decode_payload(body: str | bytes | None) -> tuple[Any, str | None]:
    """The event a Python handler gets for a request payload, or the runtime's unmarshal error.

    An empty payload is ``{}`` (as the Invoke API sends it); anything else must be one JSON value.
    """
    if body is None or body in ("", b""):
        return {}, None
    try:
        return json.loads(body), None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"Unable to unmarshal input: {error}"


class InProcessLambdaRuntime:
    """Runs deployed Lambda functions in-process; installed by patching moto's invoke."""

    def __init__(self, work_dir: Path, loader: CodeLoader, *, echo_logs: bool = False) -> None:
        self._work_dir = work_dir
        self._loader = loader
        self._echo_logs = echo_logs
        self._sink = _SINK
        self.invocations: list[dict[str, Any]] = []
        self.async_failures: list[dict[str, Any]] = []

    # -- moto patch points -------------------------------------------------------------------
    def invoke(
        self, function: LambdaFunction, body: str | bytes | None, request_headers: Any, response_headers: Any
    ) -> str | bytes:
        """Replacement for `LambdaFunction.invoke`: decode the payload once, run, answer as Lambda does."""
        event, unmarshal_error = decode_payload(body)
        invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
        attempts = 1 + (_async_retries(function) if invocation_type == "Event" else 0)
        payload, errored, logs, tried = "", False, "", 0
        while tried < attempts:
            tried += 1
            if unmarshal_error is not None:
                payload, errored, logs = self._unmarshal_failure(function, unmarshal_error)
            else:
                payload, errored, logs = self.invoke_lambda(function, event)
            if not errored:
                break
        if errored and invocation_type == "Event":
            raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            self._async_failure(function, event if unmarshal_error is None else raw, payload, tried)
        elif errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        if invocation_type == "RequestResponse":
            tail = logs.encode("utf-8")[-_LOG_TAIL_BYTES:]
            response_headers["x-amz-log-result"] = base64.b64encode(tail).decode("ascii")
            return payload.encode("utf-8")
        return payload

    def _unmarshal_failure(self, function: LambdaFunction, message: str) -> tuple[str, bool, str]:
        """What the Python runtime answers when the payload is not JSON: the handler never runs."""
        function.logs_backend.ensure_log_group(function.logs_group_name)
        request_id = str(uuid.uuid4())
        payload = json.dumps({"errorType": "Runtime.UnmarshalError", "errorMessage": message, "stackTrace": []})
        logs = f"[ERROR] Runtime.UnmarshalError: {message}\n"
        self.invocations.append(
            {
                "function": function.function_name,
                "errored": True,
                "errorType": "Runtime.UnmarshalError",
                "seconds": 0.0,
                "requestId": request_id,
            }
        )
        function.save_logs(logs)
        return payload, True, logs

    def _async_failure(self, function: LambdaFunction, request: Any, response: str, attempts: int) -> None:
        """After the last attempt: the invocation record goes to the on-failure destination."""
        try:
            response_payload: Any = json.loads(response)
        except json.JSONDecodeError:
            response_payload = response
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function.function_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": request,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": response_payload,
        }
        destination = _on_failure_destination(function)
        self.async_failures.append({"function": function.function_name, "destination": destination, **record})
        if destination is None:
            return
        arn = parse_arn(destination)
        if arn.service == "sqs":
            sqs = boto3.client("sqs", region_name=function.region)
            url = sqs.get_queue_url(QueueName=arn.resource_id)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
        elif arn.service == "sns":
            boto3.client("sns", region_name=function.region).publish(
                TopicArn=destination, Message=json.dumps(record, default=str)
            )

    def invoke_lambda(self, function: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        """Replacement for `LambdaFunction._invoke_lambda`: returns (payload, errored, logs).

        ``event`` is already decoded (moto's own ``invoke`` decodes the body before calling this);
        a ``str`` is a JSON string event, never decoded a second time."""
        function.logs_backend.ensure_log_group(function.logs_group_name)
        payload_event = event
        error_type: str | None = None
        context = LambdaContext(
            function_name=function.function_name,
            function_version=str(function.version),
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size),
            timeout_seconds=int(function.timeout),
            log_group_name=function.logs_group_name,
        )
        started = time.perf_counter()
        with EXECUTION_LOCK, self._function_environment(function), self._sink.capture() as lines:
            try:
                handler = self._resolve_handler(function)
                result = handler(payload_event, context)
                payload, errored = json.dumps(result, default=str), False
            except Exception as error:  # the handler's failure is the invocation's result
                error_type = type(error).__name__
                payload = json.dumps(
                    {
                        "errorType": type(error).__name__,
                        "errorMessage": str(error),
                        "stackTrace": traceback.format_tb(error.__traceback__),
                    }
                )
                errored = True
        logs = "".join(lines)
        self.invocations.append(
            {
                "function": function.function_name,
                "errored": errored,
                "errorType": error_type,
                "seconds": round(time.perf_counter() - started, 3),
                "requestId": context.aws_request_id,
            }
        )
        function.save_logs(logs or f"(no output) request {context.aws_request_id}")
        if self._echo_logs and logs:
            (sys.__stderr__ or sys.stderr).write(logs)
        return payload, errored, logs

    @staticmethod
    def layers_data(function: LambdaFunction, layer_arns: list[str]) -> list[dict[str, Any]]:
        """Replacement for `LambdaFunction._get_layers_data` that knows the managed public layers."""
        known = []
        for arn in layer_arns:
            account = arn.split(":")[4] if arn.count(":") >= 6 else ""
            if account not in managed_layer_accounts():
                return _ORIGINAL_LAYERS_DATA(function, layer_arns)
            known.append({"Arn": arn, "CodeSize": 0})
        return known

    # -- helpers ------------------------------------------------------------------------------
    def _resolve_handler(self, function: LambdaFunction) -> Any:
        module_name, _, attribute = str(function.handler or "").rpartition(".")
        if not module_name:
            raise ValueError(f"handler {function.handler!r} of {function.function_name} is not module.function")
        code_dir = self._unpack(function)
        module = self._loader.load(code_dir, module_name, owner=f"lambda:{function.function_name}")
        return getattr(module, attribute)

    def _unpack(self, function: LambdaFunction) -> Path:
        digest = hashlib.sha256(function.code_bytes).hexdigest()[:16]
        target = self._work_dir / "lambda" / digest
        if not (target / ".unpacked").exists():
            target.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                for member in archive.infolist():
                    destination = (target / member.filename).resolve()
                    if not destination.is_relative_to(target.resolve()):
                        raise ValueError(f"unsafe path {member.filename!r} in {function.function_name}'s package")
                archive.extractall(target)
            (target / ".unpacked").touch()
        return target

    @contextmanager
    def _function_environment(self, function: LambdaFunction) -> Iterator[None]:
        overrides = {
            **{key: str(value) for key, value in (function.environment_vars or {}).items()},
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
            "_HANDLER": function.handler,
            "LAMBDA_TASK_ROOT": str(self._unpack(function)),
            # No X-Ray daemon here: an enabled tracer would patch botocore for the whole process.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        saved_stdout = sys.stdout
        sys.stdout = self._sink
        try:
            with patched_environ(overrides):
                yield
        finally:
            sys.stdout = saved_stdout


def _event_invoke_config(function: LambdaFunction) -> dict[str, Any]:
    client = boto3.client("lambda", region_name=function.region)
    try:
        config: dict[str, Any] = client.get_function_event_invoke_config(FunctionName=function.function_arn)
    except client.exceptions.ResourceNotFoundException:
        return {}
    return config


def _async_retries(function: LambdaFunction) -> int:
    return int(_event_invoke_config(function).get("MaximumRetryAttempts", _DEFAULT_ASYNC_RETRIES))


def _on_failure_destination(function: LambdaFunction) -> str | None:
    config = _event_invoke_config(function)
    destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    return str(destination) if destination else None


def _setup_keeping_invocation_payloads(
    self: LambdaResponse,
    request: Any,
    full_url: str | None = None,
    headers: Any = None,
    use_raw_body: bool | None = None,
) -> None:
    """An invocation's payload is the function's to judge: bytes that are not UTF-8 reach the runtime
    (which answers `Runtime.UnmarshalError`) instead of failing moto's request parsing."""
    path = urlparse(full_url or "").path
    raw = bool(use_raw_body) or path.endswith("/invocations") or path.endswith("/invoke-async/")
    _ORIGINAL_SETUP(self, request, full_url, headers, use_raw_body=raw)


_ORIGINAL_SETUP = LambdaResponse.setup_class
_ORIGINAL_INVOKE = LambdaFunction._invoke_lambda
_ORIGINAL_PUBLIC_INVOKE = LambdaFunction.invoke
_ORIGINAL_LAYERS_DATA: Any = LambdaFunction._get_layers_data

PUBLIC_INVOKE = PatchPoint(LambdaFunction, "invoke", "payloads of any JSON type, Lambda-style errors")
INVOKE = PatchPoint(LambdaFunction, "_invoke_lambda", "moto runs functions in Docker; here they run in-process")
LAYERS_DATA = PatchPoint(LambdaFunction, "_get_layers_data", "the managed public layers are not in moto")
SETUP_CLASS = PatchPoint(LambdaResponse, "setup_class", "moto decodes the invocation payload a second time")
PATCH_POINTS = (PUBLIC_INVOKE, INVOKE, LAYERS_DATA, SETUP_CLASS)
_active: PatchSet | None = None


def install(runtime: InProcessLambdaRuntime) -> None:
    """Run every invocation through ``runtime`` (a second install replaces the first runtime)."""
    global _active
    uninstall()
    _active = PatchSet(
        [
            (
                PUBLIC_INVOKE,
                lambda self, body, request_headers, response_headers: runtime.invoke(
                    self, body, request_headers, response_headers
                ),
            ),
            (INVOKE, lambda self, event=None: runtime.invoke_lambda(self, event)),
            (LAYERS_DATA, lambda self, arns: runtime.layers_data(self, arns)),
            (SETUP_CLASS, _setup_keeping_invocation_payloads),
        ]
    )
    _active.install()


def uninstall() -> None:
    global _active
    if _active is not None:
        _active.uninstall()
        _active = None
