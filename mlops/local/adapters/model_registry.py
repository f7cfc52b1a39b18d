"""The SageMaker Model Registry as it behaves in AWS: updates that change only what they name, and
the "SageMaker Model Package State Change" event.

moto's ``UpdateModelPackage`` sets every field it was not given to ``None`` — an update of the
metadata erases the approval status, an approval erases the lineage — and SageMaker's EventBridge
events do not exist in moto. Here:

- ``UpdateModelPackage`` changes the approval status (and its description) only when given one,
  adds or overwrites the given ``CustomerMetadataProperties`` keys and removes the keys of
  ``CustomerMetadataPropertiesToRemove``, as the API documents them (hence the separate remove list).
- ``CreateModelPackage`` and every ``UpdateModelPackage`` that changes the approval status put a
  ``SageMaker Model Package State Change`` event (source ``aws.sagemaker``) on the default bus,
  whose ``detail`` is the package as DescribeModelPackage shows it (``ModelPackageGroupName``,
  ``ModelPackageVersion``, ``ModelPackageArn``, ``ModelApprovalStatus``, ``CreationTime``, ...) and
  whose ``resources`` is the package's ARN. Rules on that pattern (the production approval rule)
  then fire as they would in AWS.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from moto.events.models import events_backends
from moto.sagemaker.models import ModelPackage, SageMakerModelBackend

from mlops.local.adapters.patches import PatchPoint, PatchSet

__all__ = ["PATCH_POINTS", "STATE_CHANGE", "install", "state_change_event", "uninstall"]

STATE_CHANGE = "SageMaker Model Package State Change"

UPDATE_MODEL_PACKAGE = PatchPoint(
    SageMakerModelBackend, "update_model_package", "moto erases every field an update does not name; no event"
)
CREATE_MODEL_PACKAGE = PatchPoint(SageMakerModelBackend, "create_model_package", "moto emits no state-change event")
PATCH_POINTS = (UPDATE_MODEL_PACKAGE, CREATE_MODEL_PACKAGE)
# Taken before any install: creation, and the error for an unknown package, stay moto's own.
_ORIGINAL_UPDATE: Any = UPDATE_MODEL_PACKAGE.original()
_ORIGINAL_CREATE: Any = CREATE_MODEL_PACKAGE.original()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def state_change_event(package: ModelPackage) -> dict[str, Any]:
    """The PutEvents entry SageMaker emits for a package's state change."""
    return {
        "Source": "aws.sagemaker",
        "DetailType": STATE_CHANGE,
        "Resources": [package.arn],
        "Detail": json.dumps(_jsonable(package.gen_response_object())),
    }


def _emit(backend: SageMakerModelBackend, package: ModelPackage) -> None:
    events_backends[backend.account_id][backend.region_name].put_events([state_change_event(package)])


def _update(
    backend: SageMakerModelBackend,
    model_package_arn: str,
    model_approval_status: str | None,
    approval_description: str | None,
    customer_metadata_properties: dict[str, str] | None,
    customer_metadata_properties_to_remove: list[str] | None,
    additional_inference_specifications_to_add: list[Any] | None,
) -> str:
    name = backend.model_package_name_mapping.get(model_package_arn, model_package_arn)
    package = backend.model_packages.get(name)
    if package is None:
        # moto's own error for an unknown package, raised by its implementation
        return str(_ORIGINAL_UPDATE(backend, model_package_arn, None, None, None, [], None))
    changed = False
    if model_approval_status is not None:
        changed = model_approval_status != package.model_approval_status
        package.set_model_approval_status(model_approval_status)
        package.approval_description = approval_description
    if customer_metadata_properties:
        package.customer_metadata_properties = {
            **(package.customer_metadata_properties or {}),
            **customer_metadata_properties,
        }
    if customer_metadata_properties_to_remove and package.customer_metadata_properties:
        for key in customer_metadata_properties_to_remove:
            package.customer_metadata_properties.pop(key, None)
    if additional_inference_specifications_to_add:
        package.add_additional_inference_specifications(additional_inference_specifications_to_add)
    package.modifications_done()
    if changed:
        _emit(backend, package)
    return str(package.arn)


def _create(backend: SageMakerModelBackend, *args: Any, **kwargs: Any) -> str:
    arn = str(_ORIGINAL_CREATE(backend, *args, **kwargs))
    name = backend.model_package_name_mapping.get(arn, arn)
    package = backend.model_packages.get(name)
    if package is not None:
        _emit(backend, package)
    return arn


_PATCHES = PatchSet([(UPDATE_MODEL_PACKAGE, _update), (CREATE_MODEL_PACKAGE, _create)])


def install() -> None:
    _PATCHES.install()


def uninstall() -> None:
    _PATCHES.uninstall()
