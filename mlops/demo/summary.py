"""What happened, read back from the (local) AWS APIs — the same calls work against real AWS.

The summary is built only from what the services report (executions, model packages, the
endpoint, capture objects, drift reports, alarm history), never from what the demo meant to do.
"""

from __future__ import annotations

import json
from typing import Any

from functions.shared.endpoint import endpoint_state  # the Lambdas' own lookup, on the demo's client
from mlops.local.cloud import LocalCloud
from mlops.local.outputs import StackOutputs as Resources  # the deployed names, shared with the backtest


def executions(cloud: LocalCloud, resources: Resources) -> list[dict[str, Any]]:
    """Every run, oldest first, with the state it ended in (``Deployed``, ``Superseded``,
    ``ModelRejected``, ``NotRetrained``, ``AwaitingApproval``, ...) and, for a run that reached the
    deployment, what the deployment decided and why."""
    sfn = cloud.client("stepfunctions")
    listed = [
        execution
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=resources.state_machine_arn)
        for execution in page["executions"]
    ]
    rows = []
    for item in sorted(listed, key=lambda e: e["startDate"]):
        description = sfn.describe_execution(executionArn=item["executionArn"])
        execution_input = json.loads(description.get("input") or "{}")
        stop = description.get("stopDate")
        end_state, decision = _end_state(sfn, item["executionArn"])
        rows.append(
            {
                "name": item["name"],
                "reason": execution_input.get("reason", "?"),
                "status": description["status"],
                "endState": end_state,
                "deployment": decision,
                "seconds": round((stop - description["startDate"]).total_seconds(), 1) if stop else None,
                "error": description.get("error"),
                "cause": (description.get("cause") or "")[:500] or None,
            }
        )
    return rows


def _end_state(sfn: Any, execution_arn: str) -> tuple[str | None, dict[str, Any] | None]:
    """The last state an execution entered, and the last deployment decision it took (if any)."""
    events = [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for event in page["events"]
    ]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    decision = None
    for event in events:
        exited = event.get("stateExitedEventDetails") or {}
        if exited.get("name") == "DecideDeployment":
            made = json.loads(exited.get("output") or "{}").get("decision") or {}
            decision = {
                "action": made.get("action"),
                "outcome": made.get("outcome"),
                "why": made.get("why"),
                "version": (made.get("challenger") or {}).get("version"),
                "servingVersion": (made.get("serving") or {}).get("version"),
            }
    return (entered[-1] if entered else None), decision


def model_versions(cloud: LocalCloud, resources: Resources) -> list[dict[str, Any]]:
    sagemaker = cloud.client("sagemaker")
    try:
        packages = sagemaker.list_model_packages(ModelPackageGroupName=resources.model_package_group, MaxResults=100)[
            "ModelPackageSummaryList"
        ]
    except sagemaker.exceptions.ClientError:
        return []
    rows = []
    for package in sorted(packages, key=lambda p: p.get("ModelPackageVersion", 0)):
        described = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
        metadata = described.get("CustomerMetadataProperties", {})
        metrics_uri = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
        metrics = _read_json(cloud, metrics_uri)
        evaluation = _read_json(cloud, metrics_uri.rsplit("/", 1)[0] + "/evaluation.json")
        rows.append(
            {
                "version": described.get("ModelPackageVersion"),
                "arn": described["ModelPackageArn"],
                "approval": described.get("ModelApprovalStatus"),
                "reason": metadata.get("reason"),
                "metrics": {k: metrics["challenger"][k] for k in ("roc_auc", "pr_auc", "f1", "accuracy")},
                "championMetrics": metrics.get("champion"),
                "trainingRows": metrics.get("rows", {}).get("train"),
                "holdout": {
                    "rows": (metrics.get("data") or {}).get("holdoutRows"),
                    "batches": (metrics.get("data") or {}).get("holdoutBatches"),
                    "rule": (metrics.get("data") or {}).get("holdoutRule"),
                },
                "gate": evaluation.get("reasons", []),
                "stage": metadata.get("stage"),
                "serving": metadata.get("serving") == "true",
                "servedSince": metadata.get("servedSince"),
                "servedUntil": metadata.get("servedUntil"),
            }
        )
    return rows


def _read_json(cloud: LocalCloud, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def endpoint(cloud: LocalCloud, resources: Resources) -> dict[str, Any] | None:
    served = endpoint_state(resources.endpoint_name, cloud.client("sagemaker"))
    if served is None:
        return None
    return {
        "name": served.name,
        "status": served.status,
        "endpointConfig": served.config_name,
        "model": served.model_name,
        "modelPackageArn": served.model_package_arn,
        "instanceType": served.variant.get("InstanceType"),
        "dataCapture": bool(served.config.get("DataCaptureConfig", {}).get("EnableCapture")),
    }


def serving_baseline(cloud: LocalCloud, resources: Resources) -> dict[str, Any]:
    """The drift baseline of the model the endpoint serves (its `MLOPS_BASELINE_URI`)."""
    served = endpoint_state(resources.endpoint_name, cloud.client("sagemaker"))
    if served is None or not served.baseline_uri:
        raise LookupError(f"endpoint {resources.endpoint_name!r} serves no model with a drift baseline")
    return _read_json(cloud, served.baseline_uri)


def count_objects(cloud: LocalCloud, bucket: str, prefix: str) -> int:
    paginator = cloud.client("s3").get_paginator("list_objects_v2")
    return sum(len(page.get("Contents", [])) for page in paginator.paginate(Bucket=bucket, Prefix=prefix))


def drift_reports(cloud: LocalCloud, resources: Resources) -> list[dict[str, Any]]:
    return _reports(cloud, resources.artifacts_bucket, "drift/")


def quality_reports(cloud: LocalCloud, resources: Resources) -> list[dict[str, Any]]:
    """The ground-truth function's reports, oldest first."""
    return _reports(cloud, resources.artifacts_bucket, "quality/")


def quality_window(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of a ground-truth report a person reads first."""
    quality = report.get("quality") or {}
    return {
        "status": report.get("status"),
        "joined": (report.get("labels") or {}).get("joined"),
        "metrics": quality,
        "qualityDrop": quality.get("qualityDrop"),
        "batch": (report.get("batch") or {}).get("datasetVersion"),
    }


def _reports(cloud: LocalCloud, bucket: str, prefix: str) -> list[dict[str, Any]]:
    s3 = cloud.client("s3")
    reports = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("report.json"):
                body = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                reports.append({"key": item["Key"], "modified": item["LastModified"].isoformat(), "report": body})
    return sorted(reports, key=lambda r: (r["modified"], r["key"]))


def alarm_history(cloud: LocalCloud, resources: Resources) -> list[dict[str, str]]:
    return [
        {"alarm": t.alarm_name, "from": t.previous, "to": t.current, "at": t.timestamp, "reason": t.reason}
        for t in cloud.alarms.transitions
        if t.alarm_name in resources.alarms
    ]
