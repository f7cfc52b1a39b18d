"""SageMaker endpoint lifecycles: creation, blue/green updates with auto-rollback, failure, deletion.

moto creates an endpoint InService at once, overwrites an existing one on a second CreateEndpoint
and has no UpdateEndpoint, so concurrent deployments all "succeed" and nothing ever fails. Here,
as in SageMaker:

- ``CreateEndpoint`` refuses a name that exists; the endpoint is ``Creating`` while its model
  starts (downloaded and loaded through the serving code, on a worker thread), then ``InService``,
  or ``Failed`` with a ``FailureReason`` when the model does not load. A ``Failed`` endpoint takes
  only ``DeleteEndpoint``.
- ``UpdateEndpoint`` is refused unless the endpoint is ``InService`` (or ``UpdateRollbackFailed``).
  The endpoint is ``Updating``: the new fleet starts (a model that does not load rolls the update
  back), then traffic shifts per ``DeploymentConfig.BlueGreenUpdatePolicy`` — all at once, a canary
  share then the rest, or linear steps — with ``WaitIntervalInSeconds`` of bake after each shift and
  ``TerminationWaitInSeconds`` after the last, during which the ``AutoRollbackConfiguration``
  alarms are evaluated (CloudWatch's evaluation, ``AlarmEvaluator``). Any of them in ALARM rolls the
  update back: the endpoint is ``InService`` on its previous config, with a ``FailureReason``.
  While traffic is split, ``route`` sends each request to the old or the new fleet at the shifted
  weight, so a canary's errors reach the alarms the way they would in AWS.

Wall-clock seconds are honoured as given; the demo and the tests configure short bake times.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend

from mlops.local.adapters.alarms import AlarmEvaluator
from mlops.local.adapters.code_loader import EXECUTION_LOCK
from mlops.local.adapters.patches import PatchPoint, PatchSet
from mlops.local.constants import ACCOUNT_ID, REGION

__all__ = [
    "ALLOWED_TO_UPDATE",
    "PATCH_POINTS",
    "SERVING_STATUSES",
    "EndpointLifecycle",
    "install",
    "traffic_steps",
    "uninstall",
]

SERVING_STATUSES = frozenset({"InService", "Updating", "RollingBack", "UpdateRollbackFailed", "SystemUpdating"})
ALLOWED_TO_UPDATE = frozenset({"InService", "UpdateRollbackFailed"})
_ALARM_POLL_SECONDS = 0.25

# Loads the model of an endpoint config's first variant; raises when it cannot start.
ModelStarter = Callable[[SageMakerModelBackend, str, str], None]


def traffic_steps(
    deployment_config: dict[str, Any] | None, fleet_size: int = 1
) -> tuple[list[float], float, float, list[str]]:
    """``(weights of the new fleet after each shift, bake seconds, termination wait, alarm names)``."""
    policy = (deployment_config or {}).get("BlueGreenUpdatePolicy") or {}
    routing = policy.get("TrafficRoutingConfiguration") or {}
    mode = routing.get("Type", "ALL_AT_ONCE")
    wait = float(routing.get("WaitIntervalInSeconds", 0))
    weights = [1.0]
    if mode == "CANARY":
        weights = [_share(routing.get("CanarySize"), fleet_size), 1.0]
    elif mode == "LINEAR":
        step = _share(routing.get("LinearStepSize"), fleet_size)
        weights = [min(1.0, step * (i + 1)) for i in range(int(1 / step + 0.999))]
        if weights[-1] < 1.0:
            weights.append(1.0)
    alarms = [
        alarm["AlarmName"]
        for alarm in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    ]
    return weights, wait, float(policy.get("TerminationWaitInSeconds", 0)), alarms


def _share(size: dict[str, Any] | None, fleet_size: int) -> float:
    """A CapacitySize as a share of the new fleet, hence of the traffic it receives."""
    if not size:
        return 1.0
    value = float(size.get("Value", 100))
    share = value / 100.0 if size.get("Type") == "CAPACITY_PERCENT" else value / max(fleet_size, 1)
    return max(0.01, min(1.0, share))


@dataclass
class _Shift:
    """Traffic split during an update: the share of requests the new config's fleet receives."""

    old_config: str
    new_config: str
    weight: float = 0.0


class EndpointLifecycle:
    """Creates, updates and deletes moto endpoints the way SageMaker's control plane does."""

    def __init__(self, start_model: ModelStarter, alarms: AlarmEvaluator | None = None) -> None:
        self._start_model = start_model
        self._alarms = alarms
        self._lock = threading.RLock()
        self._shifts: dict[str, _Shift] = {}
        self._threads: list[threading.Thread] = []
        self._random = random.Random(0)
        self._stopping = threading.Event()

    # -- control plane --------------------------------------------------------------------------
    def create(
        self, backend: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: Any
    ) -> FakeEndpoint:
        with self._lock:
            existing = backend.endpoints.get(endpoint_name)
            if existing is not None:
                raise ValidationError(message=f'Cannot create already existing endpoint "{existing.arn}".')
            endpoint = _ORIGINAL_CREATE(
                backend, endpoint_name=endpoint_name, endpoint_config_name=endpoint_config_name, tags=tags
            )
            endpoint.endpoint_status = "Creating"
        self._spawn(f"create-{endpoint_name}", self._run_create, backend, endpoint)
        return endpoint

    def update(
        self,
        backend: SageMakerModelBackend,
        endpoint_name: str,
        endpoint_config_name: str,
        deployment_config: dict[str, Any] | None,
    ) -> str:
        with self._lock:
            endpoint = backend.endpoints.get(endpoint_name)
            if endpoint is None:
                raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
            if endpoint.endpoint_status not in ALLOWED_TO_UPDATE:
                raise ValidationError(
                    message=f'Cannot update endpoint "{endpoint.arn}" in status {endpoint.endpoint_status}'
                    + (
                        ": DeleteEndpoint is the only operation a Failed endpoint allows"
                        if endpoint.endpoint_status == "Failed"
                        else ""
                    )
                )
            backend.describe_endpoint_config(endpoint_config_name)  # a missing config is refused now
            endpoint.endpoint_status = "Updating"
            endpoint.failure_reason = None
            endpoint.last_modified_time = utcnow()
            self._shifts[endpoint_name] = _Shift(endpoint.endpoint_config_name, endpoint_config_name)
        self._spawn(
            f"update-{endpoint_name}", self._run_update, backend, endpoint, endpoint_config_name, deployment_config
        )
        return str(endpoint.arn)

    def delete(self, backend: SageMakerModelBackend, endpoint_name: str) -> None:
        with self._lock:
            endpoint = backend.endpoints.get(endpoint_name)
            if endpoint is not None and endpoint.endpoint_status in {"Creating", "Updating", "RollingBack"}:
                raise ValidationError(
                    message=f'Cannot delete endpoint "{endpoint.arn}" while it is {endpoint.endpoint_status}'
                )
            self._shifts.pop(endpoint_name, None)
            _ORIGINAL_DELETE(backend, endpoint_name)

    # -- data plane -----------------------------------------------------------------------------
    def route(self, endpoint: FakeEndpoint) -> str:
        """The endpoint config whose fleet answers this request."""
        with self._lock:
            shift = self._shifts.get(endpoint.endpoint_name)
            if shift is None or shift.weight <= 0.0:
                return str(endpoint.endpoint_config_name)
            return shift.new_config if self._random.random() < shift.weight else shift.old_config

    def wait(self, timeout: float | None = None) -> None:
        """Stop baking and wait for the lifecycle threads (the local cloud is stopping)."""
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(timeout)

    # -- workers --------------------------------------------------------------------------------
    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"endpoint-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run_create(self, backend: SageMakerModelBackend, endpoint: FakeEndpoint) -> None:
        try:
            self._start_model(backend, endpoint.endpoint_name, endpoint.endpoint_config_name)
        except Exception as error:  # the model's failure is the endpoint's, as in SageMaker
            with self._lock:
                endpoint.endpoint_status = "Failed"
                endpoint.failure_reason = _start_failure(error)  # type: ignore[assignment]  # moto types it None
                endpoint.last_modified_time = utcnow()
            return
        with self._lock:
            endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = utcnow()

    def _run_update(
        self,
        backend: SageMakerModelBackend,
        endpoint: FakeEndpoint,
        new_config: str,
        deployment_config: dict[str, Any] | None,
    ) -> None:
        name = endpoint.endpoint_name
        try:
            self._start_model(backend, name, new_config)
        except Exception as error:
            self._roll_back(endpoint, f"The new fleet did not start: {_start_failure(error)}")
            return
        config = backend.describe_endpoint_config(new_config)
        fleet = int((config["ProductionVariants"] or [{}])[0].get("InitialInstanceCount", 1))
        weights, bake, termination_wait, alarms = traffic_steps(deployment_config, fleet)
        for weight in weights:
            with self._lock:
                self._shifts[name].weight = weight
            tripped = self._bake(bake, alarms)
            if tripped:
                self._roll_back(endpoint, f"Alarm {tripped} went into ALARM while the new fleet baked")
                return
        tripped = self._bake(termination_wait, alarms)
        if tripped:
            self._roll_back(endpoint, f"Alarm {tripped} went into ALARM before the old fleet was terminated")
            return
        with self._lock:
            endpoint.endpoint_config_name = new_config
            endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
            endpoint.data_capture_config = config.get("DataCaptureConfig")  # type: ignore[assignment]
            endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = utcnow()
            self._shifts.pop(name, None)

    def _bake(self, seconds: float, alarm_names: list[str]) -> str | None:
        """Watch the rollback alarms for ``seconds`` (at least once); the first in ALARM, or ``None``."""
        deadline = time.monotonic() + seconds
        while True:
            tripped = self._alarm_in_alarm(alarm_names)
            if tripped or time.monotonic() >= deadline or self._stopping.is_set():
                return tripped
            time.sleep(min(_ALARM_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _alarm_in_alarm(self, alarm_names: list[str]) -> str | None:
        if not alarm_names or self._alarms is None:
            return None
        # As LocalCloud.evaluate_alarms: the evaluator's event may wake an in-process Lambda meanwhile.
        with EXECUTION_LOCK:
            self._alarms.evaluate(alarm_names=alarm_names)
        stored = cloudwatch_backends[ACCOUNT_ID][REGION].alarms
        for name in alarm_names:
            alarm = stored.get(name)
            if alarm is not None and alarm.state_value == "ALARM":
                return name
        return None

    def _roll_back(self, endpoint: FakeEndpoint, reason: str) -> None:
        """All traffic back on the old fleet, which never stopped: InService on the previous config."""
        with self._lock:
            self._shifts.pop(endpoint.endpoint_name, None)
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = reason[:1024]  # type: ignore[assignment]  # moto types it None
            endpoint.last_modified_time = utcnow()


def _start_failure(error: Exception) -> str:
    return (
        "The primary container for production variant AllTraffic did not pass the ping health check: "
        f"{type(error).__name__}: {error}"
    )[:1024]


CREATE_ENDPOINT = PatchPoint(
    SageMakerModelBackend, "create_endpoint", "moto creates InService at once and overwrites an existing endpoint"
)
DELETE_ENDPOINT = PatchPoint(SageMakerModelBackend, "delete_endpoint", "moto deletes an endpoint in any status")
PATCH_POINTS = (CREATE_ENDPOINT, DELETE_ENDPOINT)
# Taken before any install: the lifecycle records and removes endpoints through moto's own code.
_ORIGINAL_CREATE: Any = CREATE_ENDPOINT.original()
_ORIGINAL_DELETE: Any = DELETE_ENDPOINT.original()
_active: PatchSet | None = None


def install(lifecycle: EndpointLifecycle) -> None:
    """Route CreateEndpoint and DeleteEndpoint to ``lifecycle`` (a second install replaces the first)."""
    global _active

    def create(self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: Any) -> FakeEndpoint:
        return lifecycle.create(self, endpoint_name, endpoint_config_name, tags)

    def delete(self: SageMakerModelBackend, endpoint_name: str) -> None:
        lifecycle.delete(self, endpoint_name)

    uninstall()
    _active = PatchSet([(CREATE_ENDPOINT, create), (DELETE_ENDPOINT, delete)])
    _active.install()


def uninstall() -> None:
    global _active
    if _active is not None:
        _active.uninstall()
        _active = None
