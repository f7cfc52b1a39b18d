"""`mlops cost` and `mlops preflight` on the default stage, synthesized once for the module.

The facts test pins what the real templates say (so a change to the app that the cost model would
misread shows up here); the CLI tests check that both commands print their tables, and that
preflight without credentials prints "cannot check" rows and one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.cli import main
from mlops.deploy.facts import extract_facts
from mlops.local.assembly import project_root, read_assembly, synthesize
from mlops.local.cloud import LocalCloud
from mlops.local.deployer import bootstrap

ROOT = project_root(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def assembly_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("cdk.out")
    synthesize(directory, root=ROOT)
    return directory


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """An environment with no AWS credentials anywhere (and no instance metadata to ask)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_the_default_stage_s_facts_come_from_its_templates(assembly_dir):
    config = json.loads((ROOT / "cdk.json").read_text())["context"]["mlops"]
    facts = extract_facts(
        read_assembly(assembly_dir), upload_prefix=config["uploadPrefix"], labels_prefix=config["groundTruth"]["prefix"]
    )
    names = {f.name for f in facts.functions}
    assert {f"{config['prefix']}-{n}" for n in ("validate", "trigger", "drift", "groundtruth")} <= names
    assert all(f.memory_mb == config["lambda"]["memoryMb"] for f in facts.functions)
    pipeline = facts.pipeline
    assert pipeline.training.instance_type == config["training"]["instanceType"]
    assert [(v.instance_type, v.count) for v in pipeline.endpoint] == [
        (config["serving"]["instanceType"], config["serving"]["initialInstanceCount"])
    ]
    assert pipeline.capture_percent == config["serving"]["captureSamplingPercentage"]
    assert pipeline.deploy.trains and pipeline.deploy.deploys and pipeline.skip is not None
    assert pipeline.wait_loops and pipeline.wait_loops[0].wait_seconds == config["serving"]["endpointPollSeconds"]
    drift = facts.function(facts.drift_function)
    assert drift.schedule_minutes == (float(config["drift"]["scheduleMinutes"]),)
    assert facts.metrics.drift_per_run == 16  # 5 + PSI of 6 features + KS of 5 numeric ones (AI4I)
    assert {a.name for a in facts.alarms} >= {
        f"{config['prefix']}-{config['modelName']}-drift",
        f"{config['prefix']}-{config['modelName']}-quality",
    }
    assert facts.dashboards >= 1 and facts.bootstrap is not None and facts.bootstrap.version >= 6
    assert "us-east-1" in facts.images and facts.layers


def test_mlops_cost_prints_the_table_for_the_default_stage(assembly_dir, capsys):
    assert main(["cost", "--assembly", str(assembly_dir)]) == 0
    out = capsys.readouterr().out
    assert "Monthly cost of stage 'default' in " in out
    for service in ("SageMaker", "Lambda", "Step Functions", "S3", "CloudWatch", "SNS"):
        assert f"\n{service} " in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert float(total.split("$")[1].replace(",", "")) > 80  # an always-on ml.m5.large is most of it


def test_mlops_cost_takes_the_workload_and_a_region(assembly_dir, capsys):
    assert (
        main(
            [
                "cost",
                "--assembly",
                str(assembly_dir),
                "--region",
                "eu-central-1",
                "--uploads-per-day",
                "4",
                "--rows",
                "50000",
                "--predictions-per-day",
                "100000",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "in eu-central-1" in out and "4 upload(s)/day of 50,000 rows" in out and "$0.138/instance-h" in out


def test_mlops_cost_in_an_unpriced_region_says_which_are_priced(assembly_dir, capsys):
    assert main(["cost", "--assembly", str(assembly_dir), "--region", "ap-south-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mlops cost: no prices for region 'ap-south-1'") and "us-east-1" in err


def test_mlops_preflight_without_credentials_prints_cannot_check_rows(assembly_dir, capsys, no_credentials):
    assert main(["preflight", "--assembly", str(assembly_dir), "--region", "us-east-1"]) == 1
    captured = capsys.readouterr()
    rows = [line for line in captured.out.splitlines() if "cannot check" in line]
    assert len(rows) >= 5 and all(row.rstrip().endswith("no AWS credentials") for row in rows)
    assert "framework image" in captured.out and "Traceback" not in captured.out + captured.err
    assert captured.err.strip().count("\n") == 0
    assert captured.err.startswith("mlops preflight: the account was not checked: no AWS credentials")


def test_mlops_preflight_against_the_local_cloud(assembly_dir, capsys):
    with LocalCloud():
        bootstrap()
        assert (
            main(["preflight", "--assembly", str(assembly_dir), "--region", "us-east-1", "--role-name", "mlops-deploy"])
            == 1
        )
    out = capsys.readouterr().out
    assert "(account 123456789012)" in out
    assert next(line for line in out.splitlines() if line.startswith("CDK bootstrap")).split()[2] == "pass"
    # the local cloud has none of AWS's public layers, and no OIDC role: failed, each with a fix
    assert out.count("fix: ") >= 2 and "OIDC deploy role" in out


def test_mlops_cost_of_a_stage_synthesizes_it_with_its_overrides(capsys):
    stages = json.loads((ROOT / "cdk.json").read_text())["context"]["mlops"].get("stages", {})
    if "prod" not in stages:
        pytest.skip("cdk.json defines no prod stage")
    count = stages["prod"].get("overrides", {}).get("serving", {}).get("initialInstanceCount", 1)
    assert main(["cost", "--stage", "prod", "--region", "eu-west-1"]) == 0
    captured = capsys.readouterr()
    assert "synthesizing stage 'prod'" in captured.err
    assert "Monthly cost of stage 'prod' in eu-west-1" in captured.out
    assert f"endpoint ml.m5.large x{count}, always on" in captured.out
