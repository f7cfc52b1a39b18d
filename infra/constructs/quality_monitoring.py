"""Model quality on labelled traffic, and the retraining it starts.

Drift is an early warning; quality is the verdict that matters. Labels for served requests land in
the incoming bucket under the ground-truth prefix; the ``groundtruth`` function joins them with the
captured requests by InferenceId, publishes model-quality metrics, and turns the joined rows into a
new labelled batch of the dataset (through the validate function's own code). ``QualityDrop`` —
the serving model's registered holdout figure minus what it achieves on the labels — is watched by
an alarm, whose ALARM state wakes ``trigger`` with reason ``quality``. A recheck schedule wakes
``trigger`` too, so a problem that persists (an alarm still in ALARM, a deferred trigger) retrains
again once the cooldown has passed and new labelled batches exist.
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
from infra.naming import DataBucketNames
from infra.permissions import put_metric_data, read_serving_model, s3_read, s3_write

__all__ = ["QualityMonitoring", "QualityPrefixes"]

QUALITY_DROP_METRIC = "QualityDrop"


@dataclass(frozen=True)
class QualityPrefixes:
    """Where the ground-truth function reads and writes (docs/ARCHITECTURE.md, "Ground truth")."""

    feedback: str = "feedback/"
    capture: str = "datacapture/"
    reports: str = "reports/"
    quality: str = "quality/"
    snapshots: str = "snapshots/"


class QualityMonitoring(Construct):
    """Ground-truth function and its rule, the quality alarm, and the rules that start retraining."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MlopsConfig,
        dataset_name: str,
        code: lambda_.Code,
        project_root: Path,
        buckets: DataBucketNames,
        trigger: lambda_.IFunction,
        topic: sns.ITopic,
        prefixes: QualityPrefixes | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        prefixes = prefixes or QualityPrefixes()
        self.function = self._ground_truth_function(
            config, dataset_name=dataset_name, code=code, project_root=project_root, buckets=buckets, prefixes=prefixes
        )
        self._grant(config, buckets, prefixes)
        self.dead_letters = DeadLetterQueue(
            self, "DeadLetters", purpose="ground-truth, quality-alarm or recheck events", alarm_topic=topic
        ).queue
        self.function.function.configure_async_invoke(
            on_failure=lambda_destinations.SqsDestination(self.dead_letters), retry_attempts=2
        )
        skip_checkov(self.function.function, "CKV_AWS_116", ON_FAILURE_DESTINATION_REASON)
        self.ground_truth_rule = self._ground_truth_rule(config, buckets)
        self.metric, self.alarm = self._quality_alarm(config, topic)
        self._retraining_rules(config, trigger)

    def _ground_truth_function(
        self,
        config: MlopsConfig,
        *,
        dataset_name: str,
        code: lambda_.Code,
        project_root: Path,
        buckets: DataBucketNames,
        prefixes: QualityPrefixes,
    ) -> PipelineFunction:
        quality = config.quality
        return PipelineFunction(
            self,
            "GroundTruth",
            name="groundtruth",
            function_name=f"{config.prefix}-groundtruth",
            description="Joins labels with captured requests: quality metrics and a new labelled batch",
            code=code,
            config=config.lambda_,
            project_root=project_root,
            service_name="groundtruth",
            metrics_namespace=quality.metric_namespace,
            with_numpy=True,
            environment={
                "ARTIFACTS_BUCKET": buckets.artifacts.name,
                "CAPTURE_PREFIX": prefixes.capture,
                "ENDPOINT_NAME": config.endpoint_name,
                "INCOMING_BUCKET": buckets.incoming.name,
                "FEEDBACK_PREFIX": prefixes.feedback,
                "CURATED_BUCKET": buckets.curated.name,
                "QUARANTINE_BUCKET": buckets.quarantine.name,
                "DATASET_NAME": dataset_name,
                "GROUND_TRUTH_LOOKBACK_HOURS": str(config.ground_truth.lookback_hours),
                "QUALITY_METRIC": quality.metric,
                "QUALITY_MIN_LABELS": str(quality.min_labels),
                "QUALITY_METRIC_NAMESPACE": quality.metric_namespace,
                "MODEL_NAME": config.model_name,
            },
        )

    def _ground_truth_rule(self, config: MlopsConfig, buckets: DataBucketNames) -> events.Rule:
        rule = events.Rule(
            self,
            "GroundTruthArrived",
            description="Joins a label file with the captured requests when it lands under the ground-truth prefix",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [buckets.incoming.name]},
                    "object": {"key": [{"prefix": config.ground_truth.prefix}]},
                },
            ),
        )
        rule.add_target(self._target(self.function.function))
        return rule

    def _quality_alarm(self, config: MlopsConfig, topic: sns.ITopic) -> tuple[cloudwatch.Metric, cloudwatch.Alarm]:
        """``QualityDrop`` above the tolerance: notified, and (``RetrainOnQualityAlarm``) retrained on."""
        quality = config.quality
        metric = cloudwatch.Metric(
            namespace=quality.metric_namespace,
            metric_name=QUALITY_DROP_METRIC,
            dimensions_map={"Model": config.model_name},
            statistic=cloudwatch.Stats.MAXIMUM,
            period=cdk.Duration.seconds(quality.alarm.period_seconds),
        )
        alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_name=config.quality_alarm_name,
            alarm_description=(
                f"{quality.metric} on labelled traffic of {config.endpoint_name} fell more than "
                f"{quality.tolerance:g} below the serving model's holdout figure: starts a retraining"
            ),
            metric=metric,
            threshold=quality.tolerance,
            evaluation_periods=quality.alarm.evaluation_periods,
            datapoints_to_alarm=quality.alarm.datapoints_to_alarm,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            # No labels in a period (or too few to judge) is not a quality problem.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        return metric, alarm

    def _retraining_rules(self, config: MlopsConfig, trigger: lambda_.IFunction) -> None:
        self.retrain_rule = events.Rule(
            self,
            "RetrainOnQualityAlarm",
            description="Starts a retraining when the quality alarm goes into ALARM",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[self.alarm.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
        )
        self.retrain_rule.add_target(self._target(trigger))

        # Alarms change state once; a problem that persists, or a trigger deferred behind a run in
        # flight, is picked up by this recheck (the trigger applies the cooldown and new-data guards).
        self.recheck = events.Rule(
            self,
            "Recheck",
            description="Re-examines persisting alarms and deferred retraining requests",
            schedule=events.Schedule.rate(cdk.Duration.minutes(config.retraining.recheck_minutes)),
        )
        self.recheck.add_target(
            targets.LambdaFunction(
                trigger,
                event=events.RuleTargetInput.from_object({"reason": "recheck"}),
                dead_letter_queue=self.dead_letters,
                retry_attempts=2,
            )
        )

    def _target(self, function: lambda_.IFunction) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            function, dead_letter_queue=self.dead_letters, retry_attempts=8, max_event_age=cdk.Duration.hours(24)
        )

    def _grant(self, config: MlopsConfig, buckets: DataBucketNames, prefixes: QualityPrefixes) -> None:
        role = self.function.role
        ground_truth = config.ground_truth.prefix
        # Labels are read; the joined batch is written to feedback/ and then validated exactly as an
        # upload is: read back by version and copied (with its tags) to curated or quarantine.
        s3_read(role, buckets.incoming, [ground_truth, prefixes.feedback], versions=True, tags=True)
        s3_write(role, buckets.incoming, [prefixes.feedback])
        s3_write(role, buckets.curated, [prefixes.snapshots], tags=True)
        s3_write(role, buckets.quarantine, [""], tags=True)
        s3_read(role, buckets.artifacts, [prefixes.capture, prefixes.reports])
        s3_write(role, buckets.artifacts, [prefixes.quality])
        put_metric_data(role, config.quality.metric_namespace)
        # endpoint -> endpoint config -> model: the serving model's threshold and holdout figures.
        read_serving_model(role, cdk.Stack.of(self), config.endpoint_name)
