"""What AWS does on its own clock, for a served local cloud: scheduled rules fire, alarms are evaluated.

moto stores EventBridge schedules and CloudWatch alarms but never acts on them. In-process, the demo
and the backtest fire them at moments they choose (`LocalCloud.fire_schedule`,
`LocalCloud.evaluate_alarms`); a served local cloud (`mlops local up`) has nobody doing that, so
`Scheduler` does what the two services do by themselves:

- every ENABLED rule with a `rate(...)` schedule fires once per period, the first time one period
  after the scheduler first saw the rule (EventBridge counts from the rule's creation), with AWS's
  "Scheduled Event" shape; a `cron(...)` rule is reported as not scheduled (`status()`), since
  nothing the app deploys uses one;
- CloudWatch evaluates every metric alarm once a minute, on the minute; a state change emits its
  EventBridge event and notifies its SNS actions (`mlops.local.adapters.alarms`).

Time is the process-wide `VirtualClock` (`mlops.local.clock`), so S3, CloudWatch, Step Functions and
the Lambdas all see the same moment. Three modes (`mlops local up --clock`):

- `real`: the clock is the wall clock; a 60-minute schedule fires after 60 minutes;
- `fast`: while nothing is in flight (every event delivered, no execution RUNNING) the clock runs
  `speed` times faster, at real speed while something is: a run's steps keep their real durations
  and the clock never jumps under a training job or a Wait state;
- `manual`: nothing fires by itself.

In every mode `advance(delta)` (`POST /_mlops/tick` on the server's port, `mlops local tick`) moves
the clock forward in steps: to each moment something is due (a schedule's next firing, the next
minute's alarm evaluation), firing it there, after waiting until every event has been delivered
and no execution is RUNNING. It returns once the runs it started have finished, with what fired,
the alarm transitions and the executions that started.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops.deploy.facts import FactsError, schedule_minutes
from mlops.local.adapters.code_loader import EXECUTION_LOCK
from mlops.local.clock import VirtualClock
from mlops.local.constants import CLOCK_MODES

if TYPE_CHECKING:
    from mlops.local.cloud import LocalCloud
    from mlops.local.server import LocalServer

__all__ = ["ALARM_INTERVAL", "CLOCK_MODES", "MAX_TICK", "Scheduler", "TickReport"]

ALARM_INTERVAL = timedelta(minutes=1)  # CloudWatch evaluates an alarm every minute
# A tick steps minute by minute through its span, each step evaluating every alarm as CloudWatch
# does (about 0.1 s a step with the app's eight alarms: an hour takes ~5 s, a week ~15 min).
MAX_TICK = timedelta(days=7)
_LOOP_SECONDS = 1.0
_LOG = logging.getLogger(__name__)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + ALARM_INTERVAL


@dataclass
class _Schedule:
    rule: str
    expression: str
    every: timedelta
    next_due: datetime


@dataclass
class TickReport:
    """What one step of the clock did (a tick, or what the running clock fired by itself)."""

    started: datetime
    ended: datetime | None = None
    fired: list[dict[str, str]] = field(default_factory=list)  # {"rule", "at"}
    transitions: list[dict[str, str]] = field(default_factory=list)  # {"alarm", "from", "to", "at"}
    executions: list[dict[str, str]] = field(default_factory=list)  # {"name", "at"}: the executions that started

    @property
    def quiet(self) -> bool:
        return not (self.fired or self.transitions or self.executions)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": _iso(self.started),
            "to": _iso(self.ended or self.started),
            "fired": self.fired,
            "alarmTransitions": self.transitions,
            "executionsStarted": self.executions,
        }


class Scheduler:
    """EventBridge's schedules and CloudWatch's alarm evaluations on the local cloud's clock."""

    def __init__(
        self,
        cloud: LocalCloud,
        clock: VirtualClock,
        *,
        mode: str = "real",
        speed: float = 60.0,
        run_timeout: float = 3600.0,
        on_report: Callable[[TickReport], None] | None = None,
    ) -> None:
        if mode not in CLOCK_MODES:
            raise ValueError(f"clock mode must be one of {', '.join(CLOCK_MODES)}, not {mode!r}")
        if mode == "fast" and not (math.isfinite(speed) and speed > 1):
            raise ValueError(f"the fast clock's speed must be a number above 1, not {speed!r}")
        self.cloud = cloud
        self.clock = clock
        self.mode = mode
        self.speed = speed
        self._run_timeout = run_timeout
        self._on_report = on_report
        self._lock = threading.RLock()  # one step of the clock at a time (tick, background)
        self._schedules: dict[str, _Schedule] = {}
        self._unscheduled: dict[str, str] = {}
        self._reported: set[str] = set()  # executions already named in a report
        self._next_evaluation = _next_minute(clock.now())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with EXECUTION_LOCK:  # creating a client reads os.environ, which an in-process handler may hold
            self._events = cloud.client("events")
        self.refresh()

    # -- what is scheduled ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Pick up scheduled rules created, changed, disabled or deleted since the last look."""
        now = self.clock.now()
        found: dict[str, str] = {}
        for page in self._events.get_paginator("list_rules").paginate():
            for rule in page.get("Rules", []):
                if rule.get("ScheduleExpression") and rule.get("State", "ENABLED") == "ENABLED":
                    found[rule["Name"]] = rule["ScheduleExpression"]
        with self._lock:
            for name in [n for n in self._schedules if n not in found]:
                del self._schedules[name]
            self._unscheduled = {n: why for n, why in self._unscheduled.items() if n in found}
            for name, expression in found.items():
                known = self._schedules.get(name)
                if (known is not None and known.expression == expression) or name in self._unscheduled:
                    continue
                try:
                    every = timedelta(minutes=schedule_minutes(expression))
                except FactsError:
                    self._unscheduled[name] = f"{expression}: only rate(...) schedules fire locally"
                    self._schedules.pop(name, None)
                    continue
                self._schedules[name] = _Schedule(name, expression, every, now + every)

    def status(self) -> dict[str, Any]:
        """The clock and what is due next (read without waiting for a step in progress)."""
        schedules = sorted(self._schedules.values(), key=lambda s: (s.next_due, s.rule))
        return {
            "now": _iso(self.clock.now()),
            "mode": self.mode,
            **({"speed": self.speed} if self.mode == "fast" else {}),
            "jumpedSeconds": round(self.clock.jumped.total_seconds()),
            "nextAlarmEvaluation": _iso(self._next_evaluation),
            "schedules": [{"rule": s.rule, "expression": s.expression, "nextDue": _iso(s.next_due)} for s in schedules],
            "notScheduled": dict(self._unscheduled),
        }

    def until_next_schedule(self) -> timedelta:
        """How far the clock must move for the next scheduled rule to fire."""
        with self._lock:
            if not self._schedules:
                raise ValueError("no scheduled rule is deployed: say how far to move (minutes)")
            due = min(s.next_due for s in self._schedules.values())
        return max(timedelta(0), due - self.clock.now())

    # -- moving the clock ----------------------------------------------------------------------
    def catch_up(self) -> TickReport:
        """Fire what has come due by now (the clock's own flow; nothing jumps)."""
        self.refresh()
        with self._lock:
            report = TickReport(started=self.clock.now())
            self._fire_due(report)
            report.ended = self.clock.now()
        self._publish(report)
        return report

    def advance(self, delta: timedelta) -> TickReport:
        """Move the clock forward by `delta`, firing everything due on the way at its moment."""
        if delta < timedelta(0):
            raise ValueError(f"the clock only moves forward, not by {delta}")
        if delta > MAX_TICK:
            raise ValueError(f"one tick moves the clock {MAX_TICK.days} days at most, not {delta}")
        self.refresh()
        with self._lock:
            report = TickReport(started=self.clock.now())
            target = report.started + delta
            self._fire_due(report)  # what was already due goes first
            while (moment := self._next_moment()) <= target:
                self.cloud.wait_for_runs(self._run_timeout)  # never jump under a run in flight
                self.clock.advance_to(moment)
                self._fire_due(report)
            self.cloud.wait_for_runs(self._run_timeout)
            self.clock.advance_to(target)
            report.ended = self.clock.now()
        self._publish(report)
        return report

    def _next_moment(self) -> datetime:
        return min([s.next_due for s in self._schedules.values()] + [self._next_evaluation])

    def _fire_due(self, report: TickReport) -> None:
        now = self.clock.now()
        due = sorted((s for s in self._schedules.values() if s.next_due <= now), key=lambda s: (s.next_due, s.rule))
        for schedule in due:
            self.cloud.fire_schedule(schedule.rule)  # delivered before the alarms look at the metrics
            report.fired.append({"rule": schedule.rule, "at": _iso(now)})
            missed = (now - schedule.next_due) // schedule.every  # EventBridge does not fire twice to catch up
            schedule.next_due += schedule.every * (missed + 1)
        transitions = []
        if self._next_evaluation <= now:
            transitions = self.cloud.evaluate_alarms(now)
            self._next_evaluation = _next_minute(now)
        report.transitions.extend(
            {"alarm": t.alarm_name, "from": t.previous, "to": t.current, "at": _iso(now)} for t in transitions
        )
        if due or transitions:  # only a delivery (a schedule, an alarm's event) starts a run from here
            self._note_executions(report, since=now)

    def _note_executions(self, report: TickReport, since: datetime) -> None:
        """Executions that started since `since` (virtual time), each reported once."""
        fresh = [
            e
            for e in self.cloud.executions()
            if e["startDate"] >= since - timedelta(seconds=1) and e["executionArn"] not in self._reported
        ]
        for execution in sorted(fresh, key=lambda e: e["startDate"]):
            self._reported.add(execution["executionArn"])
            report.executions.append({"name": execution["name"], "at": _iso(execution["startDate"])})

    def _publish(self, report: TickReport) -> None:
        if self._on_report is not None and not report.quiet:
            self._on_report(report)

    # -- running by itself ---------------------------------------------------------------------
    def start(self) -> None:
        """Run the clock's own flow on a thread (nothing to run for the manual clock)."""
        if self.mode == "manual" or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="local-cloud-clock", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the clock's own flow (a step waiting for a long run is left to end with the process)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _run(self) -> None:
        rested = time.monotonic()
        while not self._stop.wait(_LOOP_SECONDS):
            # Only the time spent resting between steps is accelerated: a step that waited for a run
            # to finish (the run's real duration) is not counted again.
            elapsed = time.monotonic() - rested
            try:
                if self.mode == "fast" and self._idle():
                    self.advance(timedelta(seconds=elapsed * (self.speed - 1)))
                else:
                    self.catch_up()
            except Exception:  # the clock keeps running; the next step tries again
                _LOG.exception("the local cloud's clock failed a step")
            rested = time.monotonic()

    def _idle(self) -> bool:
        self.cloud.drain_events()
        return not self.cloud.executions("RUNNING")

    # -- served ----------------------------------------------------------------------------------
    def serve_on(self, server: LocalServer) -> None:
        """`GET /_mlops/clock` (the status) and `POST /_mlops/tick` (`{"minutes": N}`; without
        minutes, to the next scheduled rule) on the local cloud's port."""
        server.route("GET", "clock", lambda _body: (200, self.status()))
        server.route("POST", "tick", self._tick_request)

    def _tick_request(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        minutes = body.get("minutes")
        try:
            if minutes is None:
                delta = self.until_next_schedule()
            elif isinstance(minutes, bool) or not isinstance(minutes, int | float) or not math.isfinite(minutes):
                raise ValueError(f"minutes must be a number, not {minutes!r}")
            else:
                delta = timedelta(minutes=minutes)
            report = self.advance(delta)
        except ValueError as error:
            return 400, {"error": str(error)}
        except TimeoutError as error:
            return 504, {"error": str(error)}
        return 200, {**report.to_json(), "clock": self.status()}
