"""An approval in the Model Registry starts a deploy-only run of the pipeline.

Where approval is manual, the pipeline registers a gate-passing challenger
``PendingManualApproval`` and ends. Approving it emits "SageMaker Model Package State Change"
(ModelApprovalStatus ``Approved``); the approval rule sends those of this stage's group here, and
the run started is ``{"reason": "approval", "deploy": {"modelPackageArn", "version"}}``: the
pipeline goes straight to its deployment phase, the same one a gate-approved challenger takes.
The run is named after the package and its last modification, so the repeated events SageMaker
may send for one change start one run.
"""

from __future__ import annotations

from functions.shared.contracts import ExecutionInput
from functions.trigger.executions import Executions
from functions.trigger.logic import TriggerResult, TriggerSettings, _skip, _start
from functions.trigger.models import ModelPackageStateChangeEvent
from functions.trigger.naming import approval_name

__all__ = ["SKIP_NOT_APPROVED", "SKIP_OTHER_GROUP", "on_approval"]

SKIP_NOT_APPROVED = "not_approved"
SKIP_OTHER_GROUP = "other_group"


def on_approval(event: ModelPackageStateChangeEvent, settings: TriggerSettings) -> TriggerResult:
    """Start the deployment of an approved package of this stage's group; skip anything else."""
    package = event.detail
    if not settings.model_package_group or package.ModelPackageGroupName != settings.model_package_group:
        return _skip(
            "approval",
            SKIP_OTHER_GROUP,
            None,
            f"package {package.ModelPackageArn} is not in this stage's group {settings.model_package_group!r}",
        )
    if package.ModelApprovalStatus != "Approved":
        return _skip(
            "approval",
            SKIP_NOT_APPROVED,
            None,
            f"package {package.ModelPackageArn} is {package.ModelApprovalStatus}: nothing to deploy",
            counted=False,
        )
    changed_at = str(package.LastModifiedTime or package.CreationTime or event.time.isoformat())
    name = approval_name(package.ModelPackageArn, changed_at)
    payload: ExecutionInput = {
        "reason": "approval",
        "deploy": {"modelPackageArn": package.ModelPackageArn, "version": package.ModelPackageVersion},
    }
    return _start(Executions(settings.state_machine_arn), "approval", name, payload)
