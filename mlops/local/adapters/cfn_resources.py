"""CloudFormation resources moto cannot create, or creates only in part.

- `AWS::CloudWatch::Alarm`: moto's CloudFormation has no model for it; this one creates the alarm
  through moto's CloudWatch backend (so the alarm evaluator and DescribeAlarms see it).
- `AWS::S3::Bucket`: moto applies encryption and tags only; versioning, the public access block and
  the EventBridge notification switch (the native `NotificationConfiguration.EventBridgeConfiguration`)
  are applied here, so an upload really emits "Object Created" to EventBridge.
- `AWS::StepFunctions::StateMachine`: moto's CloudFormation puts state machines in the backend that
  does not execute; here they are created in the executing one (moto's ASL interpreter), which
  also validates the synthesized definition.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.s3.models import FakeBucket, s3_backends
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.models import stepfunctions_parser_backends


class CloudWatchAlarmResource(CloudFormationModel):
    """`AWS::CloudWatch::Alarm` backed by moto's CloudWatch alarm store."""

    def __init__(self, alarm: Any) -> None:
        self.alarm = alarm

    @property
    def physical_resource_id(self) -> str:
        return self.alarm.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.alarm.alarm_arn
        raise KeyError(attribute_name)

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> CloudWatchAlarmResource:
        properties = cloudformation_json["Properties"]
        backend = cloudwatch_backends[account_id][region_name]
        alarm = backend.put_metric_alarm(
            name=properties.get("AlarmName", resource_name),
            namespace=properties.get("Namespace"),
            metric_name=properties.get("MetricName"),
            comparison_operator=properties["ComparisonOperator"],
            evaluation_periods=int(properties["EvaluationPeriods"]),
            period=int(properties.get("Period", 60)),
            threshold=float(properties.get("Threshold", 0)),
            statistic=properties.get("Statistic"),
            description=properties.get("AlarmDescription", ""),
            dimensions=properties.get("Dimensions", []),
            alarm_actions=properties.get("AlarmActions", []),
            datapoints_to_alarm=int(properties["DatapointsToAlarm"]) if "DatapointsToAlarm" in properties else None,
            extended_statistic=properties.get("ExtendedStatistic"),
            ok_actions=properties.get("OKActions", []),
            insufficient_data_actions=properties.get("InsufficientDataActions", []),
            unit=properties.get("Unit"),
            actions_enabled=properties.get("ActionsEnabled", True) in (True, "true", "True"),
            treat_missing_data=properties.get("TreatMissingData"),
        )
        # CloudWatch starts a new alarm in INSUFFICIENT_DATA until its first evaluation (moto says OK).
        alarm.state_value = "INSUFFICIENT_DATA"
        alarm.state_reason = "Unchecked: Initial alarm creation"
        return cls(alarm)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> CloudWatchAlarmResource:
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


def _bucket_with_all_properties(resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
                                region_name: str, **kwargs: Any) -> FakeBucket:
    bucket = _ORIGINAL_BUCKET_CREATE.__func__(FakeBucket, resource_name, cloudformation_json, account_id,
                                              region_name, **kwargs)
    properties = cloudformation_json.get("Properties", {})
    backend = s3_backends[account_id]["aws"]
    status = properties.get("VersioningConfiguration", {}).get("Status")
    if status:
        backend.put_bucket_versioning(bucket.name, status)
    block = properties.get("PublicAccessBlockConfiguration")
    if block:
        backend.put_public_access_block(bucket.name, {k: str(v).lower() == "true" for k, v in block.items()})
    event_bridge = properties.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
    if str(event_bridge.get("EventBridgeEnabled", "false")).lower() == "true":
        backend.put_bucket_notification_configuration(bucket.name, {"EventBridgeConfiguration": {}})
    return bucket


_ORIGINAL_BUCKET_CREATE = FakeBucket.create_from_cloudformation_json
_ORIGINAL_SFN_BACKENDS = sfn_models.stepfunctions_backends


def _refresh_model_registry() -> None:
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


def install() -> None:
    FakeBucket.create_from_cloudformation_json = classmethod(
        lambda cls, *args, **kwargs: _bucket_with_all_properties(*args, **kwargs)
    )
    # moto's StateMachine CloudFormation code looks up this module global at call time.
    sfn_models.stepfunctions_backends = stepfunctions_parser_backends
    _refresh_model_registry()


def uninstall() -> None:
    FakeBucket.create_from_cloudformation_json = _ORIGINAL_BUCKET_CREATE
    sfn_models.stepfunctions_backends = _ORIGINAL_SFN_BACKENDS
    _refresh_model_registry()
