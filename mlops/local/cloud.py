"""The local cloud: moto plus the adapters it lacks, in-process or as a server.

`LocalCloud` starts moto (`mock_aws`, with Step Functions executing state machines), installs the
adapters of `mlops.local.adapters`, and optionally serves the same backends on a loopback port for
the AWS CLI and boto3 (`AWS_ENDPOINT_URL`). In both modes the handlers, training scripts and
inference code run inside this process against the same in-memory AWS, so the state the server
shows is the state the pipeline produced.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from mlops.local.adapters import alarms, cfn_resources, endpoints, eventbridge, lambda_runtime, sfn_sagemaker, training
from mlops.local.adapters.code_loader import CodeLoader
from mlops.local.assembly import CloudAssembly
from mlops.local.constants import REGION
from mlops.local.deployer import Deployment, deploy

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
        self, work_dir: Path | None = None, *, server_port: int | None = None, echo_lambda_logs: bool = False
    ) -> None:
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="mlops-local-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.server_port = server_port
        self._loader = CodeLoader()
        self.lambdas = lambda_runtime.InProcessLambdaRuntime(self.work_dir, self._loader, echo_logs=echo_lambda_logs)
        self.training = training.TrainingJobRunner(self.work_dir)
        self.endpoints = endpoints.EndpointServer(self.work_dir, self._loader)
        self.events: eventbridge.EventDelivery | None = None
        self.alarms = alarms.AlarmEvaluator()
        self._mock: Any = None
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self.deployment: Deployment | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        self._saved_env = {key: os.environ.get(key) for key in [*_FAKE_CREDENTIALS, "AWS_ENDPOINT_URL"]}
        os.environ.update(_FAKE_CREDENTIALS)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        self.events = eventbridge.EventDelivery()
        cfn_resources.install()
        lambda_runtime.install(self.lambdas)
        sfn_sagemaker.install()
        training.install(self.training)
        endpoints.install(self.endpoints)
        eventbridge.install(self.events)
        if self.server_port is not None:
            from moto.server import ThreadedMotoServer

            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.server_port, verbose=False)
            self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.events is not None:
            self.events.close()
        self.training.wait(timeout=5)
        for adapter in (eventbridge, endpoints, training, sfn_sagemaker, lambda_runtime, cfn_resources):
            adapter.uninstall()
        self._loader.restore()
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
        return f"http://127.0.0.1:{self.server_port}" if self.server_port is not None else None

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

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
