"""The served local cloud's own clock: schedules fire and alarms are evaluated, by themselves and on a tick.

A hand-made account (a state machine, a 10-minute schedule rule targeting it, one alarm), so each
rule of `mlops.local.scheduler` is pinned down in seconds: firings at their moments, CloudWatch's
minute-by-minute evaluation, no jump while a run is in flight, the fast clock running by itself,
and the `/_mlops/` control routes beside the AWS API on the same port.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from mlops.local.clock import VirtualClock
from mlops.local.cloud import LocalCloud
from mlops.local.scheduler import Scheduler
from mlops.local.server import ControlError, call

ROLE = "arn:aws:iam::123456789012:role/toy"
RULE = "every-ten-minutes"
ALARM = "toy-alarm"
WAIT_SECONDS = 2


@pytest.fixture
def account(tmp_path) -> Iterator[tuple[LocalCloud, VirtualClock]]:
    with LocalCloud(tmp_path, server_port=0) as cloud, VirtualClock(datetime.now(UTC)) as clock:
        sfn, events, cloudwatch = cloud.client("stepfunctions"), cloud.client("events"), cloud.client("cloudwatch")
        machine = sfn.create_state_machine(
            name="toy",
            roleArn=ROLE,
            definition=json.dumps(
                {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": WAIT_SECONDS, "End": True}}}
            ),
        )["stateMachineArn"]
        events.put_rule(Name=RULE, ScheduleExpression="rate(10 minutes)", State="ENABLED")
        events.put_targets(Rule=RULE, Targets=[{"Id": "machine", "Arn": machine, "RoleArn": ROLE}])
        events.put_rule(Name="never", ScheduleExpression="cron(0 12 * * ? *)", State="ENABLED")
        events.put_rule(Name="off", ScheduleExpression="rate(1 minute)", State="DISABLED")
        cloudwatch.put_metric_alarm(
            AlarmName=ALARM,
            Namespace="Toy",
            MetricName="Drift",
            Dimensions=[{"Name": "Model", "Value": "toy"}],
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
        yield cloud, clock


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _breach(cloud: LocalCloud) -> None:
    cloud.client("cloudwatch").put_metric_data(
        Namespace="Toy",
        MetricData=[{"MetricName": "Drift", "Dimensions": [{"Name": "Model", "Value": "toy"}], "Value": 1.0}],
    )


def test_a_tick_fires_each_schedule_at_its_moment_and_never_jumps_under_a_run(account):
    cloud, clock = account
    scheduler = Scheduler(cloud, clock, mode="manual")
    status = scheduler.status()
    assert [s["rule"] for s in status["schedules"]] == [RULE]
    assert status["notScheduled"] == {"never": "cron(0 12 * * ? *): only rate(...) schedules fire locally"}

    first_due = _moment(status["schedules"][0]["nextDue"])
    start = clock.now()
    assert timedelta(minutes=9) < first_due - start <= timedelta(minutes=10)
    report = scheduler.advance(timedelta(minutes=35))

    assert len(report.fired) == 3 and {f["rule"] for f in report.fired} == {RULE}
    for number, fired in enumerate(report.fired):
        late = _moment(fired["at"]) - (first_due + timedelta(minutes=10 * number))
        assert timedelta(0) <= late < timedelta(seconds=30)  # at its moment (stamps are whole seconds)
    assert clock.now() - start >= timedelta(minutes=35)
    executions = cloud.executions()
    assert len(executions) == 3 and len(report.executions) == 3
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    for execution in cloud.client("stepfunctions").list_executions(stateMachineArn=executions[0]["stateMachineArn"])[
        "executions"
    ]:
        # the clock waited for each run: its Wait state took its real seconds, not ten minutes
        assert timedelta(seconds=WAIT_SECONDS) <= execution["stopDate"] - execution["startDate"] < timedelta(minutes=1)
    assert scheduler.until_next_schedule() <= timedelta(minutes=10)


def test_alarms_are_evaluated_every_minute_on_the_way(account):
    cloud, clock = account
    scheduler = Scheduler(cloud, clock, mode="manual")
    quiet = scheduler.advance(timedelta(minutes=1))  # no data, not breaching: OK stays OK
    assert quiet.transitions == [] and quiet.quiet

    _breach(cloud)
    breached = scheduler.advance(timedelta(minutes=1))
    assert [(t["alarm"], t["from"], t["to"]) for t in breached.transitions] == [(ALARM, "OK", "ALARM")]
    assert cloud.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"] == "ALARM"

    # the datapoint leaves the alarm's five-minute period: missing data is not breaching
    recovered = scheduler.advance(timedelta(minutes=8))
    [back] = recovered.transitions
    assert (back["from"], back["to"]) == ("ALARM", "OK")
    assert timedelta(minutes=4) <= _moment(back["at"]) - _moment(breached.transitions[0]["at"]) <= timedelta(minutes=6)


def test_the_fast_clock_runs_by_itself(account):
    cloud, clock = account
    reports = []
    scheduler = Scheduler(cloud, clock, mode="fast", speed=1200.0, on_report=reports.append)
    start = clock.now()
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while not cloud.executions() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        scheduler.stop()
    assert cloud.executions(), "the schedule never fired by itself"
    assert clock.now() - start >= timedelta(minutes=10)
    assert any(r.fired for r in reports)


def test_the_real_clock_fires_nothing_before_its_time(account):
    cloud, clock = account
    scheduler = Scheduler(cloud, clock, mode="real")
    scheduler.start()
    time.sleep(1.5)
    scheduler.stop()
    assert cloud.executions() == [] and clock.jumped == timedelta(0)


def test_bad_clock_settings_are_refused(account):
    cloud, clock = account
    with pytest.raises(ValueError, match="clock mode"):
        Scheduler(cloud, clock, mode="slow")
    with pytest.raises(ValueError, match="above 1"):
        Scheduler(cloud, clock, mode="fast", speed=1)
    with pytest.raises(ValueError, match="forward"):
        Scheduler(cloud, clock).advance(timedelta(minutes=-1))


def test_the_control_routes_share_the_port_with_the_aws_api(account):
    cloud, clock = account
    assert cloud.server is not None and cloud.endpoint_url is not None
    scheduler = Scheduler(cloud, clock, mode="manual")
    scheduler.serve_on(cloud.server)
    url = cloud.endpoint_url
    assert int(url.rsplit(":", 1)[1]) > 0

    status = call(url, "GET", "clock")
    assert status["mode"] == "manual" and status["schedules"][0]["rule"] == RULE

    answer = call(url, "POST", "tick", {})  # without minutes: up to the next scheduled rule
    assert [f["rule"] for f in answer["fired"]] == [RULE]
    assert len(answer["executionsStarted"]) == 1 and answer["clock"]["now"] >= answer["to"]

    for body, status_code in (({"minutes": "ten"}, 400), ({"minutes": -5}, 400), ({"minutes": 60 * 24 * 8}, 400)):
        with pytest.raises(ControlError) as refused:
            call(url, "POST", "tick", body)
        assert refused.value.status == status_code
    with pytest.raises(ControlError) as unknown:
        call(url, "GET", "nothing-here")
    assert unknown.value.status == 404
    with pytest.raises(ControlError) as wrong_method:
        call(url, "GET", "tick")
    assert wrong_method.value.status == 405

    remote = boto3.client(
        "events", region_name="us-east-1", endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x"
    )
    assert RULE in {rule["Name"] for rule in remote.list_rules()["Rules"]}


def test_an_unreachable_local_cloud_is_named():
    with pytest.raises(ControlError, match="is `mlops local up` running"):
        call("http://127.0.0.1:9", "GET", "clock", timeout=2)
