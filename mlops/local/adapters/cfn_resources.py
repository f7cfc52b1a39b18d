"""CloudFormation resources moto cannot create, or creates only in part.

- `AWS::CloudWatch::Alarm`: moto's CloudFormation has no model for it; this one creates the alarm
  through moto's CloudWatch backend (so the alarm evaluator and DescribeAlarms see it).
- `AWS::SageMaker::ModelPackageGroup`, `AWS::SNS::TopicPolicy`, `AWS::SQS::QueuePolicy`,
  `AWS::Lambda::EventInvokeConfig`: no model in moto either; each is created through the service's
  own API call. `AWS::S3::BucketPolicy` is accepted but not applied (see its class).
- `AWS::KMS::Key`: moto reads `Tags` in the KMS API's shape (TagKey/TagValue) instead of
  CloudFormation's (Key/Value) and fails; the tags are reshaped before moto sees them.
- `AWS::S3::Bucket`: moto applies encryption and tags only; versioning, the public access block and
  the EventBridge notification switch (the native `NotificationConfiguration.EventBridgeConfiguration`)
  are applied here, so an upload really emits "Object Created" to EventBridge.
- `AWS::StepFunctions::StateMachine`: moto's CloudFormation puts state machines in the backend that
  does not execute; here they are created in the executing one (moto's ASL interpreter), which
  also validates the synthesized definition.

moto lists the resource types it can create from ``CloudFormationModel.__subclasses__()``, so a
subclass registers itself for good the moment its class statement runs. The types here are
therefore *not* CloudFormationModel subclasses (they implement the interface the parser calls);
``install`` adds them to moto's model list (``parsing.get_model_list``) and ``uninstall`` takes
them out again, clearing the parser's caches both ways.
"""

from __future__ import annotations

import functools
import json
from typing import Any, cast

import boto3
from moto.cloudformation import parsing
from moto.cloudwatch.models import cloudwatch_backends
from moto.kms.models import Key as KmsKey
from moto.s3.models import FakeBucket, s3_backends
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions import responses as _sfn_api  # noqa: F401 - bind its backend name before any patch
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from mlops.local.adapters.patches import PatchPoint, PatchSet
from mlops.local.constants import ACCOUNT_ID


class _ApiBackedResource:
    """A resource type moto's CloudFormation lacks, created by one call to the service's API.

    The part of moto's CloudFormationModel interface its parser calls, without being a subclass:
    a subclass would be in moto's model list from import on, whether or not the adapter is installed."""

    TYPE = ""
    NAME_PROPERTY = ""

    def __init__(self, physical_id: str, attributes: dict[str, str] | None = None) -> None:
        self._physical_id = physical_id
        self._attributes = attributes or {}

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self._attributes[attribute_name]

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _ApiBackedResource:
        return cls.create(resource_name, cloudformation_json.get("Properties", {}), region_name)

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> _ApiBackedResource:
        raise NotImplementedError

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> _ApiBackedResource:
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None


def _optional(properties: dict[str, Any], name: str) -> str:
    """A property a metric-math alarm omits: moto stores None for it, though it types the argument str."""
    return cast(str, properties.get(name))


class CloudWatchAlarmResource(_ApiBackedResource):
    """`AWS::CloudWatch::Alarm` backed by moto's CloudWatch alarm store (so the evaluator sees it)."""

    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> _ApiBackedResource:
        alarm = cloudwatch_backends[ACCOUNT_ID][region].put_metric_alarm(
            name=properties.get("AlarmName", name),
            namespace=_optional(properties, "Namespace"),
            metric_name=_optional(properties, "MetricName"),
            comparison_operator=properties["ComparisonOperator"],
            evaluation_periods=int(properties["EvaluationPeriods"]),
            period=int(properties.get("Period", 60)),
            threshold=float(properties.get("Threshold", 0)),
            statistic=_optional(properties, "Statistic"),
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
        return cls(alarm.name, {"Arn": alarm.alarm_arn})

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


class ModelPackageGroupResource(_ApiBackedResource):
    TYPE = "AWS::SageMaker::ModelPackageGroup"
    NAME_PROPERTY = "ModelPackageGroupName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> _ApiBackedResource:
        request: dict[str, Any] = {"ModelPackageGroupName": properties.get("ModelPackageGroupName", name)}
        if properties.get("ModelPackageGroupDescription"):
            request["ModelPackageGroupDescription"] = properties["ModelPackageGroupDescription"]
        if properties.get("Tags"):
            request["Tags"] = properties["Tags"]
        arn = boto3.client("sagemaker", region_name=region).create_model_package_group(**request)[
            "ModelPackageGroupArn"
        ]
        return cls(arn, {"ModelPackageGroupArn": arn, "CreationTime": "", "ModelPackageGroupStatus": "Completed"})


class BucketPolicyResource(_ApiBackedResource):
    """Accepted, not applied: moto evaluates bucket-policy statements without their conditions,
    so the TLS-only Deny (`aws:SecureTransport` false) would deny every request."""

    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> _ApiBackedResource:
        return cls(properties["Bucket"])


class TopicPolicyResource(_ApiBackedResource):
    TYPE = "AWS::SNS::TopicPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> _ApiBackedResource:
        sns = boto3.client("sns", region_name=region)
        for topic in properties["Topics"]:
            sns.set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(properties["PolicyDocument"])
            )
        return cls(name)


class QueuePolicyResource(_ApiBackedResource):
    TYPE = "AWS::SQS::QueuePolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> _ApiBackedResource:
        sqs = boto3.client("sqs", region_name=region)
        for queue_url in properties["Queues"]:
            sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
            )
        return cls(name)


class EventInvokeConfigResource(_ApiBackedResource):
    TYPE = "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> _ApiBackedResource:
        request = {
            key: properties[key]
            for key in ("FunctionName", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
            if key in properties
        }
        boto3.client("lambda", region_name=region).put_function_event_invoke_config(**request)
        return cls(name)


def _kms_key_with_cloudformation_tags(
    resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
) -> Any:
    properties = cloudformation_json.get("Properties", {})
    if properties.get("Tags"):
        properties = {**properties, "Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties["Tags"]]}
        cloudformation_json = {**cloudformation_json, "Properties": properties}
    return _ORIGINAL_KMS_CREATE.__func__(KmsKey, resource_name, cloudformation_json, account_id, region_name, **kwargs)


def _bucket_with_all_properties(
    resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
) -> FakeBucket:
    bucket = _ORIGINAL_BUCKET_CREATE.__func__(
        FakeBucket, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
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


LOCAL_TYPES: tuple[type[_ApiBackedResource], ...] = (
    CloudWatchAlarmResource,
    ModelPackageGroupResource,
    BucketPolicyResource,
    TopicPolicyResource,
    QueuePolicyResource,
    EventInvokeConfigResource,
)

BUCKET_CREATE = PatchPoint(
    FakeBucket, "create_from_cloudformation_json", "moto ignores versioning, public-access block and EventBridge"
)
KMS_CREATE = PatchPoint(KmsKey, "create_from_cloudformation_json", "moto reads CloudFormation tags in the API's shape")
SFN_BACKENDS = PatchPoint(
    sfn_models, "stepfunctions_backends", "CloudFormation state machines must run on the ASL interpreter backend"
)
MODEL_LIST = PatchPoint(parsing, "get_model_list", "moto's CloudFormation has no model for the local types")
PATCH_POINTS = (BUCKET_CREATE, KMS_CREATE, SFN_BACKENDS, MODEL_LIST)
# Taken before any install: the classmethods as found in the classes' __dict__ (call `.__func__`),
# and moto's cached model list, which the installed list extends.
_ORIGINAL_BUCKET_CREATE: Any = BUCKET_CREATE.original()
_ORIGINAL_KMS_CREATE: Any = KMS_CREATE.original()
_ORIGINAL_MODEL_LIST: Any = MODEL_LIST.original()


@functools.lru_cache
def _model_list_with_local_types() -> list[Any]:
    """moto's model list and the local types, last so they win a type moto also lists (as the
    subclasses defined after moto's did). Cached like moto's: the parser's maps are built from it."""
    return [*_ORIGINAL_MODEL_LIST(), *LOCAL_TYPES]


_PATCHES = PatchSet(
    [
        (MODEL_LIST, _model_list_with_local_types),
        (BUCKET_CREATE, classmethod(lambda cls, *args, **kwargs: _bucket_with_all_properties(*args, **kwargs))),
        (KMS_CREATE, classmethod(lambda cls, *args, **kwargs: _kms_key_with_cloudformation_tags(*args, **kwargs))),
        # moto's StateMachine CloudFormation code looks up this module global at call time (the API
        # module, imported above, has already bound its own reference to the original).
        (SFN_BACKENDS, stepfunctions_parser_backends),
    ]
)


def _refresh_model_registry() -> None:
    """Forget the parser's type maps, which were built from whichever model list was installed."""
    for cached in (
        _ORIGINAL_MODEL_LIST,
        _model_list_with_local_types,
        parsing.get_model_list,
        parsing.get_model_map,
        parsing.get_name_type_map,
    ):
        cached.cache_clear()


def install() -> None:
    _PATCHES.install()
    _refresh_model_registry()


def uninstall() -> None:
    _PATCHES.uninstall()
    _refresh_model_registry()
