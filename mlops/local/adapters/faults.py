"""Fault injection: the next N matching calls to an AWS API fail as the service would fail them.

`FaultInjector.inject("s3", "GetObject", "SlowDown", times=6)` makes the next six GetObject requests
answer with S3's own error response (HTTP 503, code ``SlowDown``) instead of reaching moto. The
fault sits where a request leaves botocore for the service (moto's ``before-send`` hook), so
everything above it behaves as it does against AWS: the SDK's retry policy of the calling client
retries throttling and 5xx errors (each attempt consumes one injected failure), a Lambda handler
that gives up raises, Step Functions' task integrations turn the error into ``Lambda.<Code>`` or
``SageMaker.<Code>`` for the state machine's Retry and Catch. Any caller in this process is
subject to it: the pipeline's handlers, Step Functions tasks, the adapters and the test itself
(requests from outside through the server port are not).

Work that runs after its API call has returned has pseudo-operations of its own:
``("sagemaker", "TrainingJob")`` makes the next training job fail as SageMaker reports a failed
job (status ``Failed``, ``FailureReason`` = ``"<error_code>: <message>"``) without running its script.

``match`` narrows a fault to some requests: a string must occur in the request's URL or body (a
bucket, a function name, a job name), a callable receives the `FaultRequest`. Every failure served
is recorded in ``FaultInjector.served``.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from mlops.local.adapters.patches import PatchPoint, PatchSet

__all__ = ["PATCH_POINTS", "PSEUDO_OPERATIONS", "Fault", "FaultInjector", "FaultRequest", "install", "uninstall"]

# Operations that are not API calls but work the local cloud performs after one.
PSEUDO_OPERATIONS = {("sagemaker", "TrainingJob")}

# HTTP status of the error codes tests inject most; anything else is a 400 unless `status` says.
_STATUS = {
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
    "InternalError": 500,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "ServiceException": 500,
    "AmazonSageMakerException": 500,
    "TooManyRequestsException": 429,
    "AccessDenied": 403,
    "AccessDeniedException": 403,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "ResourceNotFoundException": 404,
}


@dataclass(frozen=True)
class FaultRequest:
    """What a `match` callable sees of a request."""

    service: str
    operation: str
    url: str
    body: str


@dataclass
class Fault:
    service: str
    operation: str
    error_code: str
    times: int
    status: int
    message: str
    match: str | Callable[[FaultRequest], bool] | None = None
    served: int = 0

    @property
    def remaining(self) -> int:
        return self.times - self.served

    def matches(self, request: FaultRequest) -> bool:
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(request))
        return self.match in request.url or self.match in request.body


@functools.cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def _service_id(service: str) -> str:
    """The id botocore's event names carry ("sfn" for the "stepfunctions" client)."""
    return str(_service_model(service).service_id.hyphenize())


@dataclass
class FaultInjector:
    """The faults of one local cloud."""

    faults: list[Fault] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inject(
        self,
        service: str,
        operation: str,
        error_code: str,
        *,
        times: int = 1,
        status: int | None = None,
        message: str | None = None,
        match: str | Callable[[FaultRequest], bool] | None = None,
    ) -> Fault:
        """Fail the next ``times`` matching calls of ``service`` (a boto3 client name) ``operation``."""
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        if (service, operation) not in PSEUDO_OPERATIONS:
            model = _service_model(service)  # an unknown service raises UnknownServiceError here
            if operation not in model.operation_names:
                raise ValueError(f"{service} has no operation {operation!r}")
            if model.protocol not in {"json", "rest-json", "rest-xml", "query"}:
                raise ValueError(f"faults cannot be injected into {service} (protocol {model.protocol})")
        fault = Fault(
            service=service,
            operation=operation,
            error_code=error_code,
            times=times,
            status=status or _STATUS.get(error_code, 400),
            message=message or f"{error_code} injected by the local cloud",
            match=match,
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def take(self, service: str, operation: str, request: FaultRequest) -> Fault | None:
        """Consume one failure of the first live fault matching this call, if any."""
        with self._lock:
            for fault in self.faults:
                if fault.remaining <= 0 or fault.operation != operation:
                    continue
                if service not in (fault.service, _service_id(fault.service)):
                    continue
                if not fault.matches(request):
                    continue
                fault.served += 1
                record = {"service": fault.service, "operation": operation, "errorCode": fault.error_code}
                self.served.append({**record, "url": request.url})
                return fault
        return None

    def training_job_failure(self, job_name: str) -> str | None:
        """The failure reason of a training job a ``("sagemaker", "TrainingJob")`` fault fails."""
        fault = self.take("sagemaker", "TrainingJob", FaultRequest("sagemaker", "TrainingJob", job_name, ""))
        return None if fault is None else f"{fault.error_code}: {fault.message}"

    # -- the before-send hook -------------------------------------------------------------------
    def response_for(self, event_name: str, request: AWSPreparedRequest) -> AWSResponse | None:
        parts = event_name.split(".")
        if len(parts) < 3 or not self.faults:
            return None
        service_id, operation = parts[1], parts[2]
        body = request.body
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body if isinstance(body, str) else ""
        fault = self.take(service_id, operation, FaultRequest(service_id, operation, request.url, text))
        if fault is None:
            return None
        return _error_response(fault, request)


def _error_response(fault: Fault, request: AWSPreparedRequest) -> AWSResponse:
    """The service's own error shape for its protocol, so botocore parses the code as it would."""
    request_id = str(uuid.uuid4())
    protocol = _service_model(fault.service).protocol
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    if protocol in {"json", "rest-json"}:
        headers["x-amzn-ErrorType"] = fault.error_code
        headers["Content-Type"] = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        body = json.dumps({"__type": fault.error_code, "message": fault.message}).encode("utf-8")
    else:
        code, message = escape(fault.error_code), escape(fault.message)
        headers["Content-Type"] = "application/xml"
        if protocol == "rest-xml":
            xml = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        else:
            xml = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        body = ('<?xml version="1.0" encoding="UTF-8"?>' + xml).encode("utf-8")
    return AWSResponse(request.url, fault.status, headers, MockRawResponse(body))


STUBBER_CALL = PatchPoint(
    BotocoreStubber, "__call__", "a fault answers where a request leaves botocore, before moto sees it"
)
PATCH_POINTS = (STUBBER_CALL,)
# Taken before any install: a request no fault matches goes to moto as usual.
_ORIGINAL_CALL: Any = STUBBER_CALL.original()
# The installed injectors, innermost last: the last one answers, and the patch stays in place
# while any is active (nested LocalClouds, a test's own injector inside a cloud's).
_ACTIVE: list[FaultInjector] = []


def _call(self: BotocoreStubber, event_name: str, request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
    if self.enabled and _ACTIVE:
        response = _ACTIVE[-1].response_for(event_name, request)
        if response is not None:
            return response
    return _ORIGINAL_CALL(self, event_name, request, **kwargs)


_PATCHES = PatchSet([(STUBBER_CALL, _call)])


def install(injector: FaultInjector) -> None:
    """Make ``injector`` the one that answers; the patch goes in with the first active injector."""
    _ACTIVE.append(injector)
    _PATCHES.install()


def uninstall(injector: FaultInjector | None = None) -> None:
    """Retire ``injector`` (every injector, without one); the patch goes with the last one."""
    if injector is not None and injector in _ACTIVE:
        _ACTIVE.remove(injector)
    elif injector is None:
        _ACTIVE.clear()
    if not _ACTIVE:
        _PATCHES.uninstall()
