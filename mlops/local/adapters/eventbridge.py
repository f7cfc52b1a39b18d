"""EventBridge rules that deliver to Lambda and Step Functions targets, and schedules that fire.

moto matches events against rules but raises NotImplementedError for Lambda and Step Functions
targets (and S3's EventBridge notifications swallow that error, so an upload silently starts
nothing). Here, matched events for those targets are queued and delivered in order by one worker
thread, asynchronously as EventBridge does: Lambda targets are invoked with InvocationType Event,
Step Functions targets start an execution. A delivery that fails goes to the target's dead-letter
queue when it has one. Scheduled rules fire on demand (`fire_schedule`) with AWS's
"Scheduled Event" shape, so a caller decides when an hour has passed.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.events.models import Rule, events_backends
from moto.utilities.arns import parse_arn

from mlops.local.constants import ACCOUNT_ID, REGION

_DIRECT_SERVICES = {"lambda", "states"}


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

    def send_to_targets(self, rule: Rule, event: dict[str, Any], transform_input: bool = True) -> None:
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
            try:
                self._deliver(target, envelope["event"])
                self.delivered.append({"rule": envelope["rule"], "target": target["Arn"]})
            except Exception as error:  # a failed delivery is recorded and dead-lettered, never lost
                record = {"rule": envelope["rule"], "target": target["Arn"], "error": str(error)}
                self.failed.append(record)
                self._dead_letter(target, envelope["event"], error)

    @staticmethod
    def _deliver(target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = parse_arn(target["Arn"])
        if arn.service == "lambda":
            client = boto3.client("lambda", region_name=REGION)
            response = client.invoke(
                FunctionName=target["Arn"], InvocationType="Event", Payload=json.dumps(event).encode("utf-8")
            )
            if response.get("FunctionError"):
                raise RuntimeError(response["Payload"].read().decode("utf-8"))
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


_ORIGINAL_SEND = Rule.send_to_targets


def install(delivery: EventDelivery) -> None:
    Rule.send_to_targets = lambda self, event, transform_input=True: delivery.send_to_targets(
        self, event, transform_input
    )


def uninstall() -> None:
    Rule.send_to_targets = _ORIGINAL_SEND
