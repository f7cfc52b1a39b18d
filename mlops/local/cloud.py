"""The local cloud: moto plus the adapters it lacks, in-process or as a server.

`LocalCloud` starts moto (`mock_aws`, with Step Functions executing state machines), installs the
adapters of `mlops.local.adapters`, and optionally serves the same backends on a loopback port for
the AWS CLI and boto3 (`AWS_ENDPOINT_URL`). In both modes the handlers, training scripts and
inference code run inside this process against the same in-memory AWS, so the state the server
shows is the state the pipeline produced.

`inject_fault` makes AWS API calls fail as the service would (throttling, 5xx, access denied) and
training jobs fail as SageMaker reports it (`mlops.local.adapters.faults`); `retry_waits` records
every Retry wait the state machines ask for (`retry_wait_scale` compresses them for tests);
`notifications` reads what was published to an SNS topic.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.sns.models import sns_backends

from mlops.local.adapters import (
    alarms,
    cfn_resources,
    endpoints,
    eventbridge,
    faults,
    lambda_runtime,
    model_registry,
    s3_objects,
    sfn_aws_sdk,
    sfn_errors,
    sfn_retry,
    sfn_sagemaker,
    training,
)
from mlops.local.adapters.code_loader import EXECUTION_LOCK, CodeLoader
from mlops.local.adapters.process import install_thread_environ
from mlops.local.assembly import CloudAssembly
from mlops.local.constants import ACCOUNT_ID, REGION
from mlops.local.deployer import Deployment, deploy
from mlops.local.server import LocalServer

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class LocalCloud:
    """An embedded AWS account that runs what is deployed into it."""

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        server_port: int | None = None,
        echo_lambda_logs: bool = False,
        retry_wait_scale: float = 1.0,
    ) -> None:
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="mlops-local-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.server_port = server_port
        self._loader = CodeLoader()
        self.lambdas = lambda_runtime.InProcessLambdaRuntime(self.work_dir, self._loader, echo_logs=echo_lambda_logs)
        self.faults = faults.FaultInjector()
        self.retry_clock = sfn_retry.RetryClock(retry_wait_scale)
        self.training = training.TrainingJobRunner(self.work_dir, self.faults)
        self.alarms = alarms.AlarmEvaluator()
        # Blue/green updates watch their rollback alarms through the same CloudWatch evaluation.
        self.endpoints = endpoints.EndpointServer(self.work_dir, self._loader, self.alarms)
        self.events: eventbridge.EventDelivery | None = None
        self._mock: Any = None
        self.server: LocalServer | None = None  # server mode: moto's backends and /_mlops/ on a port
        self._clients: dict[str, Any] = {}
        self._saved_env: dict[str, str | None] = {}
        self.deployment: Deployment | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        self._saved_env = {key: os.environ.get(key) for key in [*_FAKE_CREDENTIALS, "AWS_ENDPOINT_URL"]}
        install_thread_environ()  # handlers get their environment per thread (adapters.process)
        os.environ.update(_FAKE_CREDENTIALS)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        self.events = eventbridge.EventDelivery()
        cfn_resources.install()
        lambda_runtime.install(self.lambdas)
        sfn_sagemaker.install()
        sfn_aws_sdk.install()
        training.install(self.training)
        endpoints.install(self.endpoints)
        model_registry.install()
        eventbridge.install(self.events)
        s3_objects.install()
        sfn_retry.install(self.retry_clock)
        sfn_errors.install()
        faults.install(self.faults)
        if self.server_port is not None:
            self.server = LocalServer(self.server_port)
            self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.events is not None:
            self.events.close()
        self.training.wait(timeout=5)
        self.endpoints.lifecycle.wait(timeout=5)
        faults.uninstall(self.faults)
        installed = (
            sfn_errors,
            sfn_retry,
            s3_objects,
            eventbridge,
            model_registry,
            endpoints,
            training,
            sfn_aws_sdk,
            sfn_sagemaker,
            lambda_runtime,
            cfn_resources,
        )
        for adapter in installed:
            adapter.uninstall()
        self._loader.restore()
        self._clients.clear()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use ------------------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str | None:
        """The served URL (with the port the system chose when asked for 0), or None in-process."""
        return self.server.url if self.server is not None else None

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def inject_fault(
        self,
        service: str,
        operation: str,
        error_code: str,
        *,
        times: int = 1,
        status: int | None = None,
        message: str | None = None,
        match: str | Callable[[faults.FaultRequest], bool] | None = None,
    ) -> faults.Fault:
        """Fail the next `times` matching `service` (boto3 name) `operation` calls with `error_code`."""
        return self.faults.inject(
            service, operation, error_code, times=times, status=status, message=message, match=match
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def retry_waits(self) -> list[float]:
        """Every Retry wait (seconds, after backoff and jitter) the state machines asked for."""
        return list(self.retry_clock.waits)

    @staticmethod
    def notifications(topic_arn: str) -> list[dict[str, str]]:
        """What was published to an SNS topic, oldest first: `{"subject", "message"}`."""
        topic = sns_backends[ACCOUNT_ID][REGION].topics.get(topic_arn)
        if topic is None:
            raise KeyError(f"no SNS topic {topic_arn}")
        return [{"subject": subject or "", "message": message} for _, message, subject, *_ in topic.sent_notifications]

    def deploy(self, assembly: CloudAssembly) -> Deployment:
        self.deployment = deploy(assembly)
        return self.deployment

    def drain_events(self, timeout: float = 120.0) -> None:
        assert self.events is not None
        self.events.drain(timeout)

    def fire_schedule(self, rule_name: str) -> None:
        assert self.events is not None
        self.events.fire_schedule(rule_name)
        self.events.drain()

    def evaluate_alarms(self, now: datetime | None = None) -> list[alarms.Transition]:
        """CloudWatch evaluates every metric alarm at `now` (default: the clock's now), then the
        state-change events are delivered.

        The evaluator creates boto3 clients after emitting an event, which the delivery thread may
        already be handing to an in-process Lambda; holding the execution lock keeps that Lambda
        waiting until the evaluation is done."""
        with EXECUTION_LOCK:
            transitions = self.alarms.evaluate(now)
        self.drain_events()
        return transitions

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """The executions of every state machine (ListExecutions entries), only `status` ones if given."""
        sfn = self._own_client("stepfunctions")
        filters = {"statusFilter": status} if status else {}
        found: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                listing = sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"], **filters
                )
                found.extend(execution for listed in listing for execution in listed["executions"])
        return found

    def wait_for_runs(self, timeout: float = 3600.0, poll: float = 0.25) -> None:
        """Deliver pending events, then wait until no execution is RUNNING (a run may start another)."""
        sfn = self._own_client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            self.drain_events()
            running = self.executions("RUNNING")
            if not running:
                return
            for execution in running:
                # DescribeExecution only: polling the history of a long run would compete for the
                # interpreter with the run itself.
                while sfn.describe_execution(executionArn=execution["executionArn"])["status"] not in _TERMINAL:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"execution {execution['name']} still running after {timeout:.0f} s")
                    time.sleep(poll)

    def _own_client(self, service: str) -> Any:
        """A client kept for the local cloud's own calls, created once under the execution lock
        (creating one reads os.environ, which an in-process handler on another thread may hold)."""
        with EXECUTION_LOCK:
            if service not in self._clients:
                self._clients[service] = boto3.client(service, region_name=REGION)
            return self._clients[service]

    def wait_for_execution(
        self,
        execution_arn: str,
        *,
        timeout: float = 1800.0,
        poll: float = 0.2,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Block until an execution ends, handing each new history event to `on_event`."""
        sfn = self.client("stepfunctions")
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
            if on_event:
                for event in events[seen:]:
                    on_event(event)
            seen = len(events)
            description = sfn.describe_execution(executionArn=execution_arn)
            if description["status"] in _TERMINAL:
                if on_event:
                    final = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
                    for event in final[seen:]:
                        on_event(event)
                return description
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {description['status']} after {timeout:.0f} s")
            time.sleep(poll)
