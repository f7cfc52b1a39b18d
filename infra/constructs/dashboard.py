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
        self._model_name = model_name
        self._endpoint_name = endpoint_name
        self._variant_name = variant_name
        self._drift_namespace = drift_namespace
        self._pipeline_namespace = pipeline_namespace
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
                left=[self._drift("DriftDetected"), self._drift("DriftShare", cloudwatch.Stats.AVERAGE)],
                right=[self._drift("InsufficientData")],
                width=_HALF,
            ),
        )
        if quality_namespace and quality_alarm:
            self._add_quality(quality_namespace, quality_alarm)
        self._add_drift_per_feature(features)
        self._add_pipeline(state_machine)
        self._add_endpoint()

    # --- metrics -----------------------------------------------------------------------------

    def _drift(
        self, metric_name: str, statistic: str = cloudwatch.Stats.MAXIMUM, **dimensions: str
    ) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self._drift_namespace,
            metric_name=metric_name,
            dimensions_map={"Model": self._model_name, **dimensions},
            statistic=statistic,
            period=_HOUR,
        )

    def _endpoint(self, metric_name: str, statistic: str = cloudwatch.Stats.SUM) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=metric_name,
            dimensions_map={"EndpointName": self._endpoint_name, "VariantName": self._variant_name},
            statistic=statistic,
            period=_FIVE_MINUTES,
        )

    def _pipeline(self, metric_name: str) -> cloudwatch.MathExpression:
        namespace = self._pipeline_namespace
        return cloudwatch.MathExpression(
            expression=f"SEARCH('Namespace=\"{namespace}\" MetricName=\"{metric_name}\"', 'Sum', 3600)",
            label=metric_name,
            period=_HOUR,
        )

    # --- rows --------------------------------------------------------------------------------

    def _add_quality(self, namespace: str, alarm: cloudwatch.IAlarm) -> None:
        def quality(metric_name: str, statistic: str = cloudwatch.Stats.AVERAGE) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=metric_name,
                dimensions_map={"Model": self._model_name},
                statistic=statistic,
                period=_HOUR,
            )

        self.dashboard.add_widgets(
            cloudwatch.AlarmWidget(title="Quality alarm (drop below the champion)", alarm=alarm, width=_HALF),
            cloudwatch.GraphWidget(
                title="Quality on labelled traffic",
                left=[quality(name) for name in ("Accuracy", "RocAuc", "F1", "QualityDrop")],
                right=[quality("LabelledRecords", cloudwatch.Stats.SUM)],
                width=_HALF,
            ),
        )

    def _add_drift_per_feature(self, features: Sequence[str]) -> None:
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="PSI per feature",
                left=[self._drift("FeaturePSI", Feature=feature).with_(label=feature) for feature in features],
                width=_HALF,
            ),
            cloudwatch.GraphWidget(
                title="Prediction PSI and window size",
                left=[self._drift("PredictionPSI")],
                right=[self._drift("WindowRecords", cloudwatch.Stats.SUM)],
                width=_HALF,
            ),
        )

    def _add_pipeline(self, state_machine: sfn.IStateMachine) -> None:
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
                    self._pipeline(name)
                    for name in ("ExecutionsStarted", "ModelsApproved", "ModelsRejected", "ValidationFailed")
                ],
                right=[self._pipeline("RetrainingSkipped")],
                width=_HALF,
            ),
        )

    def _add_endpoint(self) -> None:
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Endpoint invocations and errors",
                left=[self._endpoint("Invocations")],
                right=[self._endpoint("Invocation4XXErrors"), self._endpoint("Invocation5XXErrors")],
                width=_HALF,
            ),
            cloudwatch.GraphWidget(
                title="Endpoint latency (microseconds)",
                left=[self._endpoint("ModelLatency", cloudwatch.Stats.p(90))],
                width=_HALF,
            ),
        )
