"""On-demand list prices per region, read strictly from ``prices.json``.

Prices live in one dated data file with its sources, never in code: when AWS changes a price, one
figure changes in one place and the cost model's arithmetic (and its hand-computed test) does not.
Parsing is strict — a missing figure is an error naming its path — because a silently missing
price would print a cheaper estimate than the truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["DEFAULT_PRICES", "PriceBook", "PriceError", "RegionPrices", "load_prices", "parse_prices"]

DEFAULT_PRICES = Path(__file__).with_name("prices.json")


class PriceError(ValueError):
    """A price is missing or malformed; the message names the region and item."""


@dataclass(frozen=True)
class RegionPrices:
    """Every price the cost model uses, for one region (USD)."""

    region: str
    lambda_requests_per_million: float
    lambda_gb_second: Mapping[str, float]  # architecture -> price
    sfn_transitions_per_1000: float
    sagemaker_training_per_hour: Mapping[str, float]  # instance type -> price
    sagemaker_hosting_per_hour: Mapping[str, float]
    sagemaker_data_processed_per_gb: float
    s3_standard_gb_month: float
    s3_put_per_1000: float
    s3_get_per_1000: float
    cloudwatch_metric_month: float
    cloudwatch_alarm_metric_month: float
    cloudwatch_high_resolution_alarm_metric_month: float
    cloudwatch_dashboard_month: float
    cloudwatch_api_requests_per_1000: float
    cloudwatch_logs_ingested_gb: float
    sns_publishes_per_million: float
    kms_key_month: float
    xray_traces_per_million: float

    def training_hour(self, instance_type: str) -> float:
        return self._instance(self.sagemaker_training_per_hour, instance_type, "training", "trainingPerHour")

    def hosting_hour(self, instance_type: str) -> float:
        return self._instance(self.sagemaker_hosting_per_hour, instance_type, "hosting", "hostingPerHour")

    def gb_second(self, architecture: str) -> float:
        if architecture not in self.lambda_gb_second:
            raise PriceError(
                f"{self.region}: no Lambda price for architecture {architecture!r} "
                f"(regions.{self.region}.lambda.gbSecond in {DEFAULT_PRICES.name})"
            )
        return self.lambda_gb_second[architecture]

    def _instance(self, table: Mapping[str, float], instance_type: str, use: str, key: str) -> float:
        if instance_type not in table:
            raise PriceError(
                f"{self.region}: no on-demand {use} price for {instance_type} — add it to "
                f"regions.{self.region}.sagemaker.{key} in {DEFAULT_PRICES.name} (known: {sorted(table)})"
            )
        return table[instance_type]


@dataclass(frozen=True)
class PriceBook:
    """The whole file: its date, currency, sources, the month's length, and prices by region."""

    as_of: str
    currency: str
    hours_per_month: float
    sources: Mapping[str, str]
    regions: Mapping[str, RegionPrices]

    def region(self, name: str) -> RegionPrices:
        if name not in self.regions:
            raise PriceError(
                f"no prices for region {name!r} in {DEFAULT_PRICES.name}; priced regions: "
                f"{', '.join(sorted(self.regions))}"
            )
        return self.regions[name]


def load_prices(path: Path = DEFAULT_PRICES) -> PriceBook:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PriceError(f"cannot read {path}: {error}") from error
    return parse_prices(document)


def parse_prices(document: Any) -> PriceBook:
    """The price book from the parsed JSON; raises ``PriceError`` naming the first missing figure."""
    root = _Node(document, "prices")
    regions = root.child("regions")
    return PriceBook(
        as_of=root.text("asOf"),
        currency=root.text("currency"),
        hours_per_month=root.number("hoursPerMonth"),
        sources=MappingProxyType({k: str(v) for k, v in root.child("sources").value.items()}),
        regions=MappingProxyType({name: _region(name, regions.child(name)) for name in regions.value}),
    )


def _region(name: str, node: _Node) -> RegionPrices:
    lambda_, sfn, sagemaker = node.child("lambda"), node.child("stepFunctions"), node.child("sagemaker")
    s3, cloudwatch = node.child("s3"), node.child("cloudwatch")
    return RegionPrices(
        region=name,
        lambda_requests_per_million=lambda_.number("requestsPerMillion"),
        lambda_gb_second=lambda_.table("gbSecond"),
        sfn_transitions_per_1000=sfn.number("standardTransitionsPer1000"),
        sagemaker_training_per_hour=sagemaker.table("trainingPerHour"),
        sagemaker_hosting_per_hour=sagemaker.table("hostingPerHour"),
        sagemaker_data_processed_per_gb=sagemaker.number("dataProcessedPerGb"),
        s3_standard_gb_month=s3.number("standardGbMonth"),
        s3_put_per_1000=s3.number("putPer1000"),
        s3_get_per_1000=s3.number("getPer1000"),
        cloudwatch_metric_month=cloudwatch.number("metricMonth"),
        cloudwatch_alarm_metric_month=cloudwatch.number("alarmMetricMonth"),
        cloudwatch_high_resolution_alarm_metric_month=cloudwatch.number("highResolutionAlarmMetricMonth"),
        cloudwatch_dashboard_month=cloudwatch.number("dashboardMonth"),
        cloudwatch_api_requests_per_1000=cloudwatch.number("apiRequestsPer1000"),
        cloudwatch_logs_ingested_gb=cloudwatch.number("logsIngestedGb"),
        sns_publishes_per_million=node.child("sns").number("publishesPerMillion"),
        kms_key_month=node.child("kms").number("keyMonth"),
        xray_traces_per_million=node.child("xray").number("tracesPerMillion"),
    )


class _Node:
    """One object of the file and its dotted path, for error messages that say where."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise PriceError(f"{path}: expected an object")
        self.value: Mapping[str, Any] = value
        self.path = path

    def _get(self, key: str) -> Any:
        if key not in self.value:
            raise PriceError(f"{self.path}.{key}: missing")
        return self.value[key]

    def child(self, key: str) -> _Node:
        return _Node(self._get(key), f"{self.path}.{key}")

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value:
            raise PriceError(f"{self.path}.{key}: expected a non-empty string")
        return value

    def number(self, key: str) -> float:
        return _price(self._get(key), f"{self.path}.{key}")

    def table(self, key: str) -> Mapping[str, float]:
        node = self.child(key)
        return MappingProxyType({name: _price(value, f"{node.path}.{name}") for name, value in node.value.items()})


def _price(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PriceError(f"{path}: expected a non-negative number, got {value!r}")
    return float(value)
