"""CloudWatch alarm evaluation, which moto never performs.

`AlarmEvaluator.evaluate()` does what CloudWatch does on each evaluation: for every metric alarm it
reads the statistic over the last `EvaluationPeriods` periods, classifies each period as breaching,
not breaching or missing (`TreatMissingData`: missing | notBreaching | breaching | ignore), and moves
the alarm to ALARM when at least `DatapointsToAlarm` periods breach ("M out of N"), to OK when
enough periods are present and fewer breach, and to INSUFFICIENT_DATA when no period has data and
missing data is not treated. A state change is recorded in the alarm's history, emits a
"CloudWatch Alarm State Change" event on the default event bus in AWS's schema, and publishes the
alarm notification to the SNS topics among the state's actions.

Metrics AWS services publish by themselves are published here first, at each evaluation, for the
alarms that read them: SQS's queue gauges (namespace ``AWS/SQS``, dimension ``QueueName``:
``ApproximateNumberOfMessagesVisible``, ``...NotVisible``, ``...Delayed``) from the queues' current
state, so a dead-letter queue's "not empty" alarm fires (and notifies) when an event lands in it.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.cloudwatch.models import cloudwatch_backends
from moto.sqs.models import sqs_backends

from mlops.local.constants import ACCOUNT_ID, REGION

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


@dataclass(frozen=True)
class Transition:
    alarm_name: str
    previous: str
    current: str
    reason: str
    timestamp: str


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def classify_periods(
    values: list[float | None], threshold: float, comparison: str, treat_missing: str
) -> list[bool | None]:
    """Breaching (True), not breaching (False) or missing (None) for each period, oldest first."""
    compare = _COMPARISONS[comparison]
    classified: list[bool | None] = []
    for value in values:
        if value is None:
            classified.append({"breaching": True, "notBreaching": False}.get(treat_missing))
        else:
            classified.append(compare(value, threshold))
    return classified


def next_state(classified: list[bool | None], datapoints_to_alarm: int, current: str, treat_missing: str) -> str:
    """CloudWatch's M-out-of-N decision for one evaluation."""
    present = [c for c in classified if c is not None]
    if sum(1 for c in present if c) >= datapoints_to_alarm:
        return "ALARM"
    if not present:
        return current if treat_missing == "ignore" else "INSUFFICIENT_DATA"
    return "OK"


SQS_NAMESPACE = "AWS/SQS"
# The queue gauges SQS publishes, and how each is read from moto's queue model.
_SQS_GAUGES: dict[str, Callable[[Any], int]] = {
    "ApproximateNumberOfMessagesVisible": lambda queue: int(queue.approximate_number_of_messages),
    "ApproximateNumberOfMessagesNotVisible": lambda queue: int(queue.approximate_number_of_messages_not_visible),
    "ApproximateNumberOfMessagesDelayed": lambda queue: int(queue.approximate_number_of_messages_delayed),
}


def publish_queue_metrics(now: datetime) -> int:
    """Put SQS's gauges of every queue an alarm watches, as SQS itself would; returns how many.

    Written to the CloudWatch backend directly: ``AWS/`` namespaces are the services' own, which
    PutMetricData refuses to callers in AWS.
    """
    backend = cloudwatch_backends[ACCOUNT_ID][REGION]
    watched: set[str] = {
        d.value
        for alarm in list(backend.alarms.values())
        if alarm.namespace == SQS_NAMESPACE
        for d in alarm.dimensions
        if d.name == "QueueName" and d.value
    }
    queues = sqs_backends[ACCOUNT_ID][REGION].queues
    timestamp = now.astimezone(UTC).replace(tzinfo=None)  # moto keeps datapoints in naive UTC
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "QueueName", "Value": name}],
            "Value": float(read(queues[name])),
            "Unit": "Count",
            "Timestamp": timestamp,
        }
        for name in sorted(watched)
        if name in queues
        for metric, read in _SQS_GAUGES.items()
    ]
    if data:
        backend.put_metric_data(SQS_NAMESPACE, data)
    return len(data)


class AlarmEvaluator:
    def __init__(self) -> None:
        self.transitions: list[Transition] = []

    def evaluate(self, now: datetime | None = None, alarm_names: Collection[str] | None = None) -> list[Transition]:
        """Evaluate every metric alarm, or only ``alarm_names`` (what a blue/green bake watches)."""
        now = now or datetime.now(UTC)
        publish_queue_metrics(now)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        changed = []
        for alarm in list(cloudwatch_backends[ACCOUNT_ID][REGION].alarms.values()):
            if alarm_names is not None and alarm.name not in alarm_names:
                continue
            if not alarm.metric_name or not alarm.statistic:
                continue  # metric-math and composite alarms are not evaluated locally
            transition = self._evaluate_one(cloudwatch, alarm, now)
            if transition:
                changed.append(transition)
        self.transitions.extend(changed)
        return changed

    def _evaluate_one(self, cloudwatch: Any, alarm: Any, now: datetime) -> Transition | None:
        periods = int(alarm.evaluation_periods)
        period = int(alarm.period)
        start = now - timedelta(seconds=periods * period)
        datapoints = cloudwatch.get_metric_statistics(
            Namespace=alarm.namespace,
            MetricName=alarm.metric_name,
            Dimensions=[{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
            StartTime=start,
            EndTime=now + timedelta(seconds=1),
            Period=period,
            Statistics=[alarm.statistic],
        )["Datapoints"]
        values: list[float | None] = [None] * periods
        for point in datapoints:
            index = int((point["Timestamp"] - start).total_seconds() // period)
            values[min(max(index, 0), periods - 1)] = point[alarm.statistic]
        treat_missing = alarm.treat_missing_data or "missing"
        classified = classify_periods(values, float(alarm.threshold), alarm.comparison_operator, treat_missing)
        datapoints_to_alarm = int(alarm.datapoints_to_alarm or periods)
        new_state = next_state(classified, datapoints_to_alarm, alarm.state_value, treat_missing)
        if new_state == alarm.state_value:
            return None
        breaching = sum(1 for c in classified if c)
        reason = (
            f"Threshold Crossed: {breaching} out of the last {periods} datapoints "
            f"[{', '.join('missing' if v is None else f'{v:g}' for v in values)}] were "
            f"{'' if new_state == 'ALARM' else 'not '}{alarm.comparison_operator} the threshold ({alarm.threshold:g})."
        )
        reason_data = json.dumps(
            {
                "version": "1.0",
                "queryDate": _timestamp(now),
                "statistic": alarm.statistic,
                "period": period,
                "recentDatapoints": [v for v in values if v is not None],
                "threshold": alarm.threshold,
                "evaluatedDatapoints": len(datapoints),
            }
        )
        previous = {
            "value": alarm.state_value,
            "reason": alarm.state_reason,
            "timestamp": _timestamp(alarm.state_updated_timestamp),
        }
        alarm.update_state(reason, reason_data, new_state)
        transition = Transition(alarm.name, previous["value"], new_state, reason, _timestamp(now))
        self._emit(alarm, previous, now)
        self._notify(alarm, previous["value"], now)
        return transition

    @staticmethod
    def _emit(alarm: Any, previous: dict[str, str], now: datetime) -> None:
        detail = {
            "alarmName": alarm.name,
            "state": {
                "value": alarm.state_value,
                "reason": alarm.state_reason,
                "reasonData": alarm.state_reason_data,
                "timestamp": _timestamp(now),
            },
            "previousState": previous,
            "configuration": {
                "description": alarm.description or "",
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": alarm.namespace,
                                "name": alarm.metric_name,
                                "dimensions": {d.name: d.value for d in alarm.dimensions},
                            },
                            "period": int(alarm.period),
                            "stat": alarm.statistic,
                        },
                        "returnData": True,
                    }
                ],
            },
        }
        boto3.client("events", region_name=REGION).put_events(
            Entries=[
                {
                    "Source": "aws.cloudwatch",
                    "DetailType": "CloudWatch Alarm State Change",
                    "Resources": [alarm.alarm_arn],
                    "Detail": json.dumps(detail),
                    "Time": now,
                }
            ]
        )

    @staticmethod
    def _notify(alarm: Any, previous: str, now: datetime) -> None:
        actions = {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }.get(alarm.state_value) or []
        if not alarm.actions_enabled:
            return
        sns = boto3.client("sns", region_name=REGION)
        message = json.dumps(
            {
                "AlarmName": alarm.name,
                "AlarmDescription": alarm.description,
                "AWSAccountId": ACCOUNT_ID,
                "NewStateValue": alarm.state_value,
                "NewStateReason": alarm.state_reason,
                "StateChangeTime": _timestamp(now),
                "Region": REGION,
                "AlarmArn": alarm.alarm_arn,
                "OldStateValue": previous,
            }
        )
        for action in actions:
            if action.startswith("arn:aws:sns:"):
                sns.publish(TopicArn=action, Subject=f'{alarm.state_value}: "{alarm.name}"'[:100], Message=message)
