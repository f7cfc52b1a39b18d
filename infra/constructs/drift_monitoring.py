"""Drift monitoring: the scheduled drift check, its alarm, and the alarm's two consequences.

SageMaker Model Monitor is closed to new customers, so the statistics are ours: the ``drift``
function reads the captured requests of the last window, compares them with the serving model's
training baseline and publishes ``DriftDetected``. The alarm on that metric notifies people (SNS)
and machines: its ALARM state change is an EventBridge event that wakes the ``trigger`` function,
which starts a retraining (rate-limited by the retraining cooldown).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as lambda_destinations
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.compliance import ON_FAILURE_DESTINATION_REASON, skip_checkov
from infra.config import MlopsConfig
from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.constructs.lambda_functions import PipelineFunction
from infra.naming import BucketRef
from infra.permissions import put_metric_data, read_serving_model, s3_read, s3_write

__all__ = ["DriftMonitoring", "DriftPrefixes"]


@dataclass(frozen=True)
class DriftPrefixes:
    """Where the drift function reads and writes in the artifacts bucket (docs/ARCHITECTURE.md)."""

    capture: str = "datacapture/"
    reports: str = "reports/"
    drift: str = "drift/"


class DriftMonitoring(Construct):
    """Drift function on a schedule, ``DriftDetected`` alarm -> SNS, alarm ALARM -> trigger."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MlopsConfig,
        code: lambda_.Code,
        project_root: Path,
        artifacts: BucketRef,
        trigger: lambda_.IFunction,
        topic: sns.ITopic,
        prefixes: DriftPrefixes | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        prefixes = prefixes or DriftPrefixes()
        self.function = self._drift_function(
            config, code=code, project_root=project_root, artifacts=artifacts, prefixes=prefixes
        )
        self._grant(config, artifacts, prefixes)
        dead_letters = DeadLetterQueue(
            self, "DeadLetters", purpose="drift schedule or drift-alarm retraining events", alarm_topic=topic
        ).queue
        # A drift check that fails after Lambda's own retries is parked too, not discarded.
        self.function.function.configure_async_invoke(
            on_failure=lambda_destinations.SqsDestination(dead_letters), retry_attempts=2
        )
        skip_checkov(self.function.function, "CKV_AWS_116", ON_FAILURE_DESTINATION_REASON)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Runs the drift check over the latest capture window",
            schedule=events.Schedule.rate(cdk.Duration.minutes(config.drift.schedule_minutes)),
        )
        self.schedule.add_target(
            targets.LambdaFunction(self.function.function, dead_letter_queue=dead_letters, retry_attempts=2)
        )
        self.metric, self.alarm = self._drift_alarm(config, topic)
        self.retrain_rule = events.Rule(
            self,
            "RetrainOnAlarm",
            description="Starts a retraining when the drift alarm goes into ALARM",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[self.alarm.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
        )
        self.retrain_rule.add_target(
            targets.LambdaFunction(
                trigger, dead_letter_queue=dead_letters, retry_attempts=8, max_event_age=cdk.Duration.hours(24)
            )
        )

    def _drift_function(
        self,
        config: MlopsConfig,
        *,
        code: lambda_.Code,
        project_root: Path,
        artifacts: BucketRef,
        prefixes: DriftPrefixes,
    ) -> PipelineFunction:
        drift = config.drift
        return PipelineFunction(
            self,
            "Drift",
            name="drift",
            function_name=f"{config.prefix}-drift",
            description="Compares captured endpoint traffic with the training baseline; publishes drift metrics",
            code=code,
            config=config.lambda_,
            project_root=project_root,
            service_name="drift",
            metrics_namespace=drift.metric_namespace,
            with_numpy=True,
            environment={
                "ENDPOINT_NAME": config.endpoint_name,
                "ARTIFACTS_BUCKET": artifacts.name,
                "CAPTURE_PREFIX": prefixes.capture,
                "DRIFT_WINDOW_MINUTES": str(drift.window_minutes),
                "DRIFT_SETTLE_SECONDS": str(drift.settle_seconds),
                "DRIFT_MIN_RECORDS": str(drift.min_records),
                "DRIFT_ALPHA": repr(drift.alpha),
                "DRIFT_MIN_PSI": repr(drift.min_psi),
                "DRIFT_MIN_KS": repr(drift.min_ks),
                "DRIFT_MIN_PREDICTION_PSI": repr(drift.min_prediction_psi),
                "METRIC_NAMESPACE": drift.metric_namespace,
                "MODEL_NAME": config.model_name,
            },
        )

    def _drift_alarm(self, config: MlopsConfig, topic: sns.ITopic) -> tuple[cloudwatch.Metric, cloudwatch.Alarm]:
        """``DriftDetected``: notified, and (``RetrainOnAlarm``) retrained on."""
        drift = config.drift
        metric = cloudwatch.Metric(
            namespace=drift.metric_namespace,
            metric_name="DriftDetected",
            dimensions_map={"Model": config.model_name},
            statistic=cloudwatch.Stats.MAXIMUM,
            period=cdk.Duration.seconds(drift.alarm.period_seconds),
        )
        alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_name=config.alarm_name,
            alarm_description=f"Input drift on the {config.endpoint_name} endpoint: starts a retraining",
            metric=metric,
            threshold=drift.alarm.threshold,
            evaluation_periods=drift.alarm.evaluation_periods,
            datapoints_to_alarm=drift.alarm.datapoints_to_alarm,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # No verdict (too little traffic) is not drift.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        return metric, alarm

    def _grant(self, config: MlopsConfig, artifacts: BucketRef, prefixes: DriftPrefixes) -> None:
        role = self.function.role
        s3_read(role, artifacts, [prefixes.capture, prefixes.reports, prefixes.drift])
        s3_write(role, artifacts, [prefixes.drift])
        put_metric_data(role, config.drift.metric_namespace)
        # endpoint -> endpoint config -> model -> MLOPS_BASELINE_URI: the serving model's baseline.
        read_serving_model(role, cdk.Stack.of(self), config.endpoint_name)
