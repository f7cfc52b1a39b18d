"""The monitoring stack: drift and model quality, their alarms and retraining rules, the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.dashboard import MlopsDashboard
from infra.constructs.drift_monitoring import DriftMonitoring
from infra.constructs.lambda_functions import lambda_code_asset
from infra.constructs.pipeline_state_machine import VARIANT_NAME
from infra.constructs.quality_monitoring import QualityMonitoring
from infra.dataset import read_dataset_facts
from infra.naming import DataBucketNames
from infra.stacks.pipeline_stack import PIPELINE_METRICS_NAMESPACE

__all__ = ["MonitoringStack"]


class MonitoringStack(cdk.Stack):
    """Watches the endpoint for drift and turns a drift alarm into a retraining run."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MlopsConfig,
        project_root: Path,
        buckets: DataBucketNames,
        trigger: lambda_.IFunction,
        topic: sns.ITopic,
        state_machine: sfn.IStateMachine,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=config.stack_name("monitoring"),
            description="MLOps monitoring: drift and quality checks, their alarms -> retraining, dashboard",
            **kwargs,
        )
        schema_path = config.schema_path(project_root)
        dataset = read_dataset_facts(schema_path)
        # A code asset belongs to one stack: this stack bundles the same files again (a file copy).
        code = lambda_code_asset(project_root=project_root, schema_path=schema_path)
        self.drift = DriftMonitoring(
            self,
            "DriftMonitoring",
            config=config,
            code=code,
            project_root=project_root,
            artifacts=buckets.artifacts,
            trigger=trigger,
            topic=topic,
        )
        self.quality = QualityMonitoring(
            self,
            "QualityMonitoring",
            config=config,
            dataset_name=dataset.name,
            code=code,
            project_root=project_root,
            buckets=buckets,
            trigger=trigger,
            topic=topic,
        )
        dashboard_name = f"{config.prefix}-{config.model_name}"
        self.dashboard = MlopsDashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            model_name=config.model_name,
            endpoint_name=config.endpoint_name,
            variant_name=VARIANT_NAME,
            drift_namespace=config.drift.metric_namespace,
            pipeline_namespace=PIPELINE_METRICS_NAMESPACE,
            features=dataset.features,
            drift_alarm=self.drift.alarm,
            state_machine=state_machine,
            quality_namespace=config.quality.metric_namespace,
            quality_alarm=self.quality.alarm,
        )
        self._outputs(config, dashboard_name)

    def _outputs(self, config: MlopsConfig, dashboard_name: str) -> None:
        for output_id, value in {
            "DriftFunctionName": self.drift.function.function.function_name,
            "DriftAlarmName": self.drift.alarm.alarm_name,
            "DriftAlarmArn": self.drift.alarm.alarm_arn,
            "DriftScheduleRuleName": self.drift.schedule.rule_name,
            "RetrainRuleName": self.drift.retrain_rule.rule_name,
            "GroundTruthFunctionName": self.quality.function.function.function_name,
            "GroundTruthRuleName": self.quality.ground_truth_rule.rule_name,
            "GroundTruthPrefix": config.ground_truth.prefix,
            "QualityAlarmName": self.quality.alarm.alarm_name,
            "QualityRetrainRuleName": self.quality.retrain_rule.rule_name,
            "RecheckScheduleRuleName": self.quality.recheck.rule_name,
            "DashboardName": dashboard_name,
        }.items():
            cdk.CfnOutput(self, output_id, value=value)
