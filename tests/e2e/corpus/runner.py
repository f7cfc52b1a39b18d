"""Run the corpus through a deployed local cloud and observe what became of every case.

Observations come from the AWS APIs only: executions and their histories, the curated and
quarantine buckets' reports, the model registry's lineage, the trigger's responses and logs, the
dead-letter queue, the alarm evaluation and the SNS topic's messages. Besides each case's outcome,
the run counts **crashes** (a Lambda error, an execution failure or an asynchronous failure whose
name is not one of the pipeline's named errors; a failed EventBridge delivery; an exception that
escaped a thread) and **lost objects** (an uploaded object version that is in no batch, no
quarantine report and no named failure).
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from functions.shared import errors as pipeline_errors
from mlops.local.adapters.code_loader import EXECUTION_LOCK
from mlops.local.cloud import LocalCloud

from .cases import (
    ACCEPTED,
    CASES,
    ERROR,
    IGNORED,
    QUARANTINED,
    Case,
    Observed,
    good,
    matches,
    s3_event,
)

# Names a failure may carry and still be a *named* failure: the pipeline's error classes, the Python
# runtime's payload error, and what Step Functions and its integrations name themselves.
NAMED_ERRORS = frozenset(
    {name for name, value in vars(pipeline_errors).items() if isinstance(value, type) and issubclass(value, Exception)}
    | {"Runtime.UnmarshalError", "States.TaskFailed", "States.Timeout", "DeployFailed"}
)
NAMED_PREFIXES = ("Lambda.", "SageMaker.")
MULTIPART = TransferConfig(multipart_threshold=256 * 1024)  # ~1 MB files go up in parts


def is_named(error: str | None) -> bool:
    return bool(error) and (error in NAMED_ERRORS or str(error).startswith(NAMED_PREFIXES))


@dataclass(frozen=True)
class Row:
    case: Case
    observed: Observed

    @property
    def ok(self) -> bool:
        return matches(self.case.expected, self.observed)


@dataclass
class Report:
    rows: list[Row]
    crashes: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    uploads: int = 0

    def table(self) -> str:
        width = max(len(row.case.name) for row in self.rows)
        lines = [f"{'case'.ljust(width)}  {'ok':3} {'expected':38} observed"]
        for row in self.rows:
            mark = "yes" if row.ok else "NO"
            lines.append(
                f"{row.case.name.ljust(width)}  {mark:3} {row.case.expected.describe():38} {row.observed.describe()}"
            )
        matched = sum(row.ok for row in self.rows)
        lines.append("")
        lines.append(
            f"{len(self.rows)} cases, {matched} as expected; {self.uploads} object versions uploaded, "
            f"{len(self.lost)} lost; {len(self.crashes)} crashes (unnamed errors)"
        )
        lines += [f"  crash: {crash}" for crash in self.crashes]
        lines += [f"  lost: {lost}" for lost in self.lost]
        return "\n".join(lines)


@dataclass(frozen=True)
class Resources:
    incoming: str
    curated: str
    quarantine: str
    state_machine: str
    topic: str
    trigger: str
    dead_letters: str  # the trigger's dead-letter queue name
    drift_alarm: str
    endpoint: str
    model_group: str

    @classmethod
    def of(cls, outputs: dict[str, str]) -> Resources:
        return cls(
            incoming=outputs["IncomingBucketName"],
            curated=outputs["CuratedBucketName"],
            quarantine=outputs["QuarantineBucketName"],
            state_machine=outputs["StateMachineArn"],
            topic=outputs["NotificationsTopicArn"],
            trigger=outputs["TriggerFunctionName"],
            dead_letters=outputs["TriggerDeadLetterQueueUrl"].rsplit("/", 1)[-1],
            drift_alarm=outputs["DriftAlarmName"],
            endpoint=outputs["EndpointName"],
            model_group=outputs["ModelPackageGroupName"],
        )

    def for_events(self) -> dict[str, str]:
        return {"incoming": self.incoming, "drift_alarm": self.drift_alarm}


@dataclass(frozen=True)
class Upload:
    key: str
    version_id: str


class Observer:
    """Reads what the system did, from the AWS APIs."""

    def __init__(self, cloud: LocalCloud, resources: Resources) -> None:
        self.cloud = cloud
        self.r = resources
        self.s3 = cloud.client("s3")
        self.sfn = cloud.client("stepfunctions")

    def executions(self) -> list[dict[str, Any]]:
        found = []
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.r.state_machine):
            found.extend(page["executions"])
        return found

    def wait_all(self, timeout: float = 900.0) -> None:
        deadline = time.monotonic() + timeout
        while any(e["status"] == "RUNNING" for e in self.executions()):
            if time.monotonic() > deadline:
                raise TimeoutError("executions still running")
            time.sleep(0.5)

    def execution_of(self, upload: Upload) -> list[dict[str, Any]]:
        runs = []
        for item in self.executions():
            described = self.sfn.describe_execution(executionArn=item["executionArn"])
            data = json.loads(described.get("input") or "{}").get("data") or {}
            if data.get("key") == upload.key and data.get("versionId") == upload.version_id:
                runs.append(described)
        return runs

    def end_state(self, execution_arn: str) -> str:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
        for event in reversed(events["events"]):
            if "stateEnteredEventDetails" in event:
                return str(event["stateEnteredEventDetails"]["name"])
        return "?"

    def notified(self, execution_arn: str) -> bool:
        return any(execution_arn in n["message"] for n in self.cloud.notifications(self.r.topic))

    def _reports(self, bucket: str, suffix: str, prefix: str = "") -> dict[tuple[str, str | None], dict[str, Any]]:
        found: dict[tuple[str, str | None], dict[str, Any]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(suffix):
                    report = json.loads(self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                    source = report.get("source", {})
                    found[(source.get("key"), source.get("versionId"))] = {**report, "_key": item["Key"]}
        return found

    def quarantined(self) -> dict[tuple[str, str | None], dict[str, Any]]:
        return self._reports(self.r.quarantine, ".report.json")

    def batches(self) -> dict[tuple[str, str | None], dict[str, Any]]:
        return self._reports(self.r.curated, "/validation.json", "snapshots/")

    def lineage_versions(self) -> set[str]:
        sagemaker = self.cloud.client("sagemaker")
        versions = set()
        for package in sagemaker.list_model_packages(ModelPackageGroupName=self.r.model_group, MaxResults=100)[
            "ModelPackageSummaryList"
        ]:
            described = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
            version = (described.get("CustomerMetadataProperties") or {}).get("datasetVersion")
            if version:
                versions.add(version)
        return versions

    def observe_upload(self, upload: Upload) -> Observed:
        runs = self.execution_of(upload)
        quarantined = self.quarantined().get((upload.key, upload.version_id))
        batch = self.batches().get((upload.key, upload.version_id))
        ends = [(run, self.end_state(run["executionArn"])) for run in runs]
        run_text = ", ".join(f"{run['status']} at {end}" for run, end in ends) or "no run"
        notified = any(self.notified(run["executionArn"]) for run in runs)
        failed = [run for run in runs if run["status"] != "SUCCEEDED"]
        error = failed[0].get("error") if failed else None
        keys = [upload.key]
        if quarantined is not None:
            checks = tuple(sorted({f["check"] for f in quarantined.get("failures", [])}))
            where = quarantined["_key"].removesuffix(".report.json")
            return Observed(QUARANTINED, checks, error=error, notified=notified, detail=f"at {where}", keys=keys)
        if batch is not None:
            version = batch.get("datasetVersion", "?")
            in_lineage = version in self.lineage_versions()
            detail = f"batch {version}{' (in a model lineage)' if in_lineage else ''}; run {run_text}"
            if failed:  # the data is kept; the run itself failed, and must have said so
                return Observed(ERROR, error=error, notified=notified, detail=detail, keys=keys)
            return Observed(ACCEPTED, notified=notified, detail=detail, keys=keys)
        if failed:
            return Observed(ERROR, error=error, notified=notified, detail=f"run {run_text}", keys=keys)
        return Observed("lost", detail=f"no batch, no quarantine report; run {run_text}", keys=keys)

    def accounted(self, upload: Upload) -> bool:
        """In a batch or in quarantine with a report, or its run failed with a named error and told someone."""
        if (upload.key, upload.version_id) in self.quarantined() or (upload.key, upload.version_id) in self.batches():
            return True
        return any(
            run["status"] == "FAILED" and is_named(run.get("error")) and self.notified(run["executionArn"])
            for run in self.execution_of(upload)
        )


class Corpus:
    def __init__(self, cloud: LocalCloud, outputs: dict[str, str], work: Path) -> None:
        self.cloud = cloud
        self.r = Resources.of(outputs)
        self.observer = Observer(cloud, self.r)
        self.work = work
        self.s3 = cloud.client("s3")
        self.uploads: list[Upload] = []
        self.thread_errors: list[str] = []

    # -- uploading ------------------------------------------------------------------------------
    def upload(self, key: str, body: bytes, *, multipart: bool = False) -> Upload:
        if multipart:
            path = self.work / f"{uuid.uuid4().hex}.csv"
            path.write_bytes(body)
            self.s3.upload_file(str(path), self.r.incoming, key, Config=MULTIPART)
            head = self.s3.head_object(Bucket=self.r.incoming, Key=key)
            assert head["ETag"].rstrip('"').rsplit("-", 1)[-1].isdigit(), "expected a multipart ETag"
            version = head["VersionId"]
        else:
            version = self.s3.put_object(Bucket=self.r.incoming, Key=key, Body=body)["VersionId"]
        upload = Upload(key, version)
        self.uploads.append(upload)
        return upload

    def settle(self) -> None:
        self.cloud.drain_events()
        self.observer.wait_all()
        self.cloud.drain_events()

    # -- the run ------------------------------------------------------------------------------------
    def run(self, cases: Iterable[Case] = CASES) -> Report:
        cases = list(cases)
        with self._thread_errors():
            self.seed()
            rows = self._files_and_scenarios([c for c in cases if c.kind in {"file", "scenario"}])
            rows += self._events([c for c in cases if c.kind == "event"])
            rows += [self._fault(case) for case in cases if case.kind == "fault"]
        order = {case.name: n for n, case in enumerate(cases)}
        rows.sort(key=lambda row: order[row.case.name])
        return Report(rows, crashes=self.crashes(), lost=self.lost(), uploads=len(self.uploads))

    def seed(self) -> None:
        """A champion first, so the corpus's valid uploads retrain and deploy over a serving model."""
        self.seed_upload = self.upload("uploads/corpus/seed.csv", good(2000, 1))
        self.settle()

    def _files_and_scenarios(self, cases: list[Case]) -> list[Row]:
        uploads: dict[str, list[Upload]] = {}
        for case in cases:
            if case.kind == "file":
                assert case.body is not None
                uploads[case.name] = [self.upload(case.key, case.body(), multipart=case.multipart)]
        scenarios = {case.name: case for case in cases if case.kind == "scenario"}
        if "overwritten-key" in scenarios:
            key = scenarios["overwritten-key"].key
            uploads["overwritten-key"] = [self.upload(key, good(300, 130)), self.upload(key, good(300, 131))]
        if "identical-bytes-twice" in scenarios:
            body = good(300, 132)
            stem = scenarios["identical-bytes-twice"].key
            uploads["identical-bytes-twice"] = [self.upload(f"{stem}-a.csv", body), self.upload(f"{stem}-b.csv", body)]
        if "deleted-before-validation" in scenarios:
            key = scenarios["deleted-before-validation"].key
            with EXECUTION_LOCK:  # no handler runs until the upload is withdrawn: its run validates after
                withdrawn = self.upload(key, good(300, 133))
                self.s3.delete_object(Bucket=self.r.incoming, Key=key)
            uploads["deleted-before-validation"] = [withdrawn]
        self.settle()

        rows = []
        for case in cases:
            if case.name in uploads:
                observed = [self.observer.observe_upload(upload) for upload in uploads[case.name]]
                rows.append(Row(case, _combined(observed)))
        if "replayed-event" in scenarios:
            rows.append(Row(scenarios["replayed-event"], self._replay()))
        if "concurrent-duplicates" in scenarios:
            rows.append(Row(scenarios["concurrent-duplicates"], self._concurrent_duplicates()))
        return rows

    def _trigger(self, payload: Any, invocation: str = "RequestResponse") -> tuple[dict[str, Any] | None, str | None]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response = self.cloud.client("lambda").invoke(
            FunctionName=self.r.trigger, Payload=body, InvocationType=invocation
        )
        if invocation != "RequestResponse":
            return None, None
        answer = json.loads(response["Payload"].read())
        return answer, response.get("FunctionError") and answer.get("errorType")

    def _logged_skip(self, skip: str, since: int) -> bool:
        events = self.cloud.client("logs").filter_log_events(
            logGroupName=f"/aws/lambda/{self.r.trigger}", startTime=since
        )["events"]
        return any(
            "not starting the pipeline" in e["message"] and f'"skipped":"{skip}"' in e["message"] for e in events
        )

    def _ignored(self, answer: dict[str, Any], since: int) -> Observed:
        skip = answer.get("skipped")
        logged = bool(skip) and self._logged_skip(skip, since)
        return Observed(IGNORED, skip=skip, detail="logged" if logged else "NOT logged")

    def _replay(self) -> Observed:
        valid = next(u for u in self.uploads if u.key == "uploads/corpus/valid.csv")
        etag = self.s3.head_object(Bucket=self.r.incoming, Key=valid.key, VersionId=valid.version_id)["ETag"]
        since = _millis()
        answer, error = self._trigger(s3_event(self.r.incoming, valid.key, version=valid.version_id, etag=etag))
        if error or answer is None:
            return Observed(ERROR, error=error, detail=str(answer)[:200])
        observed = self._ignored(answer, since)
        observed.detail += f"; runs for the key: {len(self.observer.execution_of(valid))}"
        return observed

    def _concurrent_duplicates(self) -> Observed:
        body = good(300, 134)
        upload = Upload("uploads/corpus/twice-delivered.csv", "")
        with EXECUTION_LOCK:  # the upload's own event is one of the two deliveries
            upload = self.upload(upload.key, body)
            etag = self.s3.head_object(Bucket=self.r.incoming, Key=upload.key, VersionId=upload.version_id)["ETag"]
            event = s3_event(self.r.incoming, upload.key, version=upload.version_id, etag=etag.strip('"'))
        since = _millis()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: self._trigger(event), range(2)))
        self.settle()
        skipped = [a for a, _ in answers if a and a.get("skipped")]
        runs = self.observer.execution_of(upload)
        outcome = self.observer.observe_upload(upload)
        observed = self._ignored(skipped[0], since) if skipped else Observed(ACCEPTED, detail="not skipped")
        observed.detail += f"; {len(runs)} run(s) for 3 deliveries; the upload: {outcome.outcome}"
        if len(runs) != 1 or outcome.outcome != ACCEPTED:
            observed.outcome = "duplicated"
        return observed

    def _events(self, cases: list[Case]) -> list[Row]:
        rows: list[Row] = []
        resources = self.r.for_events()
        for case in [c for c in cases if c.route == "sync"]:
            assert case.event is not None
            since = _millis()
            answer, error = self._trigger(case.event(resources))
            if error or answer is None:
                rows.append(Row(case, Observed(ERROR, error=error, detail="the caller got the error")))
            elif answer.get("started"):
                self.settle()
                arn = answer["executionArn"]
                described = self.observer.sfn.describe_execution(executionArn=arn)
                rows.append(
                    Row(
                        case,
                        Observed(
                            ERROR if described["status"] == "FAILED" else ACCEPTED,
                            error=described.get("error"),
                            notified=self.observer.notified(arn),
                            detail=f"run {described['status']} at {self.observer.end_state(arn)}",
                        ),
                    )
                )
            else:
                rows.append(Row(case, self._ignored(answer, since)))
        rows += self._dead_lettered([c for c in cases if c.route in {"async", "eventbridge"}])
        return rows

    def _dead_lettered(self, cases: list[Case]) -> list[Row]:
        """Send every malformed event at once; then the alarm evaluation, then read the queue."""
        if not cases:
            return []
        alarm = self._dead_letter_alarm()
        self.cloud.alarms.evaluate()
        sqs = self.cloud.client("sqs")
        url = sqs.get_queue_url(QueueName=self.r.dead_letters)["QueueUrl"]
        already = int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        state_before = self._alarm_state(alarm)
        notified_before = len(self._alarm_notifications(alarm))
        resources = self.r.for_events()
        for case in cases:
            assert case.event is not None
            payload = case.event(resources)
            if case.route == "eventbridge":
                self.cloud.client("events").put_events(
                    Entries=[
                        {
                            "Source": payload["source"],
                            "DetailType": payload["detail-type"],
                            "Detail": json.dumps(payload["detail"]),
                            "Resources": payload.get("resources", []),
                        }
                    ]
                )
            else:
                self._trigger(payload, invocation="Event")
        self.cloud.drain_events()
        transitions = [(t.alarm_name, t.current) for t in self.cloud.alarms.evaluate()]
        notified = len(self._alarm_notifications(alarm)) > notified_before
        records = _drain_queue(sqs, url)
        detail_common = (
            f"dead-lettered; DLQ alarm {state_before}->{self._alarm_state(alarm)}"
            f"{' + notification' if notified else ''}"
            + (f" ({already} message(s) were already in the queue)" if already else "")
        )
        rows = []
        for case in cases:
            record = _record_for(case, records)
            if record is None:
                rows.append(Row(case, Observed("lost", detail="not in the dead-letter queue")))
                continue
            error = (record.get("responsePayload") or {}).get("errorType")
            told = notified and (alarm, "ALARM") in transitions
            rows.append(
                Row(
                    case,
                    Observed(
                        ERROR,
                        error=error,
                        notified=told,
                        detail=f"{detail_common}; {record['requestContext']['approximateInvokeCount']} attempts",
                    ),
                )
            )
        return rows

    def _fault(self, case: Case) -> Row:
        assert case.body is not None
        waits = len(self.cloud.retry_waits)
        serving_before = self._serving_package()
        for spec in case.faults:
            self.cloud.inject_fault(spec.service, spec.operation, spec.error_code, times=spec.times, match=spec.match)
        try:
            upload = self.upload(case.key, case.body())
            self.settle()
        finally:
            self.cloud.clear_faults()
        observed = self.observer.observe_upload(upload)
        retried = self.cloud.retry_waits[waits:]
        observed.detail += f"; {len(retried)} state-machine retr{'y' if len(retried) == 1 else 'ies'}"
        if observed.outcome == ERROR:
            still = self._serving_package() == serving_before and serving_before is not None
            observed.detail += "; the champion still serves" if still else "; the endpoint changed"
        return Row(case, observed)

    # -- accounting ---------------------------------------------------------------------------------
    def crashes(self) -> list[str]:
        found = []
        for invocation in self.cloud.lambdas.invocations:
            if invocation["errored"] and not is_named(invocation.get("errorType")):
                found.append(f"lambda {invocation['function']}: {invocation.get('errorType')}")
        for failure in self.cloud.lambdas.async_failures:
            error = (failure.get("responsePayload") or {}).get("errorType")
            if not is_named(error):
                found.append(f"async {failure['function']}: {error}")
        for execution in self.observer.executions():
            if execution["status"] == "FAILED":
                described = self.observer.sfn.describe_execution(executionArn=execution["executionArn"])
                if not is_named(described.get("error")):
                    found.append(f"execution {execution['name']}: {described.get('error')}")
        assert self.cloud.events is not None
        found += [f"eventbridge delivery {failure}" for failure in self.cloud.events.failed]
        found += [f"thread: {error}" for error in self.thread_errors]
        return found

    def lost(self) -> list[str]:
        return [f"{u.key} ({u.version_id})" for u in self.uploads if not self.observer.accounted(u)]

    @contextmanager
    def _thread_errors(self) -> Any:
        previous = threading.excepthook

        def record(args: threading.ExceptHookArgs) -> None:
            self.thread_errors.append(f"{args.exc_type.__name__}: {args.exc_value} in {args.thread}")
            previous(args)

        threading.excepthook = record
        try:
            yield
        finally:
            threading.excepthook = previous

    # -- helpers --------------------------------------------------------------------------------------
    def _dead_letter_alarm(self) -> str:
        for alarm in self.cloud.client("cloudwatch").describe_alarms()["MetricAlarms"]:
            dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
            if alarm.get("Namespace") == "AWS/SQS" and dimensions.get("QueueName") == self.r.dead_letters:
                return str(alarm["AlarmName"])
        raise LookupError(f"no alarm watches the dead-letter queue {self.r.dead_letters}")

    def _alarm_state(self, name: str) -> str:
        return str(self.cloud.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])

    def _alarm_notifications(self, name: str) -> list[dict[str, str]]:
        found = []
        for notification in self.cloud.notifications(self.r.topic):
            try:
                message = json.loads(notification["message"])
            except json.JSONDecodeError:
                continue
            if isinstance(message, dict) and message.get("AlarmName") == name:
                found.append(message)
        return found

    def _serving_package(self) -> str | None:
        sagemaker = self.cloud.client("sagemaker")
        try:
            config = sagemaker.describe_endpoint(EndpointName=self.r.endpoint)["EndpointConfigName"]
        except sagemaker.exceptions.ClientError:
            return None
        variant = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
        model = sagemaker.describe_model(ModelName=variant["ModelName"])
        return str(model["PrimaryContainer"].get("Environment", {}).get("MLOPS_MODEL_PACKAGE_ARN") or model["ModelArn"])

    def clear_dead_letter_alarm(self) -> None:
        """Redrive (here: drop) the dead letters and let the alarm clear a period later."""
        sqs = self.cloud.client("sqs")
        _drain_queue(sqs, sqs.get_queue_url(QueueName=self.r.dead_letters)["QueueUrl"])
        self.cloud.alarms.evaluate(datetime.now(UTC) + timedelta(seconds=301))


def _combined(observed: list[Observed]) -> Observed:
    """Several uploads of one case must all end the same way; the first differing one is shown."""
    first = observed[0]
    for other in observed[1:]:
        if (other.outcome, other.checks, other.error) != (first.outcome, first.checks, first.error):
            return Observed(
                "inconsistent",
                detail=" | ".join(o.describe() for o in observed),
                keys=[k for o in observed for k in o.keys],
            )
    if len(observed) > 1:
        first.detail = " | ".join(o.detail for o in observed)
        first.keys = [k for o in observed for k in o.keys]
    return first


def _drain_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    records = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            try:
                records.append(json.loads(message["Body"]))
            except json.JSONDecodeError:
                records.append({"raw": message["Body"]})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return records


def _record_for(case: Case, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The dead-letter record of a case: its payload carries the case's marker (a key or a tag)."""
    markers = {
        "json-string": "corpus-json-string",
        "truncated-json": "truncated",
        "unknown-event": "unknown-event",
        "malformed-upload-event": "corpus-malformed-event",
        "wrong-types-event": "wrong-types",
        "manual-wrong-types": "manual-wrong-types",
    }
    marker = markers.get(case.name, case.name)
    for record in records:
        if "requestContext" in record and marker in json.dumps(record.get("requestPayload")):
            return record
    return None


def _millis() -> int:
    return int((time.time() - 1) * 1000)
