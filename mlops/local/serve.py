"""`mlops local up` and `mlops local tick`: the local cloud on a loopback port, on a clock of its own.

`local_up` synthesizes the CDK app with cdk.json's `mlops` context (plus the `-c` overrides given,
nothing else), deploys it into the local cloud, serves it on 127.0.0.1 and runs the scheduler
(`mlops.local.scheduler`): the drift and recheck schedules fire and the alarms are evaluated by
themselves — on the wall clock, on an accelerated one, or only when ticked. The whole loop
(upload, pipeline, endpoint, traffic, drift, alarm, retraining) then runs with nothing but AWS
clients (`AWS_ENDPOINT_URL`) and, to skip the waiting, `local_tick` (`POST /_mlops/tick`).

The clock really moves, so the drift function's settle lag (`drift.settleSeconds`) works as
deployed: an hour's tick moves well past it. Nothing of the demo's time compression is applied;
anyone who wants it says so (`-c drift.settleSeconds=1`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from mlops.local.assembly import SynthError, project_root, synthesize
from mlops.local.clock import VirtualClock
from mlops.local.cloud import LocalCloud
from mlops.local.constants import ACCOUNT_ID, DEFAULT_SERVER_PORT, REGION
from mlops.local.context import mlops_context
from mlops.local.deployer import DeployError
from mlops.local.scheduler import Scheduler, TickReport
from mlops.local.server import ACCESS_LOG, ControlError, call

__all__ = ["UpOptions", "local_tick", "local_up", "outputs_table", "report_lines"]

_OUTPUT_COLUMN = 28  # output names up to this long share their line with the value


@dataclass(frozen=True)
class UpOptions:
    port: int = DEFAULT_SERVER_PORT
    clock: str = "real"
    speed: float = 60.0
    context: Mapping[str, Any] = field(default_factory=dict)  # dotted keys under the `mlops` context
    verbose: bool = False  # the HTTP access log and the Lambda functions' logs, on stderr


def local_up(options: UpOptions, out: TextIO | None = None, stop: threading.Event | None = None) -> int:
    """Deploy, serve and run the clock until `stop` is set (or SIGTERM / Ctrl-C); the exit status."""
    out = out or sys.stdout
    root = project_root()
    try:
        config = mlops_context(root, options.context)
    except ValueError as error:
        print(f"mlops local up: {error}", file=sys.stderr)
        return 2
    _configure_logging(options.verbose)
    stop = stop or threading.Event()
    try:
        with (
            LocalCloud(server_port=options.port, echo_lambda_logs=options.verbose) as cloud,
            VirtualClock(datetime.now(UTC)) as clock,
        ):
            assembly = synthesize(cloud.work_dir / "cdk.out", context={"mlops": config}, root=root)
            deployment = cloud.deploy(assembly)
            scheduler = Scheduler(
                cloud, clock, mode=options.clock, speed=options.speed, on_report=lambda r: _print_report(r, out)
            )
            assert cloud.server is not None and cloud.endpoint_url is not None
            scheduler.serve_on(cloud.server)
            _print_banner(out, cloud.endpoint_url, deployment.outputs_by_stack, scheduler)
            scheduler.start()
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
            scheduler.stop()
    except SynthError as error:
        print(f"{error.details}\n\nmlops local up: {error}", file=sys.stderr)
        return 1
    except (DeployError, ValueError) as error:
        print(f"mlops local up: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the port is taken, most likely
        print(f"mlops local up: cannot serve on 127.0.0.1:{options.port}: {error}", file=sys.stderr)
        return 1
    return 0


def local_tick(
    endpoint_url: str | None, minutes: float | None, *, as_json: bool = False, out: TextIO | None = None
) -> int:
    """Ask a running `mlops local up` to move its clock; print what fired. The exit status."""
    out = out or sys.stdout
    url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{DEFAULT_SERVER_PORT}"
    try:
        answer = call(url, "POST", "tick", {} if minutes is None else {"minutes": minutes})
    except ControlError as error:
        print(f"mlops local tick: {error}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(answer, indent=2), file=out)
        return 0
    print(f"clock moved {answer['from']} -> {answer['to']}", file=out)
    for line in report_lines(answer) or ["  nothing was due"]:
        print(line, file=out)
    for schedule in answer.get("clock", {}).get("schedules", []):
        print(f"  next: {schedule['rule']} at {schedule['nextDue']}", file=out)
    return 0


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """What a clock step did (`TickReport.to_json()`), one line each, in the order it happened."""
    events = [(f["at"], f"schedule {f['rule']} fired") for f in report.get("fired", [])]
    events += [(t["at"], f"alarm {t['alarm']}: {t['from']} -> {t['to']}") for t in report.get("alarmTransitions", [])]
    events += [(e["at"], f"execution {e['name']} started") for e in report.get("executionsStarted", [])]
    return [f"  [{at}] {text}" for at, text in sorted(events, key=lambda event: event[0])]


def outputs_table(outputs_by_stack: Mapping[str, Mapping[str, str]], column: int = _OUTPUT_COLUMN) -> list[str]:
    """The stack outputs, stack by stack; a name longer than the column (CDK's generated
    cross-stack export names run to 55 characters) stands on its own line, its value under it."""
    lines = []
    for stack, outputs in outputs_by_stack.items():
        lines.append(f"  {stack}")
        for key, value in sorted(outputs.items()):
            if len(key) <= column:
                lines.append(f"    {key:<{column}} {value}")
            else:
                lines += [f"    {key}", f"    {'':<{column}} {value}"]
    return lines


def _print_banner(
    out: TextIO, url: str, outputs_by_stack: Mapping[str, Mapping[str, str]], scheduler: Scheduler
) -> None:
    status = scheduler.status()
    how = {
        "real": "schedules fire and alarms are evaluated on the wall clock",
        "fast": f"schedules fire and alarms are evaluated {scheduler.speed:g} times faster while nothing runs",
        "manual": "nothing fires by itself",
    }[scheduler.mode]
    lines = [
        f"local cloud serving on {url} (account {ACCOUNT_ID}, region {REGION})",
        "",
        "stack outputs:",
        *outputs_table(outputs_by_stack),
        "",
        f"clock: {scheduler.mode} ({how}); `mlops local tick [--minutes N]` moves it forward",
        *(f"  {s['rule']}: {s['expression']}, next at {s['nextDue']}" for s in status["schedules"]),
        *(f"  {rule}: {why}" for rule, why in status["notScheduled"].items()),
        "",
        f"try: AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --region {REGION} s3 ls",
        "Ctrl-C stops it.",
    ]
    print("\n".join(lines), file=out, flush=True)


def _print_report(report: TickReport, out: TextIO) -> None:
    print("\n".join(report_lines(report.to_json())), file=out, flush=True)


def _configure_logging(verbose: bool) -> None:
    """Library chatter stays off the console; werkzeug keeps its errors, the access log is opt-in."""
    for noisy in ("moto", "botocore", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if verbose and not ACCESS_LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        ACCESS_LOG.addHandler(handler)
        ACCESS_LOG.setLevel(logging.INFO)
