"""One policy's replay through the real local cloud, on the virtual clock (one process per policy).

The deployed system does all the work; the replay only plays the world around it — an operator
who uploads the first data, clients who call the endpoint, a labelling process that sends the
true labels late, EventBridge's clock firing the schedules, CloudWatch evaluating the alarms —
and reads back what happened through the AWS APIs. Per window `i` (after the first model is
serving), at the window's virtual start time:

1. the labels of window `i - labelDelay` arrive as a ground-truth file in the incoming bucket
   (the ground-truth function joins them with the capture, publishes model quality, adds a batch);
   CloudWatch evaluates the alarms (it does so continuously; the quality datapoint would be out of
   its period by the end of the window). With `labelDelay` 0 the labels follow the traffic instead;
2. `every` only: the trigger function gets a manual request for the newest batch;
3. any run that was started is waited for (a real run takes minutes, a window hours or days: the
   model it deploys serves the window), then the window's rows go to the endpoint, each request at
   its own virtual time, with an InferenceId;
4. the clock moves `drift.settleSeconds` + 1 s on, the drift schedule fires (its window, which ends
   `settleSeconds` before now, holds the traffic just sent), the alarms are evaluated, the recheck
   schedule fires, every run it started is waited for, and the window is recorded.

Accuracy and ROC-AUC are computed here from the served labels and probabilities and the CSV's true
labels: the replay knows the truth, the system only learns it through the ground-truth files.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import math
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: each worker synthesizes on its own
    fcntl = None  # type: ignore[assignment]

from functions.shared.batches import snapshot_version, snapshots_prefix
from functions.shared.endpoint import endpoint_state
from mlops.backtest.policies import Policy
from mlops.backtest.windows import ReplayPlan, Window
from mlops.local.assembly import CloudAssembly, read_assembly, synthesize
from mlops.local.clock import VirtualClock
from mlops.local.cloud import LocalCloud
from mlops.local.outputs import StackOutputs
from pipelines.schema import DatasetSchema, load_schema

__all__ = ["PolicyTask", "Replay", "quiet_process", "run_policy", "synthesize_cached"]

_RUN_TIMEOUT_SECONDS = 3600.0
_TRAIN_STATES = frozenset({"Train", "TrainWithChampion"})
_POLL_SECONDS = 0.25
_SERVICES = ("s3", "stepfunctions", "sagemaker", "sagemaker-runtime", "lambda", "logs", "cloudwatch", "events")
ProgressFn = Callable[[int, str], None]


@dataclass(frozen=True)
class PolicyTask:
    """Everything a worker process needs (picklable: it crosses the process boundary)."""

    policy: Policy
    context: dict[str, Any]
    unsupported: tuple[str, ...]  # policy keys the configuration lacks (emulated)
    plan: ReplayPlan
    schema_path: Path
    root: Path
    work_dir: Path
    assembly_cache: Path


def synthesize_cached(cache: Path, context: Mapping[str, Any], root: Path) -> CloudAssembly:
    """Synthesize once per distinct context: workers with the same context share one assembly.

    The lock makes a second worker wait for the first one's synthesis instead of running its own.
    """
    digest = hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    outdir = cache / digest
    if fcntl is None:
        return synthesize(cache / f"{digest}-{os.getpid()}", context={"mlops": dict(context)}, root=root)
    with (cache / f"{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (outdir / ".complete").is_file():
                return read_assembly(outdir)
            assembly = synthesize(outdir, context={"mlops": dict(context)}, root=root)
            (outdir / ".complete").touch()
            return assembly
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def quiet_process() -> None:
    """Workers share the terminal with the parent's table and progress bar: their stdout (the
    Lambdas' logs outside an invocation, stray prints) and library noise go nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    warnings.simplefilter("ignore")
    for noisy in ("moto", "werkzeug", "botocore", "urllib3", "boto3", "aws_lambda_powertools"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)


def run_policy(task: PolicyTask, progress: ProgressFn | None = None, *, quiet: bool = True) -> dict[str, Any]:
    """Worker entry point: the whole replay of one policy; failures come back as `error`
    (with the end of the traceback, so a failed policy can be diagnosed from the JSON)."""
    if quiet:
        quiet_process()
    started = time.perf_counter()
    try:
        assembly = synthesize_cached(task.assembly_cache, task.context, task.root)
        synth_seconds = time.perf_counter() - started
        with LocalCloud(task.work_dir) as cloud, VirtualClock(task.plan.start) as clock:
            replay = Replay(task, cloud, clock, progress or (lambda _i, _n: None))
            result = replay.run(assembly)
        result["synthSeconds"] = round(synth_seconds, 1)
    except Exception as error:  # reported by the parent with the policy's name
        result = {
            "policy": task.policy.name,
            "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc().strip().splitlines()[-12:],
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


@dataclass
class _Seen:
    executions: set[str] = field(default_factory=set)
    drift_reports: set[str] = field(default_factory=set)
    quality_reports: set[str] = field(default_factory=set)
    training_jobs: set[str] = field(default_factory=set)
    log_events: set[str] = field(default_factory=set)


class Replay:
    """The replay of one policy inside a running local cloud and virtual clock."""

    def __init__(self, task: PolicyTask, cloud: LocalCloud, clock: VirtualClock, progress: ProgressFn) -> None:
        self.task = task
        self.plan = task.plan
        self.policy = task.policy
        self.cloud = cloud
        self.clock = clock
        self.progress = progress
        self.schema: DatasetSchema = load_schema(task.schema_path)
        self.seen = _Seen()
        self.notes: list[str] = []
        self.resources: StackOutputs | None = None
        self.dataset_name = self.schema.name
        self._emulated: dict[str, str] = {}
        self._log_mark = 0
        self._transitions_seen = 0
        # Created once, before anything runs: creating a boto3 client reads the proxy settings by
        # iterating os.environ, which an in-process Lambda on another thread may be changing.
        self._clients = {service: cloud.client(service) for service in _SERVICES}

    def client(self, service: str) -> Any:
        return self._clients[service]

    # -- the replay -----------------------------------------------------------------------------
    def run(self, assembly: CloudAssembly) -> dict[str, Any]:
        deploy_started = time.perf_counter()
        deployment = self.cloud.deploy(assembly)
        upload_prefix = str(self.task.context.get("uploadPrefix", "uploads/"))
        resources = StackOutputs.from_outputs(deployment.outputs, upload_prefix)
        trigger_env = self._function_environment(resources.trigger_function)
        self.dataset_name = trigger_env.get("DATASET_NAME", self.schema.name)
        self.resources = resources
        self._emulate_unsupported(resources)
        deploy_seconds = time.perf_counter() - deploy_started

        initial = self._initial_run(resources)
        windows = []
        for window in self.plan.windows:
            windows.append(self._window(resources, window))
            self.progress(window.index + 1, _progress_note(windows[-1]))
        return {
            "policy": self.policy.name,
            "description": self.policy.description,
            "deploySeconds": round(deploy_seconds, 1),
            "initial": initial,
            "perWindow": windows,
            "trainingJobs": self._training_jobs(),
            "emulated": [f"{key}: {how}" for key, how in self._emulated.items()],
            "notes": self.notes,
            "virtualStart": self.plan.start.isoformat(),
            "virtualEnd": self.clock.now().isoformat(),
        }

    def _emulate_unsupported(self, resources: StackOutputs) -> None:
        """A policy key the configuration cannot express yet is played by the replay, visibly."""
        for key in self.task.unsupported:
            if key == "retraining.onAlarm":
                events = self.client("events")
                for rule in resources.retrain_rules:
                    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
                    if targets:
                        events.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])
                rules = ", ".join(resources.retrain_rules)
                self._emulated[key] = f"not in this configuration; the targets of {rules} were removed"
            elif key == "retraining.onUpload":
                self._emulated[key] = "not in this configuration; the replay uploads only the initial data"
            else:
                self._emulated[key] = "not in this configuration; ignored"

    def _initial_run(self, resources: StackOutputs) -> dict[str, Any]:
        """Upload the initial part (it always trains: there is no champion), wait for the model."""
        started = time.perf_counter()
        key = f"{resources.upload_prefix}backtest-initial.csv"
        body = _csv_bytes(self.plan.header, self.plan.initial)
        self.client("s3").put_object(Bucket=resources.incoming_bucket, Key=key, Body=body)
        self._wait_for_runs(resources)
        runs = self._new_runs(resources)
        endpoint = self._serving_version(resources)
        if endpoint is None:
            outcome = "; ".join(f"{r['name']}: {r['outcome']} {r.get('error') or ''}".strip() for r in runs) or "no run"
            raise RuntimeError(f"the initial upload deployed no model ({outcome})")
        # The drift schedule has been running since the deployment: its first run starts the
        # chain of windows, so the first window's check reads all of the first window's capture.
        self.cloud.fire_schedule(resources.drift_schedule_rule)
        self._evaluate_alarms()
        self._collect_drift(resources)
        self._collect_skips(resources)
        self._new_training_seconds()
        self._new_transitions()
        return {
            "rows": len(self.plan.initial),
            "key": key,
            "runs": runs,
            "servingVersion": endpoint,
            "seconds": round(time.perf_counter() - started, 1),
        }

    def _window(self, resources: StackOutputs, window: Window) -> dict[str, Any]:
        started = time.perf_counter()
        phases: dict[str, float] = {}
        mark = started

        def lap(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            phases[name] = round(phases.get(name, 0.0) + now - mark, 3)
            mark = now

        self.clock.advance_to(window.start)
        record: dict[str, Any] = {
            "index": window.index,
            "time": self.clock.now().isoformat(),
            "windowStart": window.start.isoformat(),
            "rows": len(window.rows),
        }
        delay = self.plan.label_delay
        labelled = None
        if delay >= 1 and window.index - delay >= 0:
            labelled = self._send_labels(resources, self.plan.windows[window.index - delay])
        lap("labels")
        if self.policy.retrain_before_each_window:
            self._wait_for_runs(resources)
            record["manual"] = self._manual_retraining(resources, window.index)
        self._wait_for_runs(resources)
        before_traffic = [{**run, "phase": "start"} for run in self._new_runs(resources)]
        lap("runsBeforeTraffic")

        record["servingVersion"] = self._serving_version(resources)
        probabilities, predicted = self._traffic(resources, window)
        truth = [int(self.schema.is_positive(_label_value(self.schema, row))) for row in window.rows]
        record.update(_scores(truth, predicted, probabilities))
        lap("traffic")
        if delay == 0:
            labelled = self._send_labels(resources, window)
            self._wait_for_runs(resources)  # the clock must not jump while a run is in flight
            lap("labels")
        record["labelsFor"] = labelled

        self.clock.advance(timedelta(seconds=_settle_seconds(self.task.context) + 1))
        self.cloud.fire_schedule(resources.drift_schedule_rule)
        self._evaluate_alarms()
        self.cloud.fire_schedule(resources.recheck_schedule_rule)
        lap("checks")
        self._wait_for_runs(resources)
        lap("runsAfterChecks")

        record["drift"] = self._collect_drift(resources)
        record["quality"] = self._collect_quality(resources)
        record["alarms"] = self._alarm_states(resources)
        record["alarmTransitions"] = self._new_transitions()
        record["runs"] = before_traffic + [{**run, "phase": "end"} for run in self._new_runs(resources)]
        record["skips"] = self._collect_skips(resources)
        record["retrained"] = sum(1 for run in record["runs"] if run["trained"])
        record["deployed"] = sum(1 for run in record["runs"] if run["outcome"] == "deployed")
        record["servingVersionAfter"] = self._serving_version(resources)
        record["trainingSeconds"] = round(self._new_training_seconds(), 2)
        lap("reading")
        record["phaseSeconds"] = phases
        record["seconds"] = round(time.perf_counter() - started, 2)
        return record

    # -- the world around the system ------------------------------------------------------------
    def _send_labels(self, resources: StackOutputs, window: Window) -> int:
        """The true labels of `window` as a ground-truth file (header inferenceId,label[,time])."""
        time_column = self.schema.time_column.name if self.schema.time_column else None
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["inferenceId", "label", *(["time"] if time_column else [])])
        for row_id, row in zip(window.label_ids(), window.rows, strict=True):
            writer.writerow([row_id, row[self.schema.target], *([row[time_column]] if time_column else [])])
        key = f"{resources.ground_truth_prefix}backtest-w{window.index:04d}.csv"
        self.client("s3").put_object(Bucket=resources.incoming_bucket, Key=key, Body=buffer.getvalue().encode("utf-8"))
        self.cloud.drain_events()
        self._evaluate_alarms()
        return window.index

    def _manual_retraining(self, resources: StackOutputs, index: int) -> dict[str, Any]:
        """`every`: a manual request for the newest batch through the real trigger function."""
        newest = self._newest_batch(resources)
        if newest is None:
            return {"started": False, "skipped": "no_batch"}
        payload = {"reason": "manual", "bucket": resources.curated_bucket, "key": newest, "requestId": f"every-{index}"}
        response = self.client("lambda").invoke(
            FunctionName=resources.trigger_function, Payload=json.dumps(payload).encode()
        )
        result = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            return {"started": False, "error": str(result.get("errorMessage", result))[:300]}
        self._wait_for_runs(resources)
        return {key: result.get(key) for key in ("started", "executionName", "skipped") if key in result}

    def _traffic(self, resources: StackOutputs, window: Window) -> tuple[list[float], list[int]]:
        """The window's rows to the endpoint, each request at its virtual time, with its InferenceId."""
        runtime = self.client("sagemaker-runtime")
        names = self.schema.feature_names
        probabilities: list[float] = []
        labels: list[int] = []
        for _, inference_id, rows, offset in window.requests():
            self.clock.advance_to(window.start + offset)
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerows([row[name] for name in names] for row in rows)
            try:
                response = runtime.invoke_endpoint(
                    EndpointName=resources.endpoint_name,
                    ContentType="text/csv",
                    Accept="application/json",
                    Body=buffer.getvalue().encode("utf-8"),
                    InferenceId=inference_id,
                )
                predictions = json.loads(response["Body"].read())["predictions"]
            except runtime.exceptions.ClientError as error:
                self.notes.append(f"window {window.index} request {inference_id}: {error}")
                predictions = [{"probability": math.nan, "label": -1}] * len(rows)
            probabilities.extend(float(p["probability"]) for p in predictions)
            labels.extend(int(p["label"]) for p in predictions)
        return probabilities, labels

    def _evaluate_alarms(self) -> None:
        """CloudWatch evaluates the alarms at the virtual now, then their state-change events are delivered."""
        self.cloud.evaluate_alarms(self.clock.now())

    def _wait_for_runs(self, resources: StackOutputs) -> None:
        """Deliver pending events, then wait until no execution is RUNNING (a run may start another)."""
        self.cloud.wait_for_runs(_RUN_TIMEOUT_SECONDS, poll=_POLL_SECONDS)

    # -- reading back what happened -------------------------------------------------------------
    def _function_environment(self, function_name: str) -> dict[str, str]:
        described = self.client("lambda").get_function_configuration(FunctionName=function_name)
        return dict(described.get("Environment", {}).get("Variables", {}))

    def _serving_version(self, resources: StackOutputs) -> int | None:
        """endpoint -> endpoint config -> model -> MLOPS_MODEL_PACKAGE_ARN -> package version."""
        served = endpoint_state(resources.endpoint_name, self.client("sagemaker"))
        if served is None or served.status != "InService":
            return None
        version = (served.model_package_arn or "").rsplit("/", 1)[-1]
        return int(version) if version.isdigit() else None

    def _newest_batch(self, resources: StackOutputs) -> str | None:
        """The newest curated batch's data.csv key (dataset versions sort by validation time)."""
        keys = [
            key
            for key in self._list_keys(resources.curated_bucket, snapshots_prefix(self.dataset_name))
            if snapshot_version(self.dataset_name, key) is not None
        ]
        return max(keys) if keys else None

    def _list_keys(self, bucket: str, prefix: str) -> list[str]:
        paginator = self.client("s3").get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def _read_json(self, bucket: str, key: str) -> dict[str, Any]:
        return json.loads(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())

    def _new_reports(self, bucket: str, prefix: str, seen: set[str]) -> list[str]:
        fresh = sorted(k for k in self._list_keys(bucket, prefix) if k.endswith("/report.json") and k not in seen)
        seen.update(fresh)
        return fresh

    def _collect_drift(self, resources: StackOutputs) -> dict[str, Any] | None:
        fresh = self._new_reports(
            resources.artifacts_bucket, f"drift/{resources.endpoint_name}/", self.seen.drift_reports
        )
        if not fresh:
            return None
        report = self._read_json(resources.artifacts_bucket, fresh[-1])
        return {
            "verdict": report.get("verdict"),
            "records": report.get("records"),
            "predictionPsi": report.get("predictionPsi"),
            "driftShare": report.get("driftShare"),
            "drifted": [f["name"] for f in report.get("features", []) if f.get("drifted")],
            "reports": len(fresh),
        }

    def _collect_quality(self, resources: StackOutputs) -> dict[str, Any] | None:
        fresh = self._new_reports(
            resources.artifacts_bucket, f"quality/{resources.endpoint_name}/", self.seen.quality_reports
        )
        if not fresh:
            return None
        report = self._read_json(resources.artifacts_bucket, fresh[-1])
        labels = report.get("labels") or {}
        unknown = labels.get("unknown")
        return {
            "status": report.get("status"),
            "metrics": {k: v for k, v in (report.get("quality") or {}).items() if _scalar(v)},
            "qualityMetric": {k: v for k, v in (report.get("qualityMetric") or {}).items() if _scalar(v)},
            "joined": labels.get("joined"),
            "unknown": unknown.get("count") if isinstance(unknown, dict) else unknown,
            "batch": (report.get("batch") or {}).get("status"),
            "error": report.get("error"),
            "reports": len(fresh),
        }

    def _new_transitions(self) -> list[str]:
        """Alarm state changes since the last window (a quality alarm may go to ALARM when labels
        arrive and back to OK by the end of the window, when its datapoint has left the period)."""
        transitions = self.cloud.alarms.transitions[self._transitions_seen :]
        self._transitions_seen = len(self.cloud.alarms.transitions)
        return [f"{t.alarm_name}: {t.previous} -> {t.current}" for t in transitions]

    def _alarm_states(self, resources: StackOutputs) -> dict[str, str]:
        described = self.client("cloudwatch").describe_alarms(AlarmNames=list(resources.alarms))
        return {alarm["AlarmName"]: alarm["StateValue"] for alarm in described["MetricAlarms"]}

    def _new_runs(self, resources: StackOutputs) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        paginator = sfn.get_paginator("list_executions")
        fresh = [
            e
            for page in paginator.paginate(stateMachineArn=resources.state_machine_arn)
            for e in page["executions"]
            if e["name"] not in self.seen.executions
        ]
        runs = []
        for execution in sorted(fresh, key=lambda e: e["startDate"]):
            self.seen.executions.add(execution["name"])
            runs.append(_describe_run(sfn, execution["executionArn"]))
        return runs

    def _collect_skips(self, resources: StackOutputs) -> list[dict[str, Any]]:
        """The trigger's decisions not to start a run, from its log (each skip is logged with its code)."""
        logs = self.client("logs")
        group = f"/aws/lambda/{resources.trigger_function}"
        skips = []
        try:
            paginator = logs.get_paginator("filter_log_events")
            pages = list(paginator.paginate(logGroupName=group, startTime=self._log_mark))
        except logs.exceptions.ResourceNotFoundException:
            return []
        for page in pages:
            for event in page.get("events", []):
                if event["eventId"] in self.seen.log_events:
                    continue
                self.seen.log_events.add(event["eventId"])
                for entry in _json_lines(event.get("message", "")):
                    if entry.get("skipped"):
                        skips.append(
                            {
                                "trigger": entry.get("trigger"),
                                "skipped": entry["skipped"],
                                "message": str(entry.get("message", ""))[:200],
                            }
                        )
        self._log_mark = max(0, int(self.clock.now().timestamp() * 1000) - 60_000)
        return skips

    def _training_jobs(self) -> list[dict[str, Any]]:
        sagemaker = self.client("sagemaker")
        jobs = []
        summaries = [
            s
            for page in sagemaker.get_paginator("list_training_jobs").paginate()
            for s in page.get("TrainingJobSummaries", [])
        ]
        for summary in sorted(summaries, key=lambda s: s["CreationTime"]):
            described = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
            jobs.append(
                {
                    "name": described["TrainingJobName"],
                    "status": described["TrainingJobStatus"],
                    "seconds": _job_seconds(described),
                }
            )
        return jobs

    def _new_training_seconds(self) -> float:
        sagemaker = self.client("sagemaker")
        total = 0.0
        paginator = sagemaker.get_paginator("list_training_jobs")
        for page in paginator.paginate():
            for summary in page.get("TrainingJobSummaries", []):
                name = summary["TrainingJobName"]
                if name in self.seen.training_jobs:
                    continue
                described = sagemaker.describe_training_job(TrainingJobName=name)
                if described["TrainingJobStatus"] == "InProgress":
                    continue
                self.seen.training_jobs.add(name)
                total += _job_seconds(described)
        return total


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, int | float | str | bool)


def _job_seconds(described: Mapping[str, Any]) -> float:
    start = described.get("TrainingStartTime") or described.get("CreationTime")
    end = described.get("TrainingEndTime")
    return round((end - start).total_seconds(), 2) if start and end else 0.0


def _describe_run(sfn: Any, arn: str) -> dict[str, Any]:
    """What a run did, from its history: trained or not, and how it ended."""
    described = sfn.describe_execution(executionArn=arn)
    execution_input = json.loads(described.get("input") or "{}")
    output = json.loads(described.get("output") or "{}") if described.get("output") else {}
    entered = set()
    for event in _history(sfn, arn):
        details = event.get("stateEnteredEventDetails")
        if details:
            entered.add(details.get("name"))
    status = described["status"]
    trained = bool(entered & _TRAIN_STATES)
    if status != "SUCCEEDED":
        outcome = "failed"
    elif "NotRetrained" in entered:
        outcome = "skipped"
    elif "ModelRejected" in entered:
        outcome = "rejected"
    elif "Deployed" in entered:
        outcome = "deployed"
    else:
        outcome = "succeeded"
    run = {
        "name": described["name"],
        "reason": execution_input.get("reason"),
        "status": status,
        "trained": trained,
        "approved": "CreateModel" in entered,
        "outcome": outcome,
        "skipped": (output.get("plan") or {}).get("skipped") if isinstance(output, dict) else None,
        "version": (output.get("registration") or {}).get("version") if isinstance(output, dict) else None,
        "gate": ((output.get("evaluation") or {}).get("reasons") or [])[:4] if isinstance(output, dict) else [],
    }
    if status != "SUCCEEDED":
        run["error"] = f"{described.get('error')}: {(described.get('cause') or '')[:300]}"
    return run


def _history(sfn: Any, arn: str) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
        yield from page["events"]
        token = page.get("nextToken")
        if not token:
            return


def _json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    yield entry


def _label_value(schema: DatasetSchema, row: Mapping[str, str]) -> Any:
    return schema.target_column.parse(row[schema.target])


def _scores(truth: list[int], predicted: list[int], probabilities: list[float]) -> dict[str, Any]:
    """Accuracy of the served labels and ROC-AUC of the served probabilities (NaN when undefined)."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    pairs = [(t, p, q) for t, p, q in zip(truth, predicted, probabilities, strict=True) if p >= 0]
    if not pairs:
        return {"accuracy": math.nan, "rocAuc": math.nan, "served": 0, "positives": sum(truth)}
    t, p, q = (list(column) for column in zip(*pairs, strict=True))
    accuracy = float(accuracy_score(t, p))
    roc_auc = float(roc_auc_score(t, q)) if len(set(t)) == 2 else math.nan
    return {
        "accuracy": accuracy,
        "rocAuc": roc_auc,
        "served": len(pairs),
        "positives": sum(truth),
        "predictedPositives": sum(p),
    }


def _settle_seconds(context: Mapping[str, Any]) -> int:
    """The deployed drift function's settle lag: the policy's context is cdk.json's (plus overrides),
    which always has `drift.settleSeconds`, so there is no default to repeat here."""
    return int(context["drift"]["settleSeconds"])


def _csv_bytes(header: tuple[str, ...], rows: tuple[dict[str, str], ...]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _progress_note(record: Mapping[str, Any]) -> str:
    accuracy = record.get("accuracy")
    text = f"acc {accuracy:.3f}" if isinstance(accuracy, float) and not math.isnan(accuracy) else "acc -"
    return f"{text} v{record.get('servingVersion')}"
