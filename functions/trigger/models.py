"""Pydantic models of the events the trigger accepts.

S3 "Object Created" events use Powertools' own ``S3EventNotificationEventBridgeModel``. Powertools
has no model for EventBridge's "CloudWatch Alarm State Change" (its ``CloudWatchAlarmEvent`` data
class is the different payload of a *Lambda alarm action*), so a small one lives here, following the
schema AWS documents for that event. Timestamps are kept as the verbatim strings AWS sent because
they feed deterministic execution names: re-formatting a parsed datetime could change the name of a
duplicate and start it twice.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AlarmState",
    "AlarmStateChangeDetail",
    "AlarmStateChangeEvent",
    "ManualRequest",
    "ModelPackageDetail",
    "ModelPackageStateChangeEvent",
]


class AlarmState(BaseModel):
    value: str = Field(description="OK | ALARM | INSUFFICIENT_DATA")
    reason: str = ""
    reasonData: str | None = None
    timestamp: str = Field(description="When the alarm entered this state, e.g. 2019-10-02T17:04:40.989+0000")


class AlarmStateChangeDetail(BaseModel):
    alarmName: str
    state: AlarmState
    previousState: AlarmState | None = None
    configuration: dict[str, Any] = Field(default_factory=dict)


class AlarmStateChangeEvent(EventBridgeModel):
    """EventBridge ``CloudWatch Alarm State Change`` (source ``aws.cloudwatch``)."""

    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmStateChangeDetail

    @property
    def alarm_arn(self) -> str:
        """The alarm's ARN: the event's only resource (the name alone is not unique across regions)."""
        if not self.resources:
            raise ValueError(f"alarm event for {self.detail.alarmName!r} carries no resource ARN")
        return self.resources[0]


class ManualRequest(BaseModel):
    """``{"reason": "manual", "bucket", "key"}`` from an operator (e.g. the ``mlops`` command).

    ``requestId`` makes a repeated manual request a new run on purpose; without it the Lambda's own
    request id is used, which AWS keeps across its automatic retries of one asynchronous invocation,
    so a retried invocation is still recognised as a duplicate.
    """

    model_config = ConfigDict(extra="forbid")

    reason: Literal["manual"]
    bucket: str = Field(min_length=3)
    key: str = Field(min_length=1)
    versionId: str | None = None
    etag: str | None = None
    requestId: str | None = None


class ModelPackageDetail(BaseModel):
    """The fields of a model package the trigger reads (the detail carries the whole description)."""

    model_config = ConfigDict(extra="allow")

    ModelPackageGroupName: str
    ModelPackageArn: str
    ModelApprovalStatus: str | None = None
    ModelPackageVersion: int | None = None
    LastModifiedTime: Any = None
    CreationTime: Any = None


class ModelPackageStateChangeEvent(EventBridgeModel):
    """EventBridge ``SageMaker Model Package State Change`` (source ``aws.sagemaker``): a package
    was registered or its approval status changed; ``detail`` is the package's description."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: ModelPackageDetail
