"""Preflight against the local cloud, where moto implements the calls: SSM, Lambda layers, IAM, STS.

Service Quotas' ListServiceQuotas is not in moto, so that one client is a Stubber; every other
check makes its real boto3 call into the embedded AWS that `mlops local up` serves.
"""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from botocore.stub import Stubber

from mlops.deploy.facts import (
    BootstrapRequirement,
    FunctionFacts,
    InstanceFacts,
    LayerRef,
    MetricFacts,
    PathFacts,
    PipelineFacts,
    StageFacts,
)
from mlops.deploy.preflight import CANNOT_CHECK, FAILED, OK, format_checks, run_preflight
from mlops.local.cloud import LocalCloud
from mlops.local.constants import ACCOUNT_ID, REGION
from mlops.local.deployer import bootstrap

LAYER = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, ":lambda:", {"Ref": "AWS::Region"}, f":{ACCOUNT_ID}:layer:Tools:1"],
    ]
}
WEB_IDENTITY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com"},
        }
    ],
}


def stage_facts(required_bootstrap: int = 6) -> StageFacts:
    path = PathFacts(states=("A",), lambda_calls={}, sns_publishes=0, trains=True, deploys=True)
    return StageFacts(
        stacks=("s",),
        functions=(FunctionFacts("s/Drift", "drift", 512, "x86_64", schedule_minutes=(60.0,)),),
        pipeline=PipelineFacts(
            name="p",
            deploy=path,
            skip=None,
            wait_loops=(),
            training=InstanceFacts("ml.m5.large", 1),
            training_volume_gb=10,
            endpoint=(InstanceFacts("ml.m5.large", 1),),
            capture_percent=100,
            logs_every_transition=False,
            traced=False,
        ),
        alarms=(),
        dashboards=0,
        kms_keys=0,
        topics=0,
        metrics=MetricFacts(
            drift_per_run=16, drift_calls_per_run=1, quality_per_label_file=8, pipeline_per_execution=2
        ),
        retrain_on_upload=True,
        drift_function="s/Drift",
        drift_window_minutes=60,
        ground_truth_lookback_hours=24,
        image_tag="1.9-0-cpu-py3",
        bootstrap=BootstrapRequirement(required_bootstrap, "/cdk-bootstrap/hnb659fds/version"),
        layers=(LayerRef(stack="s", value=LAYER, functions=("drift",)),),
        images={REGION: {"trainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0"}},
    )


class LocalClients:
    """boto3 against the local cloud, with a stubbed Service Quotas client (moto lacks its listing)."""

    def __init__(self, quotas: dict[str, float]) -> None:
        self.session = boto3.Session(region_name=REGION)
        self.quotas = self.session.client("service-quotas", region_name=REGION)
        self.stubber = Stubber(self.quotas)
        self.stubber.add_response(
            "list_service_quotas",
            {
                "Quotas": [
                    {"QuotaName": name, "Value": value, "QuotaCode": f"L-{i}", "ServiceCode": "sagemaker"}
                    for i, (name, value) in enumerate(quotas.items())
                ]
            },
            {"ServiceCode": "sagemaker"},
        )
        self.stubber.activate()

    def client(self, service_name: str, region_name: str | None = None):
        if service_name == "service-quotas":
            return self.quotas
        return self.session.client(service_name, region_name=region_name)


ENOUGH = {"ml.m5.large for training job usage": 1, "ml.m5.large for endpoint usage": 2}


@pytest.fixture
def cloud():
    with LocalCloud() as local:
        yield local


def publish_layer() -> str:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("python/tools.py", "")
    return boto3.client("lambda", region_name=REGION).publish_layer_version(
        LayerName="Tools", Content={"ZipFile": archive.getvalue()}
    )["LayerVersionArn"]


def test_a_ready_account_passes_every_check(cloud):
    bootstrap()
    layer_arn = publish_layer()
    boto3.client("iam").create_role(RoleName="mlops-deploy", AssumeRolePolicyDocument=json.dumps(WEB_IDENTITY))
    result = run_preflight(stage_facts(), LocalClients(ENOUGH), region=REGION, role_name="mlops-deploy")
    assert result.account == ACCOUNT_ID
    assert [(c.name, c.status) for c in result.checks] == [
        ("CDK bootstrap", OK),
        ("layer Tools:1", OK),
        ("framework image", OK),
        ("quota: ml.m5.large for training job usage", OK),
        ("quota: ml.m5.large for endpoint usage", OK),
        ("OIDC deploy role", OK),
    ], format_checks(result.checks, stage="default", region=REGION, account=result.account)
    assert layer_arn in result.checks[1].detail
    assert result.checks[-1].detail == f"arn:aws:iam::{ACCOUNT_ID}:role/mlops-deploy"
    assert result.ok


def test_an_unprepared_account_fails_each_check_with_its_fix(cloud):
    # not bootstrapped, the layer not published, the role missing, the endpoint quota too small
    result = run_preflight(
        stage_facts(),
        LocalClients({**ENOUGH, "ml.m5.large for endpoint usage": 1}),
        region=REGION,
        role_name="mlops-deploy",
    )
    checks = {c.name: c for c in result.checks}
    assert checks["CDK bootstrap"].status == FAILED
    assert checks["CDK bootstrap"].fix == f"npx cdk bootstrap aws://{ACCOUNT_ID}/{REGION}"
    assert checks["layer Tools:1"].status == FAILED and "does not exist" in checks["layer Tools:1"].detail
    assert checks["quota: ml.m5.large for endpoint usage"].status == FAILED
    assert "--desired-value 2" in checks["quota: ml.m5.large for endpoint usage"].fix
    assert checks["OIDC deploy role"].status == FAILED and "does not exist" in checks["OIDC deploy role"].detail
    assert not result.ok


def test_an_old_bootstrap_and_a_role_without_oidc_trust_fail(cloud):
    bootstrap()  # the local cloud pretends to version 30
    publish_layer()
    boto3.client("iam").create_role(
        RoleName="mlops-deploy",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}
                ],
            }
        ),
    )
    result = run_preflight(
        stage_facts(required_bootstrap=31), LocalClients(ENOUGH), region=REGION, role_name="mlops-deploy"
    )
    checks = {c.name: c for c in result.checks}
    assert checks["CDK bootstrap"].status == FAILED and "version 30 < 31" in checks["CDK bootstrap"].detail
    assert checks["OIDC deploy role"].status == FAILED and "web identity" in checks["OIDC deploy role"].detail
    assert CANNOT_CHECK not in {c.status for c in result.checks}
