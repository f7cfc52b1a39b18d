"""``mlops preflight``: will this stage deploy into this account and region? Read-only checks.

Each check answers one question a failed ``cdk deploy`` would otherwise answer an hour later, and
says how to fix it: is the account bootstrapped recently enough for the assembly; does every layer
the functions name exist at that version in the region; is the framework image published there; do
the SageMaker quotas allow the training job and the endpoint (twice its instances: UpdateEndpoint
is blue/green); does the OIDC deploy role exist. Only ``Get``/``List``/``Describe`` calls are made.

A check that cannot run (no credentials, access denied, service unreachable) is reported as
"cannot check" with the reason, never as a pass and never as a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from mlops.deploy.facts import InstanceFacts, StageFacts
from mlops.deploy.template import Placement, Unresolvable, resolve

__all__ = [
    "CANNOT_CHECK",
    "FAILED",
    "NOT_APPLICABLE",
    "OK",
    "Check",
    "ClientFactory",
    "PreflightResult",
    "check_account",
    "check_bootstrap",
    "check_deploy_role",
    "check_image",
    "check_layers",
    "check_quotas",
    "format_checks",
    "quota_needs",
    "run_preflight",
]

OK = "pass"
FAILED = "FAIL"
CANNOT_CHECK = "cannot check"
NOT_APPLICABLE = "n/a"  # nothing to check for this stage; not a failure


class ClientFactory(Protocol):
    """What preflight needs of a ``boto3.Session``: clients (tests pass stubbed ones)."""

    def client(self, service_name: str, region_name: str | None = None) -> Any: ...


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK | FAILED | CANNOT_CHECK
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (OK, NOT_APPLICABLE)


@dataclass(frozen=True)
class QuotaNeed:
    """A SageMaker quota by name and the instances the stage needs under it."""

    quota_name: str
    needed: int
    why: str


@dataclass(frozen=True)
class PreflightResult:
    """The checks in table order; the caller's account, or ``None`` with ``problem`` saying why
    (no region, no working credentials)."""

    checks: list[Check]
    account: str | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def run_preflight(
    facts: StageFacts,
    clients: ClientFactory,
    *,
    region: str | None,
    role_name: str | None = None,
    stage: str | None = None,
    expected_account: str | None = None,
) -> PreflightResult:
    """All checks for ``facts`` in ``region``; ``stage`` names the stage (``None``: the default one)
    and ``expected_account`` the account it pins, if any.

    Without a region or working credentials the checks that need AWS are "cannot check" with a
    short reason, and the offline one (the image table) still runs.
    """
    account: str | None = None
    short, problem = "no region", "no region: pass --region, set the stage's region in cdk.json, or set AWS_REGION"
    if region:
        try:
            account = str(clients.client("sts", region_name=region).get_caller_identity()["Account"])
        except (BotoCoreError, ClientError) as error:
            problem = _reason(error)
            short = "no AWS credentials" if isinstance(error, NoCredentialsError) else problem
    placement = Placement(region=region or "", account=account)

    def online(names: list[str], run: Callable[[], list[Check]]) -> list[Check]:
        if account is None:
            return [Check(name, CANNOT_CHECK, short) for name in names]
        try:
            return run()
        except Exception as error:  # one broken check must not hide the others' answers
            return [Check(name, CANNOT_CHECK, f"unexpected {type(error).__name__}: {error}") for name in names]

    layer_names = [_layer_label(arn) for arn in _layer_arns(facts, Placement(region=region or "us-east-1"))[0]]
    needs = quota_needs(facts)
    checks: list[Check] = []
    if expected_account is not None:
        checks += online(["AWS account"], lambda: [check_account(account or "", expected_account, stage)])
    checks += online(
        ["CDK bootstrap"], lambda: [check_bootstrap(clients.client("ssm", region_name=region), facts, placement)]
    )
    checks += online(
        layer_names or ["Lambda layers"],
        lambda: check_layers(clients.client("lambda", region_name=region), facts, placement),
    )
    checks.append(check_image(facts, region) if region else Check("framework image", CANNOT_CHECK, short))
    checks += online(
        [f"quota: {need.quota_name}" for need in needs],
        lambda: check_quotas(clients.client("service-quotas", region_name=region), needs, placement.region),
    )
    checks += online(
        ["OIDC deploy role"], lambda: [check_deploy_role(clients, facts, placement, role_name, stage=stage)]
    )
    return PreflightResult(checks=checks, account=account, problem=None if account else problem)


def _reason(error: Exception) -> str:
    """One line saying why a call failed, without a traceback."""
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: set AWS_PROFILE or pass --profile, run `aws sso login`, or export AWS_ACCESS_KEY_ID"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'error')}: {details.get('Message', str(error))}".rstrip(": ")
    return str(error)


def _denied(error: Exception) -> bool:
    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
    return "AccessDenied" in code or code in {
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
    }


def _unavailable(name: str, error: Exception, action: str) -> Check:
    fix = f"allow {action} (read-only) for the caller" if _denied(error) else ""
    return Check(name, CANNOT_CHECK, _reason(error), fix)


# -- account -----------------------------------------------------------------------------------------
def check_account(account: str, expected: str, stage: str | None) -> Check:
    """The credentials are for the account the stage pins: otherwise every other answer is about
    the wrong account."""
    if account == expected:
        return Check("AWS account", OK, f"{account}, as mlops.stages.{stage}.account pins")
    return Check(
        "AWS account",
        FAILED,
        f"the credentials are for {account}, stage {stage!r} deploys to {expected}",
        f"use credentials (or --profile) for account {expected}",
    )


# -- CDK bootstrap -----------------------------------------------------------------------------------
def check_bootstrap(ssm: Any, facts: StageFacts, placement: Placement) -> Check:
    name = "CDK bootstrap"
    if facts.bootstrap is None:
        return Check(name, OK, "the assembly requires no bootstrap version")
    required, parameter = facts.bootstrap.version, facts.bootstrap.parameter
    fix = f"npx cdk bootstrap aws://{placement.account}/{placement.region}"
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return Check(name, FAILED, f"not bootstrapped: {parameter} does not exist", fix)
        return _unavailable(name, error, "ssm:GetParameter")
    except BotoCoreError as error:
        return _unavailable(name, error, "ssm:GetParameter")
    try:
        version = int(value)
    except ValueError:
        return Check(name, FAILED, f"{parameter} holds {value!r}, not a version number", fix)
    if version < required:
        return Check(
            name,
            FAILED,
            f"version {version} < {required} required by the assembly ({parameter})",
            f"{fix} (with the CDK CLI pinned in package.json)",
        )
    return Check(name, OK, f"version {version} >= {required} required ({parameter})")


# -- Lambda layers -----------------------------------------------------------------------------------
def _layer_arns(facts: StageFacts, placement: Placement) -> tuple[dict[str, list[str]], list[Check]]:
    """Resolved layer ARN -> functions using it, and a failed check per layer with no ARN here."""
    arns: dict[str, list[str]] = {}
    failures: list[Check] = []
    for layer in facts.layers:
        try:
            arn = str(resolve(layer.value, placement, facts.mappings.get(layer.stack, {})))
        except Unresolvable as error:
            failures.append(
                Check(
                    f"Lambda layer of {', '.join(layer.functions)}",
                    FAILED,
                    f"no layer ARN for {placement.region}: {error}",
                    f"deploy to a region infra/data/lambda_layers.json lists, or add {placement.region} "
                    "there from the layers' published tables",
                )
            )
            continue
        arns.setdefault(arn, [])
        arns[arn] += [f for f in layer.functions if f not in arns[arn]]
    return arns, failures


def _layer_label(arn: str) -> str:
    return "layer " + ":".join(arn.split(":")[-2:])


def check_layers(lambda_client: Any, facts: StageFacts, placement: Placement) -> list[Check]:
    """Each distinct layer version exists in the region.

    ``GetLayerVersion`` with the layer's ARN as its name is the same read as
    ``GetLayerVersionByArn`` (same ``lambda:GetLayerVersion`` permission, same answer, public layers
    of other accounts included); the local cloud implements it, so the check is tested there.
    """
    arns, checks = _layer_arns(facts, placement)
    for arn, functions in arns.items():
        name = _layer_label(arn)
        layer_arn, _, version = arn.rpartition(":")
        used_by = f"used by {len(functions)} function(s)"
        try:
            lambda_client.get_layer_version(LayerName=layer_arn, VersionNumber=int(version))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                checks.append(
                    Check(
                        name,
                        FAILED,
                        f"{arn} does not exist ({used_by})",
                        f"pick a version its publisher has released in {placement.region}: set it in "
                        "infra/data/lambda_layers.json and cdk.json (mlops.lambda.*LayerVersion)",
                    )
                )
            else:  # AccessDenied: the caller may not read it, or the layer is not public (a deploy would fail)
                checks.append(_unavailable(name, error, "lambda:GetLayerVersion"))
            continue
        except (BotoCoreError, ValueError) as error:
            checks.append(_unavailable(name, error, "lambda:GetLayerVersion"))
            continue
        checks.append(Check(name, OK, f"{arn} exists ({used_by})"))
    return checks


# -- framework image ---------------------------------------------------------------------------------
def check_image(facts: StageFacts, region: str) -> Check:
    """The image table synthesized from the SageMaker SDK (infra/constructs/framework_image.py) has
    the region: otherwise ``Fn::FindInMap`` fails the deployment on a missing key."""
    name = "framework image"
    tag = facts.image_tag or "?"
    if not facts.images:
        return Check(name, FAILED, "the templates hold no framework image table", "synthesize with infra/app.py")
    row = facts.images.get(region)
    if row is None:
        return Check(
            name,
            FAILED,
            f"sagemaker-scikit-learn:{tag} is not published in {region}",
            f"deploy to a region that has it ({len(facts.images)} do, e.g. "
            f"{', '.join(sorted(facts.images)[:4])}) or choose a mlops.training.frameworkVersion "
            f"published in {region}",
        )
    return Check(name, OK, row["trainingImage"])


# -- SageMaker quotas --------------------------------------------------------------------------------
def quota_needs(facts: StageFacts) -> list[QuotaNeed]:
    """The instance quotas the stage needs: one training job at a time (the trigger keeps one run
    in flight), and twice the endpoint's instances (UpdateEndpoint brings up the new fleet beside
    the old one before it switches)."""
    training: InstanceFacts = facts.pipeline.training
    needs = [
        QuotaNeed(f"{training.instance_type} for training job usage", training.count, "one training job at a time")
    ]
    endpoint: dict[str, int] = {}
    for variant in facts.pipeline.endpoint:
        endpoint[variant.instance_type] = endpoint.get(variant.instance_type, 0) + variant.count
    for instance_type, count in endpoint.items():
        needs.append(
            QuotaNeed(
                f"{instance_type} for endpoint usage",
                2 * count,
                f"{count} serving + {count} during a blue/green update",
            )
        )
    return needs


def check_quotas(quotas_client: Any, needs: Iterable[QuotaNeed], region: str) -> list[Check]:
    needs = list(needs)
    tables: dict[str, dict[str, tuple[float, str]]] = {}

    def table(kind: str) -> dict[str, tuple[float, str]]:
        if kind not in tables:
            operation = "list_service_quotas" if kind == "applied" else "list_aws_default_service_quotas"
            tables[kind] = _quota_table(quotas_client, operation)
        return tables[kind]

    checks: list[Check] = []
    for need in needs:
        name = f"quota: {need.quota_name}"
        try:
            found = table("applied").get(need.quota_name) or table("default").get(need.quota_name)
        except (BotoCoreError, ClientError) as error:
            checks.append(_unavailable(name, error, "servicequotas:ListServiceQuotas"))
            continue
        if found is None:
            checks.append(
                Check(
                    name,
                    FAILED,
                    f"no such quota in {region}: the instance type is not offered there",
                    "choose an instance type SageMaker offers in this region (cdk.json mlops.training / "
                    "mlops.serving instanceType)",
                )
            )
            continue
        value, code = found
        detail = f"{value:g} >= {need.needed} needed ({need.why})"
        if value < need.needed:
            checks.append(
                Check(
                    name,
                    FAILED,
                    detail.replace(">=", "<"),
                    f"aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code {code} "
                    f"--desired-value {need.needed} --region {region}",
                )
            )
        else:
            checks.append(Check(name, OK, detail))
    return checks


def _quota_table(client: Any, operation: str) -> dict[str, tuple[float, str]]:
    values: dict[str, tuple[float, str]] = {}
    call: Callable[..., Mapping[str, Any]] = getattr(client, operation)
    token: str | None = None
    while True:
        page = call(ServiceCode="sagemaker", **({"NextToken": token} if token else {}))
        for quota in page.get("Quotas", []):
            values[str(quota["QuotaName"])] = (float(quota["Value"]), str(quota.get("QuotaCode", "")))
        token = page.get("NextToken")
        if not token:
            return values


# -- OIDC deploy role --------------------------------------------------------------------------------
def check_deploy_role(
    clients: ClientFactory, facts: StageFacts, placement: Placement, role_name: str | None, *, stage: str | None = None
) -> Check:
    """The role CI assumes through OIDC exists and trusts a web identity provider.

    A stage's role is ``infra/bootstrap``'s (``<prefix>-github-deploy``); the default stage has none
    (it is deployed with one's own credentials), unless ``--role-name`` names one or the app itself
    defines a role trusted through web identity.
    """
    name = "OIDC deploy role"
    if stage is not None:
        deploy_fix = (
            f'npx cdk deploy --app "python -m infra.bootstrap" -c stage={stage} '
            "-c githubRepository=OWNER/REPO (with administrator credentials)"
        )
    elif facts.deploy_roles:
        deploy_fix = f"npx cdk deploy {facts.deploy_roles[0].stack} (with credentials that may create IAM roles)"
    else:
        deploy_fix = "create the role, or check a stage instead (--stage NAME)"
    try:
        role_name = role_name or _role_from_app(clients, facts, placement)
    except (BotoCoreError, ClientError) as error:
        return _unavailable(name, error, "cloudformation:DescribeStackResource")
    if role_name is None:
        if stage is None and not facts.deploy_roles:
            return Check(
                name,
                NOT_APPLICABLE,
                "the default stage deploys with your own credentials; a stage's CI "
                "deploys through its OIDC role (--stage NAME)",
            )
        return Check(name, FAILED, "no deploy role: the app defines none and the stage names none", deploy_fix)
    try:
        role = clients.client("iam", region_name=placement.region).get_role(RoleName=role_name)["Role"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return Check(name, FAILED, f"role {role_name} does not exist", deploy_fix)
        return _unavailable(name, error, "iam:GetRole")
    except BotoCoreError as error:
        return _unavailable(name, error, "iam:GetRole")
    if not _trusts_web_identity(role.get("AssumeRolePolicyDocument")):
        return Check(
            name,
            FAILED,
            f"{role['Arn']} does not trust a web identity (OIDC) provider",
            "give it a trust policy with sts:AssumeRoleWithWebIdentity for the CI's OIDC provider",
        )
    return Check(name, OK, str(role["Arn"]))


def _role_from_app(clients: ClientFactory, facts: StageFacts, placement: Placement) -> str | None:
    for ref in facts.deploy_roles:
        if ref.role_name is not None:
            try:
                return str(resolve(ref.role_name, placement, facts.mappings.get(ref.stack, {})))
            except Unresolvable:
                pass
        # A generated name is known only to CloudFormation: the deployed stack's physical ID.
        cloudformation = clients.client("cloudformation", region_name=placement.region)
        try:
            resource = cloudformation.describe_stack_resource(StackName=ref.stack, LogicalResourceId=ref.logical_id)
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise
        return str(resource["StackResourceDetail"]["PhysicalResourceId"])
    return None


def _trusts_web_identity(document: Any) -> bool:
    if isinstance(document, str):  # IAM returns the policy URL-encoded; boto3 usually decodes it
        document = json.loads(unquote(document))
    statements = (document or {}).get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        if "sts:AssumeRoleWithWebIdentity" in ([actions] if isinstance(actions, str) else actions):
            return True
    return False


# -- the table ---------------------------------------------------------------------------------------
def format_checks(checks: list[Check], *, stage: str, region: str | None, account: str | None) -> str:
    where = f"account {account}" if account else "account unknown"
    region = region or "no region"
    width = max([len(check.name) for check in checks] + [5])
    lines = [f"Preflight of stage {stage!r} in {region} ({where})", "", f"{'check':<{width}}  {'result':<12}  detail"]
    for check in checks:
        lines.append(f"{check.name:<{width}}  {check.status:<12}  {check.detail}")
        if check.fix and not check.ok:
            lines.append(f"{'':<{width}}  {'':<12}  fix: {check.fix}")
    passed = sum(check.status == OK for check in checks)
    failed = sum(check.status == FAILED for check in checks)
    unknown = sum(check.status == CANNOT_CHECK for check in checks)
    skipped = sum(check.status == NOT_APPLICABLE for check in checks)
    summary = f"{len(checks)} checks: {passed} passed, {failed} failed, {unknown} could not be checked"
    lines += ["", summary + (f", {skipped} not applicable" if skipped else "")]
    return "\n".join(lines)
