"""Preflight checks with botocore's Stubber: each answer AWS can give becomes the right row and fix.

Service Quotas is not in the local cloud (moto does not implement ListServiceQuotas), so its check is
pinned down here; the checks moto does implement are also exercised against the local cloud in
tests/integration/deploy.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import boto3
import pytest
from botocore.exceptions import NoCredentialsError
from botocore.stub import Stubber

from mlops.deploy.facts import (
    BootstrapRequirement,
    FunctionFacts,
    InstanceFacts,
    LayerRef,
    MetricFacts,
    PathFacts,
    PipelineFacts,
    RoleRef,
    StageFacts,
)
from mlops.deploy.preflight import (
    CANNOT_CHECK,
    FAILED,
    NOT_APPLICABLE,
    OK,
    check_bootstrap,
    check_deploy_role,
    check_layers,
    check_quotas,
    format_checks,
    quota_needs,
    run_preflight,
)
from mlops.deploy.template import Placement

REGION = "eu-west-1"
HERE = Placement(REGION, account="111122223333")
LAYER = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, ":lambda:", {"Ref": "AWS::Region"}, ":017000801446:layer:Tools:37"],
    ]
}
LAYER_ARN = "arn:aws:lambda:eu-west-1:017000801446:layer:Tools:37"
TRUST_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
        }
    ],
}
TRUST = quote(json.dumps(TRUST_DOCUMENT))  # IAM's wire format: URL-encoded JSON


def make_facts(**changes) -> StageFacts:
    path = PathFacts(states=("A", "B"), lambda_calls={}, sns_publishes=0, trains=True, deploys=True)
    values = dict(
        stacks=("s",),
        functions=(FunctionFacts("s/Drift", "drift", 512, "x86_64", schedule_minutes=(60.0,)),),
        pipeline=PipelineFacts(
            name="p",
            deploy=path,
            skip=None,
            wait_loops=(),
            training=InstanceFacts("ml.m5.large", 1),
            training_volume_gb=10,
            endpoint=(InstanceFacts("ml.m5.large", 2),),
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
        bootstrap=BootstrapRequirement(6, "/cdk-bootstrap/hnb659fds/version"),
        layers=(LayerRef(stack="s", value=LAYER, functions=("drift", "plan")),),
        images={
            "us-east-1": {"trainingImage": "x/sagemaker-scikit-learn:1.9-0-cpu-py3"},
            REGION: {"trainingImage": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1.9-0-cpu-py3"},
        },
    )
    return StageFacts(**{**values, **changes})


def client(service: str):
    return boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


class Clients:
    """A stand-in for boto3.Session that hands out the given (stubbed) clients."""

    def __init__(self, **clients) -> None:
        self.clients = {name.replace("_", "-"): c for name, c in clients.items()}

    def client(self, service_name: str, region_name: str | None = None):
        return self.clients[service_name]


# -- quotas ------------------------------------------------------------------------------------------
def quota(name: str, value: float, code: str) -> dict:
    return {"QuotaName": name, "Value": value, "QuotaCode": code, "ServiceCode": "sagemaker"}


def test_quota_needs_are_one_training_job_and_twice_the_endpoint_for_blue_green_updates():
    needs = {need.quota_name: need.needed for need in quota_needs(make_facts())}
    assert needs == {"ml.m5.large for training job usage": 1, "ml.m5.large for endpoint usage": 4}


def test_quotas_across_pages_pass_or_fail_with_the_increase_request_to_make():
    quotas = client("service-quotas")
    with Stubber(quotas) as stub:
        stub.add_response(
            "list_service_quotas",
            {"Quotas": [quota("ml.m5.large for training job usage", 2, "L-TRAIN")], "NextToken": "t"},
            {"ServiceCode": "sagemaker"},
        )
        stub.add_response(
            "list_service_quotas",
            {"Quotas": [quota("ml.m5.large for endpoint usage", 2, "L-ENDP")]},
            {"ServiceCode": "sagemaker", "NextToken": "t"},
        )
        training, endpoint = check_quotas(quotas, quota_needs(make_facts()), REGION)
        stub.assert_no_pending_responses()
    assert (training.status, training.detail) == (OK, "2 >= 1 needed (one training job at a time)")
    assert endpoint.status == FAILED and endpoint.detail.startswith("2 < 4 needed")
    assert endpoint.fix == (
        "aws service-quotas request-service-quota-increase --service-code sagemaker "
        "--quota-code L-ENDP --desired-value 4 --region eu-west-1"
    )


def test_a_quota_never_applied_is_read_from_the_defaults_and_an_unknown_type_fails():
    quotas = client("service-quotas")
    needs = quota_needs(
        make_facts(
            pipeline=PipelineFacts(**{**make_facts().pipeline.__dict__, "endpoint": (InstanceFacts("ml.q9.huge", 1),)})
        )
    )
    with Stubber(quotas) as stub:
        stub.add_response("list_service_quotas", {"Quotas": []}, {"ServiceCode": "sagemaker"})
        stub.add_response(
            "list_aws_default_service_quotas",
            {"Quotas": [quota("ml.m5.large for training job usage", 0, "L-TRAIN")]},
            {"ServiceCode": "sagemaker"},
        )
        training, endpoint = check_quotas(quotas, needs, REGION)
    assert training.status == FAILED and "--desired-value 1" in training.fix  # a new account's 0
    assert endpoint.status == FAILED and "not offered" in endpoint.detail


def test_quotas_that_cannot_be_read_say_which_permission_is_missing():
    quotas = client("service-quotas")
    with Stubber(quotas) as stub:
        stub.add_client_error("list_service_quotas", "AccessDeniedException", "not allowed")
        (training, endpoint) = check_quotas(quotas, quota_needs(make_facts()), REGION)
    assert training.status == CANNOT_CHECK and "AccessDeniedException" in training.detail
    assert "servicequotas:ListServiceQuotas" in training.fix
    # the failed listing is not retried for the second quota
    assert endpoint.status == CANNOT_CHECK


# -- bootstrap, layers, role ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "status", "text"),
    [
        ({"Parameter": {"Name": "p", "Value": "30", "Type": "String"}}, OK, "version 30 >= 6"),
        ({"Parameter": {"Name": "p", "Value": "5", "Type": "String"}}, FAILED, "version 5 < 6"),
        ("ParameterNotFound", FAILED, "not bootstrapped"),
        ("AccessDeniedException", CANNOT_CHECK, "AccessDeniedException"),
    ],
)
def test_bootstrap_version_against_the_assembly_s_requirement(answer, status, text):
    ssm = client("ssm")
    with Stubber(ssm) as stub:
        if isinstance(answer, str):
            stub.add_client_error("get_parameter", answer, "msg")
        else:
            stub.add_response("get_parameter", answer, {"Name": "/cdk-bootstrap/hnb659fds/version"})
        check = check_bootstrap(ssm, make_facts(), HERE)
    assert check.status == status and text in check.detail
    if status == FAILED:
        assert check.fix.startswith("npx cdk bootstrap aws://111122223333/eu-west-1")


def test_each_layer_is_looked_up_by_its_arn_in_the_region():
    lambda_client = client("lambda")
    expected = {"LayerName": LAYER_ARN.rsplit(":", 1)[0], "VersionNumber": 37}
    with Stubber(lambda_client) as stub:
        stub.add_response("get_layer_version", {"LayerVersionArn": LAYER_ARN, "Version": 37}, expected)
        (found,) = check_layers(lambda_client, make_facts(), HERE)
        stub.add_client_error("get_layer_version", "ResourceNotFoundException", "not found", expected_params=expected)
        (missing,) = check_layers(lambda_client, make_facts(), HERE)
    assert (found.name, found.status) == ("layer Tools:37", OK) and "used by 2 function(s)" in found.detail
    assert missing.status == FAILED and LAYER_ARN in missing.detail and "LayerVersion" in missing.fix


def test_a_layer_with_no_arn_for_the_region_fails_without_a_call():
    mapped = LayerRef(
        stack="s", value={"Fn::FindInMap": ["Layers", {"Ref": "AWS::Region"}, "arn"]}, functions=("drift",)
    )
    facts = make_facts(layers=(mapped,), mappings={"s": {"Layers": {"us-east-1": {"arn": "x"}}}})
    (check,) = check_layers(object(), facts, HERE)
    assert check.status == FAILED and "no layer ARN for eu-west-1" in check.detail


def test_the_deploy_role_named_by_the_app_or_by_config_must_exist_and_trust_oidc():
    iam = client("iam")
    role = {
        "Role": {
            "Path": "/",
            "RoleName": "deploy-eu-west-1",
            "RoleId": "AROAEXAMPLEEXAMPLE1",
            "Arn": "arn:aws:iam::111122223333:role/deploy-eu-west-1",
            "CreateDate": "2026-01-01",
            "AssumeRolePolicyDocument": TRUST,
        }
    }
    name = {"Fn::Join": ["", ["deploy-", {"Ref": "AWS::Region"}]]}
    from_app = make_facts(deploy_roles=(RoleRef("s-oidc", "Role", name),))
    with Stubber(iam) as stub:
        stub.add_response("get_role", role, {"RoleName": "deploy-eu-west-1"})
        found = check_deploy_role(Clients(iam=iam), from_app, HERE, None)
        stub.add_client_error("get_role", "NoSuchEntity", "no role", expected_params={"RoleName": "ci"})
        missing = check_deploy_role(Clients(iam=iam), from_app, HERE, "ci")
        stub.add_client_error(
            "get_role", "NoSuchEntity", "no role", expected_params={"RoleName": "mlops-prod-github-deploy"}
        )
        stage_missing = check_deploy_role(
            Clients(iam=iam), make_facts(), HERE, "mlops-prod-github-deploy", stage="prod"
        )
        plain = quote(json.dumps({"Statement": [{"Action": "sts:AssumeRole"}]}))
        untrusting = {"Role": {**role["Role"], "AssumeRolePolicyDocument": plain}}
        stub.add_response("get_role", untrusting, {"RoleName": "deploy-eu-west-1"})
        wrong = check_deploy_role(Clients(iam=iam), from_app, HERE, None)
    assert (found.status, found.detail) == (OK, "arn:aws:iam::111122223333:role/deploy-eu-west-1")
    assert missing.status == FAILED and missing.fix.startswith("npx cdk deploy s-oidc")
    assert wrong.status == FAILED and "web identity" in wrong.detail
    assert stage_missing.status == FAILED
    assert stage_missing.fix.startswith('npx cdk deploy --app "python -m infra.bootstrap" -c stage=prod')
    # the default stage is deployed with one's own credentials: no role to check, and no failure
    nothing = check_deploy_role(Clients(), make_facts(), HERE, None)
    assert nothing.status == NOT_APPLICABLE and nothing.ok and "--stage" in nothing.detail
    unnamed = check_deploy_role(Clients(), make_facts(), HERE, None, stage="prod")
    assert unnamed.status == FAILED


def test_a_generated_role_name_is_read_from_the_deployed_stack():
    iam, cloudformation = client("iam"), client("cloudformation")
    facts = make_facts(deploy_roles=(RoleRef("s-oidc", "Role", None),))
    with Stubber(iam) as iam_stub, Stubber(cloudformation) as cfn_stub:
        cfn_stub.add_response(
            "describe_stack_resource",
            {
                "StackResourceDetail": {
                    "LogicalResourceId": "Role",
                    "PhysicalResourceId": "s-oidc-Role-ABC",
                    "ResourceType": "AWS::IAM::Role",
                    "LastUpdatedTimestamp": "2026-01-01",
                    "ResourceStatus": "CREATE_COMPLETE",
                }
            },
            {"StackName": "s-oidc", "LogicalResourceId": "Role"},
        )
        iam_stub.add_response(
            "get_role",
            {
                "Role": {
                    "Path": "/",
                    "RoleName": "s-oidc-Role-ABC",
                    "RoleId": "AROAEXAMPLEEXAMPLE1",
                    "CreateDate": "2026-01-01",
                    "Arn": "arn:aws:iam::111122223333:role/s-oidc-Role-ABC",
                    "AssumeRolePolicyDocument": TRUST,
                }
            },
            {"RoleName": "s-oidc-Role-ABC"},
        )
        check = check_deploy_role(Clients(iam=iam, cloudformation=cloudformation), facts, HERE, None)
    assert check.status == OK and check.detail.endswith("role/s-oidc-Role-ABC")


# -- the whole run -------------------------------------------------------------------------------------
class NoCredentials:
    def client(self, service_name: str, region_name: str | None = None):
        class Sts:
            def get_caller_identity(self):
                raise NoCredentialsError()

        return Sts()


def test_without_credentials_every_online_check_says_why_and_the_offline_one_still_runs():
    result = run_preflight(make_facts(), NoCredentials(), region=REGION)
    assert result.account is None and result.problem.startswith("no AWS credentials: set AWS_PROFILE")
    statuses = {check.name: (check.status, check.detail) for check in result.checks}
    assert list(statuses) == [
        "CDK bootstrap",
        "layer Tools:37",
        "framework image",
        "quota: ml.m5.large for training job usage",
        "quota: ml.m5.large for endpoint usage",
        "OIDC deploy role",
    ]
    assert statuses["framework image"][0] == OK
    assert all(
        value == (CANNOT_CHECK, "no AWS credentials") for name, value in statuses.items() if name != "framework image"
    )
    assert not result.ok


def test_without_a_region_nothing_is_checked():
    result = run_preflight(make_facts(), NoCredentials(), region=None)
    assert {check.status for check in result.checks} == {CANNOT_CHECK} and "pass --region" in result.problem


def test_an_image_missing_in_the_region_fails_with_where_it_exists():
    facts = make_facts(images={"us-east-1": {"trainingImage": "x"}})
    result = run_preflight(facts, NoCredentials(), region=REGION)
    image = next(check for check in result.checks if check.name == "framework image")
    assert image.status == FAILED and "not published in eu-west-1" in image.detail and "us-east-1" in image.fix


def test_an_unexpected_error_in_one_check_leaves_the_others_standing():
    class Broken:
        def client(self, service_name: str, region_name: str | None = None):
            if service_name == "sts":
                return type("Sts", (), {"get_caller_identity": lambda self: {"Account": "111122223333"}})()
            raise RuntimeError(f"{service_name} exploded")

    result = run_preflight(make_facts(), Broken(), region=REGION, role_name="ci")
    assert result.account == "111122223333"
    assert {c.name: c.status for c in result.checks}["framework image"] == OK
    assert all("exploded" in c.detail for c in result.checks if c.name != "framework image")


def test_the_table_shows_each_check_its_result_and_the_fix():
    result = run_preflight(make_facts(images={}), NoCredentials(), region=REGION)
    text = format_checks(result.checks, stage="prod", region=REGION, account=None)
    assert text.splitlines()[0] == "Preflight of stage 'prod' in eu-west-1 (account unknown)"
    assert "framework image" in text and "fix: synthesize" in text
    assert text.splitlines()[-1] == "6 checks: 0 passed, 1 failed, 5 could not be checked"


class Account:
    def __init__(self, account: str) -> None:
        self.account = account

    def client(self, service_name: str, region_name: str | None = None):
        account = self.account

        class Sts:
            def get_caller_identity(self):
                return {"Account": account}

        if service_name != "sts":
            raise RuntimeError("not needed here")
        return Sts()


def test_credentials_for_another_account_than_the_stage_pins_fail_first():
    result = run_preflight(
        make_facts(),
        Account("999999999999"),
        region=REGION,
        stage="prod",
        expected_account="111122223333",
        role_name="r",
    )
    first = result.checks[0]
    assert (first.name, first.status) == ("AWS account", FAILED)
    assert "999999999999" in first.detail and "111122223333" in first.fix
    same = run_preflight(
        make_facts(),
        Account("111122223333"),
        region=REGION,
        stage="prod",
        expected_account="111122223333",
        role_name="r",
    )
    assert same.checks[0].status == OK
    unpinned = run_preflight(make_facts(), Account("111122223333"), region=REGION, stage="dev", role_name="r")
    assert unpinned.checks[0].name == "CDK bootstrap"
