"""One CloudWatch dashboard for the model's life: drift per feature, the verdict, runs, serving.

Features come from the dataset schema at synth, so a new dataset gets its own drift graphs without
code changes. Pipeline business metrics are found with SEARCH expressions, so they show whatever
dimensions the handlers publish them with.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

__all__ = ["MlopsDashboard"]

_WIDTH = 24
_HALF = 12
_HOUR = cdk.Duration.hours(1)
_FIVE_MINUTES = cdk.Duration.minutes(5)


class MlopsDashboard(Construct):
    """Drift, pipeline and endpoint metrics of one model on one dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        model_name: str,
        endpoint_name: str,
        variant_name: str,
        drift_namespace: str,
        pipeline_namespace: str,
        features: Sequence[str],
        drift_alarm: cloudwatch.IAlarm,
        state_machine: sfn.IStateMachine,
        quality_namespace: str | None = None,
        quality_alarm: cloudwatch.IAlarm | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        def drift(metric_name: str, statistic: str = cloudwatch.Stats.MAXIMUM, **dimensions: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=drift_namespace,
                metric_name=metric_name,
                dimensions_map={"Model": model_name, **dimensions},
                statistic=statistic,
                period=_HOUR,
            )

        def endpoint(metric_name: str, statistic: str = cloudwatch.Stats.SUM) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=metric_name,
                dimensions_map={"EndpointName": endpoint_name, "VariantName": variant_name},
                statistic=statistic,
                period=_FIVE_MINUTES,
            )

        def pipeline(metric_name: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=f"SEARCH('Namespace=\"{pipeline_namespace}\" MetricName=\"{metric_name}\"', 'Sum', 3600)",
                label=metric_name,
                period=_HOUR,
            )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name, default_interval=cdk.Duration.days(7)
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# {model_name}\nDrift of the `{endpoint_name}` endpoint's inputs against the training "
                "baseline, the retraining pipeline, and the endpoint's traffic.",
                width=_WIDTH,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmWidget(title="Drift alarm", alarm=drift_alarm, width=_HALF),
            cloudwatch.GraphWidget(
                title="Drift verdict",
                left=[drift("DriftDetected"), drift("DriftShare", cloudwatch.Stats.AVERAGE)],
                right=[drift("InsufficientData")],
                width=_HALF,
            ),
        )
        if quality_namespace and quality_alarm:

            def quality(metric_name: str, statistic: str = cloudwatch.Stats.AVERAGE) -> cloudwatch.Metric:
                return cloudwatch.Metric(
                    namespace=quality_namespace,
                    metric_name=metric_name,
                    dimensions_map={"Model": model_name},
                    statistic=statistic,
                    period=_HOUR,
                )

            self.dashboard.add_widgets(
                cloudwatch.AlarmWidget(
                    title="Quality alarm (drop below the champion)", alarm=quality_alarm, width=_HALF
                ),
                cloudwatch.GraphWidget(
                    title="Quality on labelled traffic",
                    left=[quality(name) for name in ("Accuracy", "RocAuc", "F1", "QualityDrop")],
                    right=[quality("LabelledRecords", cloudwatch.Stats.SUM)],
                    width=_HALF,
                ),
            )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="PSI per feature",
                left=[drift("FeaturePSI", Feature=feature).with_(label=feature) for feature in features],
                width=_HALF,
            ),
            cloudwatch.GraphWidget(
                title="Prediction PSI and window size",
                left=[drift("PredictionPSI")],
                right=[drift("WindowRecords", cloudwatch.Stats.SUM)],
                width=_HALF,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Pipeline executions",
                left=[
                    state_machine.metric_started(period=_HOUR),
                    state_machine.metric_succeeded(period=_HOUR),
                    state_machine.metric_failed(period=_HOUR),
                ],
                width=_HALF,
            ),
            cloudwatch.GraphWidget(
                title="Pipeline outcomes",
                left=[
                    pipeline(name)
                    for name in ("ExecutionsStarted", "ModelsApproved", "ModelsRejected", "ValidationFailed")
                ],
                right=[pipeline("RetrainingSkipped")],
                width=_HALF,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Endpoint invocations and errors",
                left=[endpoint("Invocations")],
                right=[endpoint("Invocation4XXErrors"), endpoint("Invocation5XXErrors")],
                width=_HALF,
            ),
            cloudwatch.GraphWidget(
                title="Endpoint latency (microseconds)",
                left=[endpoint("ModelLatency", cloudwatch.Stats.p(90))],
                width=_HALF,
            ),
        )
