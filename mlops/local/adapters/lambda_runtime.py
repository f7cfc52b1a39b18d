"""Lambda invoke without Docker: the deployed function's own code runs in this process.

moto stores the function's deployment package (the zip CloudFormation pointed it at) but can only
run it in a Docker container. This adapter unpacks that very zip, imports the handler named in the
function's configuration, and calls it with the function's own environment variables and a
Lambda-like context. The response follows Lambda's contract: the JSON result, or an error payload
with `errorType`/`errorMessage` and the `FunctionError` flag that Step Functions turns into the
error name its Retry and Catch match on. Everything the handler prints goes to the function's
CloudWatch log group in moto, as Lambda would send it.

Managed public layers (Powertools, AWS SDK for pandas) are provided by this Python environment;
any other layer is refused as moto would refuse it.
"""

from __future__ import annotations

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
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaFunction

from mlops.local.adapters.code_loader import EXECUTION_LOCK, CodeLoader
from mlops.local.adapters.process import patched_environ

# Accounts that publish the public managed layers this project uses; their contents are installed
# in the local Python environment (see the `lambda` extra in pyproject.toml).
MANAGED_LAYER_ACCOUNTS = {
    "017000801446": "Powertools for AWS Lambda",
    "336392948345": "AWS SDK for pandas",
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


class InProcessLambdaRuntime:
    """Runs deployed Lambda functions in-process; installed by patching moto's invoke."""

    def __init__(self, work_dir: Path, loader: CodeLoader, *, echo_logs: bool = False) -> None:
        self._work_dir = work_dir
        self._loader = loader
        self._echo_logs = echo_logs
        self._sink = _LogSink(sys.__stdout__)
        self.invocations: list[dict[str, Any]] = []

    # -- moto patch points -------------------------------------------------------------------
    def invoke_lambda(self, function: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        """Replacement for `LambdaFunction._invoke_lambda`: returns (payload, errored, logs)."""
        function.logs_backend.ensure_log_group(function.logs_group_name)
        payload_event = json.loads(event) if isinstance(event, str | bytes) else (event or {})
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
                "seconds": round(time.perf_counter() - started, 3),
                "requestId": context.aws_request_id,
            }
        )
        function.save_logs(logs or f"(no output) request {context.aws_request_id}")
        if self._echo_logs and logs:
            sys.__stderr__.write(logs)
        return payload, errored, logs

    @staticmethod
    def layers_data(function: LambdaFunction, layer_arns: list[str]) -> list[dict[str, Any]]:
        """Replacement for `LambdaFunction._get_layers_data` that knows the managed public layers."""
        known = []
        for arn in layer_arns:
            account = arn.split(":")[4] if arn.count(":") >= 6 else ""
            if account not in MANAGED_LAYER_ACCOUNTS:
                return _ORIGINAL_LAYERS_DATA(function, layer_arns)
            known.append({"Arn": arn, "CodeSize": 0})
        return known

    # -- helpers ------------------------------------------------------------------------------
    def _resolve_handler(self, function: LambdaFunction) -> Any:
        module_name, _, attribute = function.handler.rpartition(".")
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


_ORIGINAL_INVOKE = LambdaFunction._invoke_lambda
_ORIGINAL_LAYERS_DATA = LambdaFunction._get_layers_data


def install(runtime: InProcessLambdaRuntime) -> None:
    LambdaFunction._invoke_lambda = lambda self, event=None: runtime.invoke_lambda(self, event)
    LambdaFunction._get_layers_data = lambda self, arns: runtime.layers_data(self, arns)


def uninstall() -> None:
    LambdaFunction._invoke_lambda = _ORIGINAL_INVOKE
    LambdaFunction._get_layers_data = _ORIGINAL_LAYERS_DATA
