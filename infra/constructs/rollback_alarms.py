"""The endpoint alarms a blue/green update watches while it bakes (``AutoRollbackConfiguration``).

SageMaker rolls an update back when any of these alarms is in ALARM during the bake time after a
traffic shift: server errors (``Invocation5XXErrors``), errors the model itself returned
(``InvocationModelErrors``) and a slow model (average ``ModelLatency``, in microseconds, above the
configured milliseconds). They watch the endpoint's one variant in ``AWS/SageMaker``; missing data
is not breaching, since an endpoint without traffic has nothing to roll back for.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.config import RollbackAlarmsConfig

__all__ = ["RollbackAlarms"]

NAMESPACE = "AWS/SageMaker"


class RollbackAlarms(Construct):
    """Three alarms on one endpoint variant; ``names`` is what UpdateEndpoint's rollback lists."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        endpoint_name: str,
        variant_name: str,
        config: RollbackAlarmsConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        dimensions = {"EndpointName": endpoint_name, "VariantName": variant_name}
        period = cdk.Duration.seconds(config.period_seconds)
        specs = (
            ("ServerErrors", "5xx", "Invocation5XXErrors", "Sum", 0.0, "the endpoint answered with a server error"),
            ("ModelErrors", "model-errors", "InvocationModelErrors", "Sum", 0.0, "the model failed a request"),
            (
                "Latency",
                "latency",
                "ModelLatency",
                "Average",
                float(config.max_model_latency_ms * 1000),  # ModelLatency is in microseconds
                f"the model took longer than {config.max_model_latency_ms} ms on average",
            ),
        )
        self.alarms: list[cloudwatch.Alarm] = []
        for construct_name, suffix, metric_name, statistic, threshold, meaning in specs:
            alarm = cloudwatch.Alarm(
                self,
                construct_name,
                alarm_name=f"{name_prefix}-{suffix}",
                alarm_description=f"Rolls a blue/green update of {endpoint_name} back when {meaning}.",
                metric=cloudwatch.Metric(
                    namespace=NAMESPACE,
                    metric_name=metric_name,
                    dimensions_map=dimensions,
                    statistic=statistic,
                    period=period,
                ),
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=config.evaluation_periods,
                datapoints_to_alarm=config.datapoints_to_alarm,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            self.alarms.append(alarm)
        self.names = [f"{name_prefix}-{suffix}" for _, suffix, *_ in specs]
        stack = cdk.Stack.of(self)
        self.arns = [
            stack.format_arn(
                service="cloudwatch", resource="alarm", resource_name=name, arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
            )
            for name in self.names
        ]
