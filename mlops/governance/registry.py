"""The versions of a model package group as a person reviews them, and approval changes.

A version's row: approval, stage, whether it serves (the registry's ``serving`` mark, which the
deployment phase keeps; the endpoint's own answer is checked beside it), its holdout metrics (its
``metrics.json``), a lineage summary (why it was trained, on which window, from which run) and the
model card it links to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from functions.shared.endpoint import endpoint_state

__all__ = ["PIPELINE_STACK", "ModelVersion", "Registry", "RegistryError", "StackNames"]

PIPELINE_STACK = "{prefix}-pipeline"
_METRICS = ("roc_auc", "pr_auc", "f1", "accuracy")


class RegistryError(RuntimeError):
    """The stack, the group or a version is not what the command needs; the message says which."""


@dataclass(frozen=True)
class StackNames:
    """What the commands address, from the pipeline stack's outputs."""

    stack: str
    model_package_group: str
    endpoint_name: str
    state_machine_arn: str
    approval_mode: str

    @classmethod
    def from_stack(cls, cloudformation: Any, stack_name: str) -> StackNames:
        try:
            (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        except Exception as error:  # botocore's ClientError, or no stack in the local cloud
            raise RegistryError(f"cannot read stack {stack_name}: {error}") from error
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        missing = [k for k in ("ModelPackageGroupName", "EndpointName", "StateMachineArn") if k not in outputs]
        if missing:
            raise RegistryError(f"stack {stack_name} has no output {', '.join(missing)}: is it this project's?")
        return cls(
            stack=stack_name,
            model_package_group=outputs["ModelPackageGroupName"],
            endpoint_name=outputs["EndpointName"],
            state_machine_arn=outputs["StateMachineArn"],
            approval_mode=outputs.get("ApprovalMode", "auto"),
        )


@dataclass(frozen=True)
class ModelVersion:
    version: int
    arn: str
    approval: str
    stage: str | None
    serving: bool
    created: str
    metrics: dict[str, float] = field(default_factory=dict)
    lineage: dict[str, str] = field(default_factory=dict)
    served_since: str | None = None
    served_until: str | None = None
    model_card: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "arn": self.arn,
            "approval": self.approval,
            "stage": self.stage,
            "serving": self.serving,
            "created": self.created,
            "metrics": self.metrics,
            "lineage": self.lineage,
            "servedSince": self.served_since,
            "servedUntil": self.served_until,
            "modelCard": self.model_card,
        }


_LINEAGE_KEYS = ("reason", "trainingJob", "windowMode", "windowBatches", "windowRows", "newRows", "holdoutRows")


class Registry:
    """One model package group, through the SageMaker and S3 APIs."""

    def __init__(self, sagemaker: Any, s3: Any, names: StackNames) -> None:
        self._sagemaker = sagemaker
        self._s3 = s3
        self.names = names

    def versions(self) -> list[ModelVersion]:
        """Every version, oldest first."""
        paginator = self._sagemaker.get_paginator("list_model_packages")
        summaries = [
            summary
            for page in paginator.paginate(ModelPackageGroupName=self.names.model_package_group)
            for summary in page.get("ModelPackageSummaryList", [])
        ]
        rows = [self._row(s["ModelPackageArn"]) for s in summaries]
        return sorted(rows, key=lambda v: v.version)

    def version(self, number: int) -> ModelVersion:
        for candidate in self.versions():
            if candidate.version == number:
                return candidate
        raise RegistryError(f"model package group {self.names.model_package_group} has no version {number}")

    def serving_arn(self) -> str | None:
        """The package the endpoint serves, asked of the endpoint itself (None: nothing serves)."""
        state = endpoint_state(self.names.endpoint_name, self._sagemaker)
        if state is None or state.status not in {"InService", "Updating", "UpdateRollbackFailed"}:
            return None
        return state.model_package_arn

    def set_approval(self, number: int, status: str, note: str) -> ModelVersion:
        """Approve or reject one version (``note`` becomes its ApprovalDescription)."""
        target = self.version(number)
        self._sagemaker.update_model_package(
            ModelPackageArn=target.arn, ModelApprovalStatus=status, ApprovalDescription=note[:1024]
        )
        return self.version(number)

    def _row(self, arn: str) -> ModelVersion:
        described = self._sagemaker.describe_model_package(ModelPackageName=arn)
        metadata = described.get("CustomerMetadataProperties") or {}
        statistics = ((described.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
        metrics = self._metrics(statistics.get("S3Uri"))
        created = described.get("CreationTime")
        return ModelVersion(
            version=int(described.get("ModelPackageVersion", 0)),
            arn=arn,
            approval=str(described.get("ModelApprovalStatus", "?")),
            stage=metadata.get("stage"),
            serving=metadata.get("serving") == "true",
            created=created.isoformat() if hasattr(created, "isoformat") else str(created),
            metrics=metrics,
            lineage={k: metadata[k] for k in _LINEAGE_KEYS if k in metadata},
            served_since=metadata.get("servedSince"),
            served_until=metadata.get("servedUntil"),
            model_card=metadata.get("modelCard"),
        )

    def _metrics(self, uri: str | None) -> dict[str, float]:
        if not uri or not uri.startswith("s3://"):
            return {}
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            document = json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception:  # an unreadable report is shown as missing metrics, not a failed listing
            return {}
        challenger = document.get("challenger") or {}
        return {k: float(challenger[k]) for k in _METRICS if isinstance(challenger.get(k), int | float)}
