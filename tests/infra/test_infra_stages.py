"""Deployment stages (``mlops.stages`` in cdk.json, selected with ``-c stage=NAME``).

Without a stage the app is exactly the local cloud's (other modules test it). With one, the stage's
overrides apply, its prefix names every stack, its account and region become the stacks'
environment, and each region gets its own layer and image ARNs. A bad stage setting fails before
any stack is built, with a message naming the setting, through ``build_app`` and through the CDK CLI.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cfnlint.api import ManualArgs, lint
from infra_helpers import PROJECT_ROOT

from infra import app as app_module
from infra.app import build_app, cdk_json_context
from infra.config import ConfigError, load_stage, parse_config, parse_stages, select_stage
from infra.constructs.framework_image import resolve_image_table
from infra.constructs.lambda_functions import layer_table

ACCOUNT = "123456789012"
# Two regions whose AWS SDK for pandas layers come from different publishers and versions.
# (ap-south-2 would too, but the CDK's region data has no SageMaker model package groups there, and
# synthesis for it fails on that, naming the resource type.)
REGIONS = ("eu-west-1", "eu-south-1")
UNITS = ("Data", "Pipeline", "Monitoring")


def _mlops() -> dict[str, Any]:
    return copy.deepcopy(cdk_json_context()["mlops"])


def _prod(**settings: Any) -> dict[str, Any]:
    """Context overrides selecting stage prod with ``settings`` merged into its entry."""
    return {"stage": "prod", "mlops": {"stages": {"prod": settings}}}


# --- configuration: no synthesis ------------------------------------------------------------------


def test_cdk_json_defines_dev_and_prod_with_their_own_names() -> None:
    stages = parse_stages(_mlops())
    assert sorted(stages) == ["dev", "prod"]
    base = parse_config(_mlops())
    for name, stage in stages.items():
        assert stage.config.prefix == f"{base.prefix}-{name}"
        assert stage.config.model_name == f"{base.model_name}-{name}"
        assert stage.config.stack_name("data") == f"mlops-{name}-data"
        assert stage.github_environment == name
    assert (stages["dev"].approval, stages["prod"].approval) == ("auto", "manual")


def test_stage_overrides_deep_merge_into_the_configuration() -> None:
    base = parse_config(_mlops())
    prod = load_stage(PROJECT_ROOT / "cdk.json", "prod").config
    assert prod.retraining.cooldown_minutes == 240 != base.retraining.cooldown_minutes
    assert prod.serving.initial_instance_count == 2
    # What the stage does not override is the base value.
    assert prod.gate.thresholds == base.gate.thresholds
    assert prod.drift.window_minutes == base.drift.window_minutes


def test_a_stage_may_set_its_own_names() -> None:
    value = _mlops()
    value["stages"]["prod"]["overrides"]["prefix"] = "ml-live"
    value["stages"]["prod"]["overrides"]["modelName"] = "failure-live"
    prod = select_stage(value, "prod").config
    assert (prod.prefix, prod.model_name) == ("ml-live", "failure-live")


def _stage_error(change: dict[str, Any], name: str = "prod") -> str:
    value = _mlops()
    value["stages"][name] = {**value["stages"][name], **change}
    with pytest.raises(ConfigError) as error:
        parse_config(value)
    return str(error.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"region": "mars-1"}, "mlops.stages.prod.region"),
        ({"region": 1}, "mlops.stages.prod.region"),
        ({"account": "12345"}, "mlops.stages.prod.account"),
        ({"account": 123456789012}, "mlops.stages.prod.account"),
        ({"approval": "sometimes"}, "mlops.stages.prod.approval"),
        ({"regoin": "eu-west-1"}, "mlops.stages.prod: unknown key(s) 'regoin'"),
        ({"overrides": []}, "mlops.stages.prod.overrides"),
        (
            {"overrides": {"retraining": {"cooldownMinutes": -1}}},
            "mlops.stages.prod.overrides.retraining.cooldownMinutes",
        ),
        ({"overrides": {"serving": {"instanceTyp": "ml.m5.large"}}}, "mlops.stages.prod.overrides.serving"),
        (
            {"overrides": {"gate": {"thresholds": {"roc_auc": 2}}}},
            "mlops.stages.prod.overrides.gate.thresholds.roc_auc",
        ),
        ({"overrides": {"drift": {"alarm": {"datapointsToAlarm": 5}}}}, "mlops.stages.prod.overrides.drift.alarm"),
        ({"overrides": {"prefix": "Bad_Prefix"}}, "mlops.stages.prod.overrides.prefix"),
        ({"overrides": {"stages": {}}}, "mlops.stages.prod.overrides.stages"),
        ({"overrides": {"prefix": "mlops-dev"}}, "mlops.stages.prod.overrides.prefix"),
        ({"overrides": {"modelName": "ai4i-failure-dev"}}, "mlops.stages.prod.overrides.modelName"),
    ],
)
def test_a_bad_stage_setting_is_named(change: dict[str, Any], named: str) -> None:
    assert named in _stage_error(change)


def test_stage_names_are_checked() -> None:
    value = _mlops()
    value["stages"]["Prod!"] = value["stages"].pop("prod")
    with pytest.raises(ConfigError, match=r"mlops\.stages\.Prod!"):
        parse_config(value)


def test_a_derived_prefix_that_grows_too_long_is_named() -> None:
    value = _mlops()
    value["prefix"] = "a-twenty-char-prefix"
    with pytest.raises(ConfigError, match=r"mlops\.stages\.dev\.overrides\.prefix"):
        parse_config(value)


def test_an_unknown_stage_is_named() -> None:
    with pytest.raises(ConfigError, match=r"context 'stage': 'qa' is not a stage of mlops.stages \(dev, prod\)"):
        select_stage(_mlops(), "qa")
    with pytest.raises(ConfigError, match="context 'stage'"):
        build_app({"stage": "qa"})


def test_build_app_fails_on_a_bad_stage_before_any_stack_exists() -> None:
    with pytest.raises(ConfigError, match=r"mlops\.stages\.prod\.region: 'mars-1'"):
        build_app(_prod(region="mars-1"))


def test_a_region_without_the_managed_layers_is_named() -> None:
    table = layer_table(parse_config(_mlops()).lambda_)
    missing = sorted(set(table.powertools) - set(table.sdk_pandas))
    assert missing, "the layer table should have a region with Powertools but no AWS SDK for pandas"
    with pytest.raises(ConfigError, match=rf"mlops\.stages\.prod\.region: '{missing[0]}' lacks"):
        build_app(_prod(region=missing[0]))


def test_a_region_without_the_framework_image_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "resolve_image_table", lambda *_: {})
    with pytest.raises(ConfigError, match=r"mlops\.stages\.prod\.region: 'eu-west-1' has no SageMaker scikit-learn"):
        build_app(_prod(region="eu-west-1"))


def test_the_cdk_cli_reports_a_bad_stage_setting_by_name(tmp_path: Path) -> None:
    """``npx cdk synth -c stage=prod`` with a bad prod setting: the CLI fails with the key's name."""
    cli = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        pytest.skip("the pinned CDK CLI is not installed (npm ci)")
    value = _mlops()
    value["stages"]["prod"]["overrides"]["retraining"] = {"cooldownMinutes": "soon"}
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true", "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    env.pop("CDK_CONTEXT_JSON", None)
    completed = subprocess.run(
        [
            str(cli),
            "synth",
            "--no-notices",
            "-c",
            "stage=prod",
            "-c",
            f"mlops={json.dumps(value)}",
            "--output",
            str(tmp_path / "cdk.out"),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode != 0
    output = completed.stdout + completed.stderr
    assert "mlops.stages.prod.overrides.retraining.cooldownMinutes" in output, output[-2000:]
    assert "Traceback" not in output
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


# --- synthesis of stage prod in two regions -------------------------------------------------------


@dataclass
class StagedApp:
    app: cdk.App
    outdir: Path
    region: str
    stacks: dict[str, cdk.Stack]
    templates: dict[str, dict[str, Any]]

    def functions(self) -> dict[str, dict[str, Any]]:
        found = {}
        for unit in ("Pipeline", "Monitoring"):
            for resource in self.templates[unit]["Resources"].values():
                if resource["Type"] == "AWS::Lambda::Function":
                    found[resource["Properties"]["FunctionName"].removeprefix("mlops-prod-")] = resource["Properties"]
        return found


def _evaluate(value: Any, template: dict[str, Any], region: str, account: str) -> Any:
    """A value as CloudFormation resolves it in ``region``/``account`` (the intrinsics used here)."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and argument.startswith("AWS::"):
            return {
                "AWS::Region": region,
                "AWS::AccountId": account,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }[argument]
        if function == "Fn::FindInMap":
            name, key1, key2 = (_evaluate(part, template, region, account) for part in argument)
            return template["Mappings"][name][key1][key2]
        if function == "Fn::Join":
            delimiter, parts = argument
            return delimiter.join(str(_evaluate(part, template, region, account)) for part in parts)
    if isinstance(value, list):
        return [_evaluate(item, template, region, account) for item in value]
    return value


@pytest.fixture(scope="module", params=REGIONS)
def staged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> StagedApp:
    region = request.param
    outdir = tmp_path_factory.mktemp(f"cdk.out.prod.{region}")
    app = build_app(_prod(account=ACCOUNT, region=region), str(outdir))
    app.synth()
    stacks = {child.node.id: child for child in app.node.children if isinstance(child, cdk.Stack)}
    templates = {unit: json.loads((outdir / f"{unit}.template.json").read_text()) for unit in stacks}
    return StagedApp(app=app, outdir=outdir, region=region, stacks=stacks, templates=templates)


def test_stage_names_and_environment(staged: StagedApp) -> None:
    assert sorted(staged.stacks) == sorted(UNITS)
    for unit, stack in staged.stacks.items():
        assert stack.stack_name == f"mlops-prod-{unit.lower()}"
        assert (stack.account, stack.region) == (ACCOUNT, staged.region)
    resources = staged.templates["Data"]["Resources"].values()
    buckets = [r["Properties"] for r in resources if r["Type"] == "AWS::S3::Bucket"]
    assert buckets
    for bucket in buckets:
        name = _evaluate(bucket["BucketName"], staged.templates["Data"], staged.region, ACCOUNT)
        assert name.startswith("mlops-prod-") and name.endswith(f"-{ACCOUNT}-{staged.region}")
        # Resources carry the stage, so a bill or an inventory can tell dev from prod.
        assert {"Key": "stage", "Value": "prod"} in bucket["Tags"]
        assert {"Key": "project", "Value": "mlops-prod"} in bucket["Tags"]


def test_stage_overrides_reach_the_resources(staged: StagedApp) -> None:
    functions = staged.functions()
    assert functions["trigger"]["Environment"]["Variables"]["RETRAIN_COOLDOWN_SECONDS"] == str(240 * 60)
    group = next(
        r
        for r in staged.templates["Pipeline"]["Resources"].values()
        if r["Type"] == "AWS::SageMaker::ModelPackageGroup"
    )
    assert group["Properties"]["ModelPackageGroupName"] == "ai4i-failure-prod"


def test_each_region_gets_its_own_layer_arns(staged: StagedApp) -> None:
    table = layer_table(load_stage(PROJECT_ROOT / "cdk.json", "prod").config.lambda_)
    powertools, pandas = table.powertools[staged.region], table.sdk_pandas[staged.region]
    assert f":lambda:{staged.region}:" in powertools and f":lambda:{staged.region}:" in pandas
    for name, properties in staged.functions().items():
        # A known region gets literal ARNs, not a lookup.
        expected = [powertools, pandas] if name in {"drift", "groundtruth", "validate"} else [powertools]
        assert properties["Layers"] == expected, name


def test_each_region_gets_its_own_framework_image(staged: StagedApp) -> None:
    config = load_stage(PROJECT_ROOT / "cdk.json", "prod").config
    row = resolve_image_table(
        config.training.framework_version, config.training.instance_type, config.serving.instance_type
    )[staged.region]
    register = staged.functions()["register"]
    image = _evaluate(
        register["Environment"]["Variables"]["INFERENCE_IMAGE_URI"],
        staged.templates["Pipeline"],
        staged.region,
        ACCOUNT,
    )
    assert image == row.inference_image
    assert f".dkr.ecr.{staged.region}." in image


def test_the_two_regions_differ_where_aws_publishes_differently() -> None:
    """The per-region rows really differ (publisher accounts, versions, registries) between the two."""
    config = load_stage(PROJECT_ROOT / "cdk.json", "prod").config
    table = layer_table(config.lambda_)
    first, second = REGIONS
    assert table.sdk_pandas[first].split(":")[4] != table.sdk_pandas[second].split(":")[4]
    images = resolve_image_table(
        config.training.framework_version, config.training.instance_type, config.serving.instance_type
    )
    assert images[first].inference_image.split(".")[0] != images[second].inference_image.split(".")[0]


def test_stage_synthesis_is_cdk_nag_clean(staged: StagedApp) -> None:
    report = json.loads((staged.outdir / "validation-report.json").read_text())
    assert [v for plugin in report["pluginReports"] for v in plugin["violations"]] == []


def test_stage_templates_have_no_cfn_lint_error(staged: StagedApp) -> None:
    for unit in UNITS:
        template = (staged.outdir / f"{unit}.template.json").read_text()
        matches = lint(template, config=ManualArgs(regions=[staged.region]))
        # Warnings are the default templates' too; test_infra_cfn_lint reports them.
        errors = [m for m in matches if m.rule.id.startswith("E")]
        assert not errors, "\n".join(f"{unit}: {m.rule.id} {m.message}" for m in errors)
