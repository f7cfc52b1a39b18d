"""The monthly cost of a synthesized stage: template facts + usage assumptions + prices -> line items.

``estimate_cost`` is pure — no synthesis, no AWS, no file — so a hand-computed example can pin
every line to the cent, and the same arithmetic prices any stage in any priced region. The
templates say *what* exists (functions and their memory, schedules, the state machine's paths,
instance types and counts, alarms, dashboards, keys); the assumptions say *how much it is used*
(uploads, rows, predictions, label files, alarm-driven retrainings), each with a documented default.

Where a quantity is uncertain the model takes the upper bound and says so: every execution started
by an upload trains and deploys (when uploads retrain), every drift run publishes the full set of
metrics, every prediction is captured (per the sampling percentage) and later labelled.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal

from mlops.deploy.facts import FunctionFacts, StageFacts
from mlops.deploy.prices import RegionPrices

__all__ = [
    "MEASURED_TRAINING_SECONDS_PER_ROW",
    "NOT_PRICED",
    "Assumptions",
    "CostEstimate",
    "LineItem",
    "Volumes",
    "estimate_cost",
    "format_estimate",
]

# `python -m pipelines.train` on data/ai4i2020.csv (10,000 rows, hist_gradient_boosting, the default
# hyperparameters) took 14.6 to 17.5 s on 2 vCPUs when the machine was otherwise idle: 1.46 ms a row
# for the whole job (3-fold threshold search, holdout scoring, permutation importance, baseline),
# rounded up. ml.m5.large has 2 vCPUs as well. 5,000 rows took 11.1 s: part of it is fixed, so
# the per-row figure overstates small jobs and is about right from the AI4I size up.
MEASURED_TRAINING_SECONDS_PER_ROW = 0.0015
GIB = 1024**3

# S3 requests per event, from what the handlers and SageMaker read and write (docs/ARCHITECTURE.md,
# "S3 layout"). PUT-class prices apply to PUT, COPY, POST and LIST; GET-class to GET and HEAD.
UPLOAD_PUTS = 3  # the upload, the curated batch's data.csv and validation.json
UPLOAD_GETS = 1  # validate reads the upload
TRAINING_PUTS = 8  # plan.json, train.manifest, state.json, model.tar.gz, output.tar.gz, 3 reports
TRAINING_GETS = 10  # batch files, plan, champion model, reports read by evaluate and register
TRAINING_LISTS = 1  # plan lists the batches
DRIFT_PUTS = 3  # report.json, report.html, state.json
DRIFT_GETS_BESIDES_CAPTURE = 2  # the baseline and state.json
LABEL_PUTS = 5  # the label file, the feedback CSV, its batch's data.csv and validation.json, the quality report
LABEL_GETS_BESIDES_CAPTURE = 2  # the label file and the serving model's metrics.json

NOT_PRICED = (
    "EventBridge: events from AWS services and scheduled rules are free",
    "SQS dead-letter queues: empty unless deliveries fail",
    "free tiers (they belong to the account, not to this stack), data transfer out, KMS requests, "
    "S3 server access logs, SageMaker ML storage volumes",
)


@dataclass(frozen=True)
class Assumptions:
    """How much the stage is used, and the per-event sizes behind the usage-driven lines.

    The first five are the workload (``mlops cost`` takes them as options); the rest are
    measurements or documented estimates that rarely need changing.
    """

    uploads_per_day: float = 1.0
    rows: int = 10_000  # rows of each uploaded file and of each training run (the AI4I data)
    predictions_per_day: float = 10_000.0
    label_files_per_day: float = 1.0  # ground-truth files; each labels the predictions since the last
    alarm_retrains_per_month: float = 2.0  # retrainings started by the drift or quality alarm
    training_seconds_per_row: float = MEASURED_TRAINING_SECONDS_PER_ROW
    # SageMaker bills from the instance being ready to the job's end: data download, container
    # start, model upload. An estimate for a small script-mode job; DescribeTrainingJob's
    # BillableTimeInSeconds minus the script's own time measures it.
    training_overhead_seconds: float = 90.0
    lambda_seconds: float = 2.0  # mean billed duration of one invocation (estimate, cold starts included)
    endpoint_deploy_minutes: float = 8.0  # CreateEndpoint/UpdateEndpoint to InService (typical)
    bytes_per_row: float = 51.0  # data/ai4i2020.csv: 508,146 bytes / 10,000 rows
    capture_bytes_per_prediction: float = 600.0  # one JSON line of SageMaker's capture format
    response_bytes_per_prediction: float = 20.0
    label_bytes_per_prediction: float = 40.0  # "inferenceId,label" with a UUID
    capture_objects_per_hour: float = 60.0  # per endpoint instance while traffic flows
    artifact_kb_per_training: float = 250.0  # model.tar.gz, output.tar.gz, reports (measured ~215 KB raw)
    drift_report_kb: float = 100.0  # report.json + report.html of one run
    lambda_log_kb_per_invocation: float = 2.0
    transition_log_kb: float = 1.0  # Step Functions logging at level ALL, without execution data
    training_log_kb: float = 10.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{item.name}: expected a non-negative number, got {value!r}")


@dataclass(frozen=True)
class Volumes:
    """The month's usage the line items price, derived from the facts and the assumptions."""

    hours: float
    uploads: float
    label_files: float
    predictions: float
    executions: float
    alarm_retrains: float
    training_runs: float
    skip_runs: float
    drift_runs: float
    transitions: float
    training_seconds_per_run: float
    invocations: Mapping[str, float] = field(default_factory=dict)  # FunctionFacts.key -> per month
    state_machine_invocations: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LineItem:
    """One priced quantity: ``quantity / per * price``, rounded half-up to the cent."""

    service: str
    item: str
    quantity: float
    unit: str
    price: float
    per: float = 1.0

    @property
    def exact(self) -> float:
        return self.quantity / self.per * self.price

    @property
    def cost(self) -> Decimal:
        return Decimal(repr(self.exact)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CostEstimate:
    region: str
    items: tuple[LineItem, ...]
    volumes: Volumes

    @property
    def total(self) -> Decimal:
        """The sum of the rounded line items, so that the printed table adds up."""
        return sum((item.cost for item in self.items), Decimal("0.00"))

    def by_service(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for item in self.items:
            totals[item.service] = totals.get(item.service, Decimal("0.00")) + item.cost
        return dict(sorted(totals.items(), key=lambda pair: (-pair[1], pair[0])))


def estimate_cost(
    facts: StageFacts, assumptions: Assumptions, prices: RegionPrices, *, hours_per_month: float = 730.0
) -> CostEstimate:
    """The month's line items for ``facts`` under ``assumptions`` at ``prices`` (pure)."""
    volumes = _volumes(facts, assumptions, hours_per_month)
    items = [
        *_sagemaker(facts, assumptions, prices, volumes),
        *_lambda(facts, assumptions, prices, volumes),
        *_step_functions(prices, volumes),
        *_s3(facts, assumptions, prices, volumes),
        *_cloudwatch(facts, assumptions, prices, volumes),
        *_sns(facts, prices, volumes),
        *_kms(facts, prices),
        *_xray(facts, prices, volumes),
    ]
    return CostEstimate(region=prices.region, items=tuple(items), volumes=volumes)


def _volumes(facts: StageFacts, a: Assumptions, hours: float) -> Volumes:
    days = hours / 24
    uploads = a.uploads_per_day * days
    retrains = a.alarm_retrains_per_month
    pipeline = facts.pipeline
    executions = uploads + retrains
    training_runs = executions if pipeline.skip is None or facts.retrain_on_upload else retrains
    skip_runs = executions - training_runs
    label_files = a.label_files_per_day * days
    invocations: dict[str, float] = {}
    from_state_machine: dict[str, float] = {}
    for function in facts.functions:
        by_execution = pipeline.deploy.lambda_calls.get(function.key, 0) * training_runs
        if pipeline.skip is not None:
            by_execution += pipeline.skip.lambda_calls.get(function.key, 0) * skip_runs
        from_state_machine[function.key] = by_execution
        invocations[function.key] = (
            by_execution
            + function.scheduled_runs_per_hour * hours
            + function.upload_rules * uploads
            + function.label_rules * label_files
            + (retrains if function.alarm_rules else 0.0)  # one alarm event starts each such retraining
        )
    polls = sum(
        math.ceil(a.endpoint_deploy_minutes * 60 / loop.wait_seconds) * loop.states_per_poll
        for loop in pipeline.wait_loops
        if loop.wait_seconds > 0
    )
    transitions = training_runs * (pipeline.deploy.transitions + polls)
    if pipeline.skip is not None:
        transitions += skip_runs * pipeline.skip.transitions
    return Volumes(
        hours=hours,
        uploads=uploads,
        label_files=label_files,
        predictions=a.predictions_per_day * days,
        executions=executions,
        alarm_retrains=retrains,
        training_runs=training_runs,
        skip_runs=skip_runs,
        drift_runs=facts.function(facts.drift_function).scheduled_runs_per_hour * hours,
        transitions=transitions,
        training_seconds_per_run=a.training_overhead_seconds + a.rows * a.training_seconds_per_row,
        invocations=invocations,
        state_machine_invocations=from_state_machine,
    )


def _sagemaker(facts: StageFacts, a: Assumptions, p: RegionPrices, v: Volumes) -> Iterable[LineItem]:
    training = facts.pipeline.training
    yield LineItem(
        "SageMaker",
        f"training {training.instance_type} x{training.count}, "
        f"{v.training_runs:.1f} runs x {v.training_seconds_per_run:.0f} s",
        v.training_runs * v.training_seconds_per_run * training.count / 3600,
        "instance-h",
        p.training_hour(training.instance_type),
    )
    deploys = v.training_runs if facts.pipeline.deploy.deploys else 0.0
    for variant in facts.pipeline.endpoint:
        price = p.hosting_hour(variant.instance_type)
        yield LineItem(
            "SageMaker",
            f"endpoint {variant.instance_type} x{variant.count}, always on",
            v.hours * variant.count,
            "instance-h",
            price,
        )
        # UpdateEndpoint is blue/green: the new fleet runs beside the old one until it is InService.
        yield LineItem(
            "SageMaker",
            f"endpoint {variant.instance_type} x{variant.count}, blue/green overlap",
            deploys * a.endpoint_deploy_minutes / 60 * variant.count,
            "instance-h",
            price,
        )
    processed = v.predictions * (a.bytes_per_row + a.response_bytes_per_prediction) / GIB
    yield LineItem("SageMaker", "endpoint data processed, in + out", processed, "GB", p.sagemaker_data_processed_per_gb)


def _lambda(facts: StageFacts, a: Assumptions, p: RegionPrices, v: Volumes) -> Iterable[LineItem]:
    yield LineItem(
        "Lambda",
        f"requests, {len(facts.functions)} functions",
        sum(v.invocations.values()),
        "requests",
        p.lambda_requests_per_million,
        1e6,
    )
    by_architecture: dict[str, float] = {}
    for function in facts.functions:
        gb_seconds = v.invocations[function.key] * a.lambda_seconds * function.memory_mb / 1024
        by_architecture[function.architecture] = by_architecture.get(function.architecture, 0.0) + gb_seconds
    for architecture, gb_seconds in sorted(by_architecture.items()):
        yield LineItem(
            "Lambda",
            f"compute {architecture}, {a.lambda_seconds:g} s/invocation",
            gb_seconds,
            "GB-s",
            p.gb_second(architecture),
        )


def _step_functions(p: RegionPrices, v: Volumes) -> Iterable[LineItem]:
    yield LineItem(
        "Step Functions",
        f"state transitions, {v.executions:.1f} executions",
        v.transitions,
        "transitions",
        p.sfn_transitions_per_1000,
        1000,
    )


def _capture(facts: StageFacts, a: Assumptions, v: Volumes) -> tuple[float, float]:
    """(captured records, capture objects) a month: SageMaker batches records into objects."""
    captured = v.predictions * facts.pipeline.capture_percent / 100
    instances = sum(variant.count for variant in facts.pipeline.endpoint)
    objects = min(captured, v.hours * a.capture_objects_per_hour * instances)
    return captured, objects


def _s3(facts: StageFacts, a: Assumptions, p: RegionPrices, v: Volumes) -> Iterable[LineItem]:
    captured, capture_objects = _capture(facts, a, v)
    objects_per_hour = capture_objects / v.hours if v.hours else 0.0
    per_drift_window = objects_per_hour * facts.drift_window_minutes / 60
    per_lookback = objects_per_hour * facts.ground_truth_lookback_hours
    labelled = v.predictions if v.label_files > 0 else 0.0
    stored = (
        v.uploads * a.rows * a.bytes_per_row * 2  # the upload and its curated batch
        + captured * a.capture_bytes_per_prediction
        + labelled * (a.label_bytes_per_prediction + 2 * a.bytes_per_row)  # labels, feedback CSV, its batch
        + v.training_runs * a.artifact_kb_per_training * 1024
        + v.drift_runs * a.drift_report_kb * 1024
    )
    yield LineItem("S3", "Standard storage of one month's new objects", stored / GIB, "GB-mo", p.s3_standard_gb_month)
    puts = (
        v.uploads * UPLOAD_PUTS
        + v.training_runs * (TRAINING_PUTS + TRAINING_LISTS)
        + capture_objects
        + v.drift_runs * (DRIFT_PUTS + max(1.0, per_drift_window / 1000))
        + v.label_files * (LABEL_PUTS + max(1.0, per_lookback / 1000))
    )
    gets = (
        v.uploads * UPLOAD_GETS
        + v.training_runs * TRAINING_GETS
        + v.drift_runs * (per_drift_window + DRIFT_GETS_BESIDES_CAPTURE)
        + v.label_files * (per_lookback + LABEL_GETS_BESIDES_CAPTURE)
    )
    yield LineItem("S3", "PUT, COPY, POST and LIST requests", puts, "requests", p.s3_put_per_1000, 1000)
    yield LineItem("S3", "GET requests", gets, "requests", p.s3_get_per_1000, 1000)


def _hours_published(events: float, hours: float) -> float:
    """CloudWatch prorates a custom metric by the hours in which it receives data (at most every hour)."""
    return min(events, hours) / hours if hours else 0.0


def _cloudwatch(facts: StageFacts, a: Assumptions, p: RegionPrices, v: Volumes) -> Iterable[LineItem]:
    m = facts.metrics
    metric_months = (
        m.drift_per_run * _hours_published(v.drift_runs, v.hours)
        + m.quality_per_label_file * _hours_published(v.label_files, v.hours)
        + m.pipeline_per_execution * _hours_published(v.executions, v.hours)
    )
    yield LineItem(
        "CloudWatch",
        f"custom metrics ({m.drift_per_run} drift, {m.quality_per_label_file} quality, "
        f"{m.pipeline_per_execution} pipeline)",
        metric_months,
        "metric-mo",
        p.cloudwatch_metric_month,
    )
    standard = sum(alarm.metrics for alarm in facts.alarms if not alarm.high_resolution)
    high_resolution = sum(alarm.metrics for alarm in facts.alarms if alarm.high_resolution)
    yield LineItem("CloudWatch", "alarms, standard resolution", standard, "alarm-mo", p.cloudwatch_alarm_metric_month)
    if high_resolution:
        yield LineItem(
            "CloudWatch",
            "alarms, high resolution",
            high_resolution,
            "alarm-mo",
            p.cloudwatch_high_resolution_alarm_metric_month,
        )
    yield LineItem("CloudWatch", "dashboards", facts.dashboards, "dashboard-mo", p.cloudwatch_dashboard_month)
    calls = v.drift_runs * m.drift_calls_per_run + v.label_files  # one PutMetricData per label file
    yield LineItem("CloudWatch", "PutMetricData requests", calls, "requests", p.cloudwatch_api_requests_per_1000, 1000)
    log_kb = sum(v.invocations.values()) * a.lambda_log_kb_per_invocation + v.training_runs * a.training_log_kb
    if facts.pipeline.logs_every_transition:
        log_kb += v.transitions * a.transition_log_kb
    yield LineItem(
        "CloudWatch",
        "Logs ingested (Lambda, Step Functions, training)",
        log_kb * 1024 / GIB,
        "GB",
        p.cloudwatch_logs_ingested_gb,
    )


def _sns(facts: StageFacts, p: RegionPrices, v: Volumes) -> Iterable[LineItem]:
    publishes = v.training_runs * facts.pipeline.deploy.sns_publishes
    if facts.pipeline.skip is not None:
        publishes += v.skip_runs * facts.pipeline.skip.sns_publishes
    if any(alarm.notifies for alarm in facts.alarms):
        publishes += v.alarm_retrains  # each follows one ALARM transition, which notifies the topic
    yield LineItem(
        "SNS", f"publishes to {facts.topics} topic(s)", publishes, "publishes", p.sns_publishes_per_million, 1e6
    )


def _kms(facts: StageFacts, p: RegionPrices) -> Iterable[LineItem]:
    yield LineItem("KMS", "customer managed keys", facts.kms_keys, "key-mo", p.kms_key_month)


def _xray(facts: StageFacts, p: RegionPrices, v: Volumes) -> Iterable[LineItem]:
    traced: list[FunctionFacts] = [f for f in facts.functions if f.traced]
    traces = sum(v.invocations[f.key] - v.state_machine_invocations[f.key] for f in traced)
    # A traced state machine's Lambda calls belong to its execution's trace.
    traces += v.executions if facts.pipeline.traced else sum(v.state_machine_invocations[f.key] for f in traced)
    yield LineItem("X-Ray", "traces recorded", traces, "traces", p.xray_traces_per_million, 1e6)


# -- the table ---------------------------------------------------------------------------------------
def _quantity(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1 or value == 0:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _price(item: LineItem) -> str:
    text = f"{item.price:.10f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{item.price:.2f}"
    scale = {1.0: "", 1000.0: "1K ", 1e6: "1M "}.get(item.per, f"{item.per:g} ")
    return f"${text}/{scale}{item.unit}"


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


def format_estimate(
    estimate: CostEstimate, *, stage: str, assumptions: Assumptions, as_of: str, currency: str = "USD"
) -> str:
    """The line items by service, a table of the services' subtotals and the total, and the volumes."""
    v, a = estimate.volumes, assumptions
    lines = [
        f"Monthly cost of stage {stage!r} in {estimate.region}: {currency}, on-demand list prices of {as_of}, "
        f"{v.hours:g} hours a month",
        f"assuming {a.uploads_per_day:g} upload(s)/day of {a.rows:,} rows, {a.predictions_per_day:,.0f} "
        f"predictions/day, {a.label_files_per_day:g} label file(s)/day, {a.alarm_retrains_per_month:g} "
        f"alarm-driven retraining(s)/month",
        "",
        f"{'service':<14} {'item':<48} {'quantity':>22}  {'unit price':<26} {'monthly':>9}",
    ]
    by_service = estimate.by_service()
    for service in by_service:
        for item in (i for i in estimate.items if i.service == service):
            quantity = f"{_quantity(item.quantity)} {item.unit}"
            lines.append(f"{service:<14} {item.item:<48.48} {quantity:>22}  {_price(item):<26} {_money(item.cost):>9}")
    width = max(len(service) for service in by_service)
    lines += ["", "by service"]
    lines += [f"  {service:<{width}}  {_money(subtotal):>10}" for service, subtotal in by_service.items()]
    lines += [
        f"  {'total':<{width}}  {_money(estimate.total):>10}",
        "",
        *textwrap.wrap(
            f"per month: {v.executions:.1f} executions ({v.training_runs:.1f} train and deploy), "
            f"{sum(v.invocations.values()):,.0f} Lambda invocations, {v.transitions:,.0f} state "
            f"transitions, {v.drift_runs:,.0f} drift runs, {v.predictions:,.0f} predictions.",
            118,
        ),
        *textwrap.wrap(
            "S3 storage grows by its line every month (versioned buckets; nothing expires current "
            "objects); custom metrics are prorated by the hours in which they receive data.",
            118,
        ),
        *textwrap.wrap("not priced: " + "; ".join(NOT_PRICED) + ".", 118, subsequent_indent="  "),
    ]
    return "\n".join(lines)
