"""EventBridge rules that deliver to Lambda and Step Functions targets, and schedules that fire.

moto matches events against rules but raises NotImplementedError for Lambda and Step Functions
targets (and S3's EventBridge notifications swallow that error, so an upload silently starts
nothing). Here, matched events for those targets are queued and delivered in order by one worker
thread, asynchronously as EventBridge does: Lambda targets are invoked with InvocationType Event,
Step Functions targets start an execution. Scheduled rules fire on demand (`fire_schedule`) with
AWS's "Scheduled Event" shape, so a caller decides when an hour has passed.

A delivery that fails (the Invoke or StartExecution call itself, e.g. throttled past the SDK's
retries) is retried up to the target's ``RetryPolicy.MaximumRetryAttempts`` (without EventBridge's
waits), then goes to the target's dead-letter queue. A Lambda target that accepted the event but
fails it is Lambda's business, as in AWS: the runtime retries the asynchronous invocation and sends
it to the function's on-failure destination (`mlops.local.adapters.lambda_runtime`).
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto.events.models import Rule, events_backends
from moto.utilities.arns import parse_arn

from mlops.local.adapters.patches import PatchPoint, PatchSet
from mlops.local.constants import ACCOUNT_ID, REGION

_DIRECT_SERVICES = {"lambda", "states"}
_MAX_DELIVERY_RETRIES = 185  # EventBridge's default RetryPolicy.MaximumRetryAttempts


def _iso(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


class EventDelivery:
    """Delivers matched events to Lambda and Step Functions targets on a worker thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="eventbridge-delivery", daemon=True)
        self._worker.start()
        self.delivered: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []

    def send_to_targets(self, rule: Rule, event: Any, transform_input: bool = True) -> None:
        if rule.scheduled_expression and not rule.event_pattern._raw_pattern:
            return  # a schedule-only rule matches no events (moto's empty pattern would match all)
        direct = [t for t in rule.targets if parse_arn(t["Arn"]).service in _DIRECT_SERVICES]
        others = [t for t in rule.targets if t not in direct]
        if others:
            rule.targets = others
            try:
                _ORIGINAL_SEND(rule, event, transform_input)
            finally:
                rule.targets = others + direct
        if not direct or not rule.event_pattern.matches_event(event):
            return
        event = {**event, "time": _iso(event.get("time", datetime.now(UTC).timestamp()))}
        for target in direct:
            payload = json.loads(target["Input"]) if target.get("Input") else event
            self._queue.put((target, {"rule": rule.name, "event": payload}))

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until every queued event has been delivered."""
        done = threading.Event()
        self._queue.put(({"Arn": "__marker__"}, {"done": done}))
        if not done.wait(timeout):
            raise TimeoutError("EventBridge deliveries did not finish in time")

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            target, envelope = item
            if target["Arn"] == "__marker__":
                envelope["done"].set()
                continue
            record = {"rule": envelope["rule"], "target": target["Arn"]}
            try:
                self._deliver_with_retries(target, envelope["event"])
                self.delivered.append(record)
            except Exception as error:  # a delivery EventBridge could not make: the target's DLQ
                self.failed.append({**record, "error": str(error)})
                self._dead_letter(target, envelope["event"], error)

    def _deliver_with_retries(self, target: dict[str, Any], event: dict[str, Any]) -> None:
        policy = target.get("RetryPolicy") or {}
        retries = min(int(policy.get("MaximumRetryAttempts", _MAX_DELIVERY_RETRIES)), _MAX_DELIVERY_RETRIES)
        for attempt in range(retries + 1):
            try:
                self._deliver(target, event)
                return
            except ClientError as error:
                if attempt == retries or not _retryable(error):
                    raise

    @staticmethod
    def _deliver(target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = parse_arn(target["Arn"])
        if arn.service == "lambda":
            # InvocationType Event: a function error is retried and dead-lettered by Lambda itself.
            boto3.client("lambda", region_name=REGION).invoke(
                FunctionName=target["Arn"], InvocationType="Event", Payload=json.dumps(event).encode("utf-8")
            )
        else:
            # EventBridge names each execution itself (moto would name every one "None").
            boto3.client("stepfunctions", region_name=REGION).start_execution(
                stateMachineArn=target["Arn"], name=uuid.uuid4().hex, input=json.dumps(event)
            )

    @staticmethod
    def _dead_letter(target: dict[str, Any], event: dict[str, Any], error: Exception) -> None:
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            return
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.get_queue_url(QueueName=parse_arn(dlq).resource_id)["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(event),
            MessageAttributes={"ERROR_MESSAGE": {"DataType": "String", "StringValue": str(error)[:1000]}},
        )

    # -- schedules ------------------------------------------------------------------------------
    def fire_schedule(self, rule_name: str) -> None:
        """Deliver the event a scheduled rule emits when its time comes."""
        backend = events_backends[ACCOUNT_ID][REGION]
        rule = backend.describe_rule(rule_name, None)
        if not rule.scheduled_expression:
            raise ValueError(f"rule {rule_name} has no schedule")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [rule.arn],
            "detail": {},
        }
        for target in rule.targets:
            payload = json.loads(target["Input"]) if target.get("Input") else event
            self._queue.put((target, {"rule": rule.name, "event": payload}))


def _retryable(error: ClientError) -> bool:
    """Throttling and server errors, which EventBridge retries; a refused request is final."""
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    code = error.response.get("Error", {}).get("Code", "")
    return status >= 500 or status == 429 or "Throttl" in code or code == "TooManyRequestsException"


_ORIGINAL_SEND: Any = Rule.send_to_targets
SEND_TO_TARGETS = PatchPoint(Rule, "send_to_targets", "Lambda and Step Functions targets are delivered in-process")
PATCH_POINTS = (SEND_TO_TARGETS,)
_active: PatchSet | None = None


def install(delivery: EventDelivery) -> None:
    """Deliver matched events through ``delivery`` (a second install replaces the first)."""
    global _active
    uninstall()
    _active = PatchSet(
        [
            (
                SEND_TO_TARGETS,
                lambda self, event, transform_input=True: delivery.send_to_targets(self, event, transform_input),
            )
        ]
    )
    _active.install()


def uninstall() -> None:
    global _active
    if _active is not None:
        _active.uninstall()
        _active = None
