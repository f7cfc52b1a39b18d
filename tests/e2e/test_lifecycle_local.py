"""End to end through the local cloud: the synthesized templates deployed into moto, moto's
interpreter running the synthesized state machine, the real handlers, real (small) training runs,
the real inference code behind the endpoint, the drift function, the alarm and the retraining."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from moto.sns.models import sns_backends

from mlops.demo import summary, traffic
from mlops.demo.runner import DemoOptions, run_demo
from mlops.local.assembly import project_root
from mlops.local.cloud import LocalCloud
from mlops.local.constants import ACCOUNT_ID, REGION

pytestmark = pytest.mark.e2e

SAMPLE_ROWS = 2000


def test_demo_runs_the_whole_lifecycle_and_the_retrained_model_learns_the_new_labels(default_assembly, tmp_path):
    result = run_demo(
        DemoOptions(
            sample_rows=SAMPLE_ROWS,
            traffic_rows=300,
            work_dir=tmp_path / "work",
            out_dir=tmp_path / "out",
            assembly_dir=default_assembly.directory,
            json_path=tmp_path / "summary.json",
            quiet=True,
        )
    )
    report = result.summary
    assert result.ok, json.dumps(report["executions"], indent=1)

    reasons = [e["reason"] for e in report["executions"]]
    assert reasons[0] == "upload" and reasons[1] in {"drift", "quality"}, json.dumps(report["drift"], indent=1)
    assert all(e["status"] == "SUCCEEDED" for e in report["executions"])

    versions = report["modelVersions"]
    assert len(versions) >= 2
    assert [v["approval"] for v in versions[:2]] == ["Approved", "Approved"]
    # v2 was judged on the newest labelled rows (the concept-changed traffic), which neither model
    # was trained on, and beat v1 there.
    v2 = versions[1]
    assert v2["holdout"]["rows"] >= 200 and v2["holdout"]["rule"] == "newest rows unseen by the champion"
    assert v2["metrics"]["roc_auc"] > v2["championMetrics"]["roc_auc"] + 0.1

    # ground truth came back: two labelled windows, each a new batch; the second collapsed v1's quality
    quality = report["quality"]
    assert len(quality) == 2 and all(q["batch"] for q in quality)
    assert quality[0]["qualityDrop"] < 0.05 < quality[1]["qualityDrop"]

    served = report["endpoint"]
    assert served["status"] == "InService" and served["dataCapture"]
    assert served["modelPackageArn"] == versions[-1]["arn"], "the endpoint must serve the newest version"

    assert report["captureObjects"] > 0
    moves = [(t["alarm"].rsplit("-", 1)[-1], t["from"], t["to"]) for t in report["alarmTransitions"]]
    assert ("drift", "OK", "ALARM") in moves and ("quality", "OK", "ALARM") in moves
    verdicts = [d["verdict"] for d in report["drift"]]
    assert verdicts[0] == "no_drift" and "drift" in verdicts
    assert (tmp_path / "out" / "drift-report.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert json.loads((tmp_path / "summary.json").read_text())["endpoint"]["name"] == served["name"]


def test_impossible_gate_threshold_rejects_and_deploys_nothing(tmp_path):
    result = run_demo(
        DemoOptions(
            sample_rows=SAMPLE_ROWS,
            drift=False,
            work_dir=tmp_path / "work",
            out_dir=tmp_path / "out",
            context={"gate.thresholds.roc_auc": 0.999},
            quiet=True,
        )
    )
    report = result.summary
    assert [v["approval"] for v in report["modelVersions"]] == ["Rejected"]
    assert report["endpoint"] is None
    assert report["executions"][0]["status"] == "SUCCEEDED"


def test_bad_upload_is_quarantined_with_a_report_and_nothing_is_lost(default_assembly, tmp_path):
    root = project_root()
    rows = traffic.sample_rows(traffic.read_rows(root / "data" / "ai4i2020.csv"), 600, seed=3)
    column = "Torque [Nm]"
    rows[10] = {**rows[10], column: "not-a-number"}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    body = buffer.getvalue().encode()

    with LocalCloud(tmp_path) as cloud:
        deployment = cloud.deploy(default_assembly)
        resources = summary.Resources.from_outputs(deployment.outputs, "uploads/")
        s3 = cloud.client("s3")
        s3.put_object(Bucket=resources.incoming_bucket, Key="uploads/broken.csv", Body=body)
        cloud.drain_events()
        sfn = cloud.client("stepfunctions")
        [execution] = sfn.list_executions(stateMachineArn=resources.state_machine_arn)["executions"]
        described = cloud.wait_for_execution(execution["executionArn"], timeout=120)

        assert described["status"] == "FAILED"
        assert column in described["cause"]
        quarantined = s3.list_objects_v2(Bucket=deployment.output("QuarantineBucketName"))["Contents"]
        keys = [item["Key"] for item in quarantined]
        data_key = next(k for k in keys if k.endswith("uploads/broken.csv"))
        report_key = next(k for k in keys if k.endswith(".report.json"))
        assert s3.get_object(Bucket=deployment.output("QuarantineBucketName"), Key=data_key)["Body"].read() == body
        report = s3.get_object(Bucket=deployment.output("QuarantineBucketName"), Key=report_key)["Body"].read()
        assert column in report.decode()
        # the upload itself is still where it landed
        assert s3.get_object(Bucket=resources.incoming_bucket, Key="uploads/broken.csv")["Body"].read() == body
        # and the operators were told, through the pipeline's topic
        topic = sns_backends[ACCOUNT_ID][REGION].topics[deployment.output("NotificationsTopicArn")]
        assert any(column in message for _, message, *_ in topic.sent_notifications)


def _own_dataset(directory):
    """A dataset that is not AI4I: other columns, other types, another target."""
    rng = np.random.default_rng(11)
    rows = 1500
    segment = rng.choice(["basic", "plus", "pro"], size=rows, p=[0.5, 0.3, 0.2])
    tenure = rng.integers(1, 120, size=rows)
    spend = rng.gamma(2.0, 30.0, size=rows)
    logit = -1.5 + 0.04 * (60 - tenure) - 0.02 * (spend - 60) + np.where(segment == "basic", 1.2, 0.0)
    churned = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    data = directory / "churn.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer", "segment", "tenure_months", "monthly_spend", "churned"])
        for i in range(rows):
            writer.writerow([f"c{i:05d}", segment[i], tenure[i], f"{spend[i]:.2f}", churned[i]])
    schema = directory / "churn.schema.json"
    schema.write_text(
        json.dumps(
            {
                "name": "churn",
                "problemType": "binary_classification",
                "target": "churned",
                "positiveLabel": 1,
                "columns": [
                    {"name": "customer", "type": "string", "role": "id", "unique": True},
                    {"name": "segment", "type": "categorical", "categories": ["basic", "plus", "pro"]},
                    {"name": "tenure_months", "type": "integer", "min": 0, "max": 600},
                    {"name": "monthly_spend", "type": "float", "min": 0},
                    {"name": "churned", "type": "integer", "role": "target", "categories": [0, 1]},
                ],
                "quality": {"minRows": 200, "minPositiveFraction": 0.05, "maxPositiveFraction": 0.6},
            }
        )
    )
    return data, schema


def test_a_users_own_dataset_runs_through_the_same_system(tmp_path):
    data, schema = _own_dataset(tmp_path)
    result = run_demo(
        DemoOptions(
            data=data,
            schema=schema,
            traffic_rows=300,
            work_dir=tmp_path / "work",
            out_dir=tmp_path / "out",
            context={"gate.thresholds": {"roc_auc": 0.6, "pr_auc": 0.2}},
            quiet=True,
        )
    )
    report = result.summary
    assert result.ok and report["dataset"] == "churn"
    reasons = [e["reason"] for e in report["executions"]]
    assert reasons[0] == "upload" and reasons[1] in {"drift", "quality"}
    assert report["endpoint"]["modelPackageArn"] == report["modelVersions"][-1]["arn"]
    assert {"tenure_months", "monthly_spend"} & set(report["drift"][-1]["drifted"])
