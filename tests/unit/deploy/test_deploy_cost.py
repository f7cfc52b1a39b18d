"""The cost model on a hand-computed example: every line and the total, to the cent.

The stage below is made up so that each rule of the model is exercised (uploads that do not
retrain, a skip path, a wait loop, an arm64 function, a high-resolution alarm, an untraced function)
and the month is 720 hours (30 days) so that the arithmetic can be followed by hand. Each expected
figure is derived in the comment beside it; nothing here synthesizes or calls AWS.
"""

from __future__ import annotations

import json
from decimal import Decimal
from types import MappingProxyType

import pytest

from mlops.deploy.cost import Assumptions, estimate_cost, format_estimate
from mlops.deploy.facts import (
    AlarmFacts,
    FunctionFacts,
    InstanceFacts,
    MetricFacts,
    PathFacts,
    PipelineFacts,
    StageFacts,
    WaitLoop,
)
from mlops.deploy.prices import DEFAULT_PRICES, PriceError, RegionPrices, load_prices, parse_prices

VALIDATE, TRIGGER, DRIFT, GROUND_TRUTH = "p/Validate", "p/Trigger", "m/Drift", "m/GroundTruth"

# us-east-1 list prices, spelled out so that the example does not move when prices.json does.
PRICES = RegionPrices(
    region="us-east-1",
    lambda_requests_per_million=0.20,
    lambda_gb_second=MappingProxyType({"x86_64": 0.0000166667, "arm64": 0.0000133334}),
    sfn_transitions_per_1000=0.025,
    sagemaker_training_per_hour=MappingProxyType({"ml.m5.large": 0.115}),
    sagemaker_hosting_per_hour=MappingProxyType({"ml.m5.large": 0.115}),
    sagemaker_data_processed_per_gb=0.016,
    s3_standard_gb_month=0.023,
    s3_put_per_1000=0.005,
    s3_get_per_1000=0.0004,
    cloudwatch_metric_month=0.30,
    cloudwatch_alarm_metric_month=0.10,
    cloudwatch_high_resolution_alarm_metric_month=0.30,
    cloudwatch_dashboard_month=3.00,
    cloudwatch_api_requests_per_1000=0.01,
    cloudwatch_logs_ingested_gb=0.50,
    sns_publishes_per_million=0.50,
    kms_key_month=1.00,
    xray_traces_per_million=5.00,
)

ASSUMPTIONS = Assumptions(
    uploads_per_day=2,  # 60 uploads in 30 days
    rows=20_000,
    predictions_per_day=24_000,  # 720,000 a month
    label_files_per_day=1,  # 30
    alarm_retrains_per_month=4,
    training_seconds_per_row=0.003,  # 60 s + 120 s overhead = 180 s a run
    training_overhead_seconds=120,
    lambda_seconds=1.5,
    endpoint_deploy_minutes=10,  # ceil(600 s / 30 s) = 20 polls of 3 states = 60 transitions
    bytes_per_row=50,
    capture_bytes_per_prediction=1000,
    response_bytes_per_prediction=14,
    label_bytes_per_prediction=36,
    capture_objects_per_hour=60,
    artifact_kb_per_training=512,
    drift_report_kb=256,
    lambda_log_kb_per_invocation=4,
    transition_log_kb=1,
    training_log_kb=16,
)


def hand_facts() -> StageFacts:
    deploy = PathFacts(
        states=tuple(f"S{i}" for i in range(10)), lambda_calls={VALIDATE: 1}, sns_publishes=0, trains=True, deploys=True
    )
    skip = PathFacts(
        states=("S0", "S1", "S2", "Skipped"), lambda_calls={VALIDATE: 1}, sns_publishes=0, trains=False, deploys=False
    )
    return StageFacts(
        stacks=("p", "m"),
        functions=(
            FunctionFacts(VALIDATE, "validate", 1024, "x86_64", traced=True),
            FunctionFacts(
                TRIGGER, "trigger", 512, "x86_64", schedule_minutes=(60.0,), upload_rules=1, alarm_rules=2, traced=True
            ),
            FunctionFacts(DRIFT, "drift", 2048, "arm64", schedule_minutes=(30.0,), traced=True),
            FunctionFacts(GROUND_TRUTH, "groundtruth", 512, "x86_64", label_rules=1, traced=False),
        ),
        pipeline=PipelineFacts(
            name="pipeline",
            deploy=deploy,
            skip=skip,
            wait_loops=(WaitLoop(wait_seconds=30, states_per_poll=3),),
            training=InstanceFacts("ml.m5.large", 1),
            training_volume_gb=10,
            endpoint=(InstanceFacts("ml.m5.large", 1),),
            capture_percent=100,
            logs_every_transition=True,
            traced=True,
        ),
        alarms=(
            AlarmFacts("drift", 300, 1, notifies=True),
            AlarmFacts("quality", 300, 1, notifies=True),
            AlarmFacts("fast", 10, 1, notifies=False),
        ),
        dashboards=1,
        kms_keys=1,
        topics=1,
        metrics=MetricFacts(
            drift_per_run=16, drift_calls_per_run=1, quality_per_label_file=8, pipeline_per_execution=2
        ),
        retrain_on_upload=False,  # uploads take the 4-state skip path; only the 4 alarm retrainings train
        drift_function=DRIFT,
        drift_window_minutes=60,
        ground_truth_lookback_hours=24,
    )


@pytest.fixture(scope="module")
def estimate():
    return estimate_cost(hand_facts(), ASSUMPTIONS, PRICES, hours_per_month=720)


def test_the_month_s_volumes_follow_from_the_facts_and_the_assumptions(estimate):
    v = estimate.volumes
    assert (v.uploads, v.executions, v.training_runs, v.skip_runs) == (60, 64, 4, 60)
    assert (v.label_files, v.predictions, v.drift_runs) == (30, 720_000, 1440)
    # validate: 4 deploy runs + 60 skip runs; trigger: 720 rechecks + 60 uploads + 4 alarm events;
    # drift: every 30 minutes for 720 hours; ground truth: one per label file.
    assert v.invocations == {VALIDATE: 64, TRIGGER: 784, DRIFT: 1440, GROUND_TRUTH: 30}
    # 4 x (10 states + 60 polling transitions) + 60 x 4 states
    assert v.transitions == 520
    assert v.training_seconds_per_run == pytest.approx(180)


# (service, item prefix, quantity, cost) — the hand computation, line by line.
EXPECTED = [
    ("SageMaker", "training ml.m5.large", 0.2, "0.02"),  # 4 runs x 180 s = 0.2 h x 0.115 = 0.023
    ("SageMaker", "endpoint ml.m5.large x1, always on", 720, "82.80"),  # 720 h x 0.115
    ("SageMaker", "endpoint ml.m5.large x1, blue/green", 4 * 10 / 60, "0.08"),  # 0.6667 h x 0.115 = 0.0767
    # 720,000 x (50 + 14) B = 46,080,000 B = 0.042915 GiB x 0.016 = 0.00069
    ("SageMaker", "endpoint data processed", 46_080_000 / 1024**3, "0.00"),
    ("Lambda", "requests", 2318, "0.00"),  # 2,318 x 0.20 / 1M = 0.00046
    ("Lambda", "compute arm64", 4320, "0.06"),  # drift 1440 x 1.5 x 2 = 4320 GB-s x 0.0000133334 = 0.0576
    # validate 64 x 1.5 s x 1 GB = 96, trigger 784 x 1.5 x 0.5 = 588, ground truth 30 x 1.5 x 0.5 = 22.5
    ("Lambda", "compute x86_64", 706.5, "0.01"),  # 706.5 GB-s x 0.0000166667 = 0.0118
    ("Step Functions", "state transitions", 520, "0.01"),  # 520 x 0.025 / 1000 = 0.013
    # uploads 60 x 20,000 x 50 B x 2 = 120,000,000; capture 720,000 x 1,000 = 720,000,000;
    # labels and feedback 720,000 x (36 + 2 x 50) = 97,920,000; training 4 x 512 KiB = 2,097,152;
    # drift reports 1,440 x 256 KiB = 377,487,360 -> 1,317,504,512 B = 1.22702 GiB x 0.023 = 0.0282
    ("S3", "Standard storage", 1_317_504_512 / 1024**3, "0.03"),
    # capture objects min(720,000, 720 h x 60) = 43,200 (60 an hour: 60 in a drift window, 1,440 in
    # the 24 h lookback); uploads 60 x 3 + training 4 x (8 + 1) + 43,200 + drift 1,440 x (3 + 1 LIST)
    # + label files 30 x (5 + 1.44 LIST) = 180 + 36 + 43,200 + 5,760 + 193.2 = 49,369.2
    ("S3", "PUT, COPY, POST and LIST", 49_369.2, "0.25"),  # x 0.005 / 1000 = 0.2468
    # uploads 60 x 1 + training 4 x 10 + drift 1,440 x (60 + 2) + label files 30 x (1,440 + 2)
    ("S3", "GET", 132_640, "0.05"),  # 60 + 40 + 89,280 + 43,260 = 132,640 x 0.0004 / 1000 = 0.0531
    # drift 16 x (every hour) + quality 8 x 30/720 + pipeline 2 x 64/720 = 16.51111 x 0.30 = 4.9533
    ("CloudWatch", "custom metrics", 16 + 8 * 30 / 720 + 2 * 64 / 720, "4.95"),
    ("CloudWatch", "alarms, standard", 2, "0.20"),
    ("CloudWatch", "alarms, high resolution", 1, "0.30"),
    ("CloudWatch", "dashboards", 1, "3.00"),
    ("CloudWatch", "PutMetricData", 1470, "0.01"),  # 1,440 drift runs x 1 call + 30 label files = 0.0147
    # Lambda 2,318 x 4 KB + training 4 x 16 KB + transitions 520 x 1 KB = 9,856 KiB = 0.0094 GiB x 0.50
    ("CloudWatch", "Logs ingested", 9856 / 1024**2, "0.00"),
    ("SNS", "publishes", 4, "0.00"),  # one notification per alarm-driven retraining
    ("KMS", "customer managed keys", 1, "1.00"),
    # traced functions outside executions: trigger 784 + drift 1,440; the state machine's own 64 traces
    ("X-Ray", "traces", 2288, "0.01"),  # 2,288 x 5 / 1M = 0.0114
]


def test_every_line_matches_the_hand_computation_to_the_cent(estimate):
    assert len(estimate.items) == len(EXPECTED)
    for item, (service, prefix, quantity, cost) in zip(estimate.items, EXPECTED, strict=True):
        assert (item.service, item.item[: len(prefix)]) == (service, prefix)
        assert item.quantity == pytest.approx(quantity, rel=1e-9), item.item
        assert item.cost == Decimal(cost), item.item


def test_the_total_and_the_services_match_the_hand_computation(estimate):
    # 82.90 + 8.46 + 1.00 + 0.33 + 0.07 + 0.01 + 0.01 + 0.00
    assert estimate.total == Decimal("92.78")
    assert estimate.by_service() == {
        "SageMaker": Decimal("82.90"),
        "CloudWatch": Decimal("8.46"),
        "KMS": Decimal("1.00"),
        "S3": Decimal("0.33"),
        "Lambda": Decimal("0.07"),
        "Step Functions": Decimal("0.01"),
        "X-Ray": Decimal("0.01"),
        "SNS": Decimal("0.00"),
    }


def test_uploads_that_retrain_take_the_deploy_path():
    facts = hand_facts()
    facts = StageFacts(**{**facts.__dict__, "retrain_on_upload": True})
    volumes = estimate_cost(facts, ASSUMPTIONS, PRICES, hours_per_month=720).volumes
    assert (volumes.training_runs, volumes.skip_runs) == (64, 0)
    assert volumes.transitions == 64 * 70


def test_the_table_lists_every_line_the_services_and_the_total(estimate):
    text = format_estimate(estimate, stage="default", assumptions=ASSUMPTIONS, as_of="2026-12-01")
    assert "stage 'default' in us-east-1" in text and "2026-12-01" in text
    assert "$82.80" in text and "$0.0000133334/GB-s" in text
    assert "not priced:" in text
    total_line = next(line for line in text.splitlines() if line.strip().startswith("total"))
    assert total_line.split()[-1] == "$92.78"


def test_a_negative_or_non_numeric_assumption_is_refused():
    with pytest.raises(ValueError, match="rows"):
        Assumptions(rows=-1)
    with pytest.raises(ValueError, match="lambda_seconds"):
        Assumptions(lambda_seconds=float("nan"))


def test_an_instance_type_without_a_price_names_what_to_add():
    facts = hand_facts()
    pipeline = facts.pipeline.__dict__ | {"training": InstanceFacts("ml.p5.48xlarge", 1)}
    facts = StageFacts(**{**facts.__dict__, "pipeline": PipelineFacts(**pipeline)})
    with pytest.raises(PriceError, match=r"ml\.p5\.48xlarge.*trainingPerHour"):
        estimate_cost(facts, ASSUMPTIONS, PRICES)


# -- the prices file ---------------------------------------------------------------------------------
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")


def test_the_prices_file_is_dated_sourced_and_prices_every_item_in_the_four_regions():
    book = load_prices()
    assert book.as_of and book.currency == "USD" and book.hours_per_month == 730
    assert {"lambda", "stepFunctions", "sagemaker", "s3", "cloudwatch", "sns", "kms", "xray"} <= set(book.sources)
    assert all(url.startswith("https://") for url in book.sources.values())
    for region in REGIONS:
        prices = book.region(region)
        for instance_type in ("ml.m5.large", "ml.m5.xlarge"):
            assert prices.training_hour(instance_type) > 0 and prices.hosting_hour(instance_type) > 0
        assert prices.gb_second("x86_64") > 0 and prices.gb_second("arm64") > 0


def test_the_default_stage_s_instance_types_are_priced_everywhere():
    config = json.loads((DEFAULT_PRICES.parents[2] / "cdk.json").read_text())["context"]["mlops"]
    book = load_prices()
    for region in REGIONS:
        book.region(region).training_hour(config["training"]["instanceType"])
        book.region(region).hosting_hour(config["serving"]["instanceType"])


def test_an_unpriced_region_or_a_missing_figure_is_an_error_that_says_where():
    book = load_prices()
    with pytest.raises(PriceError, match=r"ap-south-1.*priced regions: eu-central-1"):
        book.region("ap-south-1")
    document = json.loads(DEFAULT_PRICES.read_text())
    del document["regions"]["eu-west-1"]["cloudwatch"]["dashboardMonth"]
    with pytest.raises(PriceError, match=r"regions\.eu-west-1\.cloudwatch\.dashboardMonth: missing"):
        parse_prices(document)
