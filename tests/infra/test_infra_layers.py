"""The managed-layer table (infra/data/lambda_layers.json) and how the stacks use it.

The file is a copy of two published tables, so these tests check that it stays one: every ARN is a
layer of its own region, each layer records where and when it was read, and its versions are the
ones cdk.json pins. Synthesis must fail, naming the key, when the pin and the table disagree, and
for a known region that lacks a layer.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from infra_helpers import PROJECT_ROOT, Synthesized

from infra.config import ConfigError, load_config
from infra.constructs.lambda_functions import (
    LAYER_TABLE_FILE,
    ManagedLayers,
    layer_table,
)

# The publishers of the public managed layers in the main commercial regions, as their pages list
# them (opt-in regions publish the AWS SDK for pandas from accounts of their own).
POWERTOOLS_ACCOUNT = "017000801446"
SDK_PANDAS_ACCOUNT = "336392948345"

CONFIG = load_config(PROJECT_ROOT / "cdk.json").lambda_
DOCUMENT: dict[str, Any] = json.loads(LAYER_TABLE_FILE.read_text(encoding="utf-8"))
LAYER_ARN = re.compile(
    r"^arn:(aws|aws-cn):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:(?P<name>[A-Za-z0-9_-]+):(?P<version>\d+)$"
)


def test_the_table_is_the_project_data_file() -> None:
    assert LAYER_TABLE_FILE == PROJECT_ROOT / "infra" / "data" / "lambda_layers.json"
    assert DOCUMENT["runtime"] == CONFIG.runtime
    assert DOCUMENT["architecture"] == "x86_64"


@pytest.mark.parametrize("key", ["powertools", "sdkPandas"])
def test_each_layer_records_its_source_and_date(key: str) -> None:
    layer = DOCUMENT["layers"][key]
    assert layer["source"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{40}", layer["sourceCommit"])
    assert date.fromisoformat(layer["retrieved"]) <= date.today()
    assert layer["configKey"] in {"mlops.lambda.powertoolsLayerVersion", "mlops.lambda.pandasLayerVersion"}


@pytest.mark.parametrize(
    ("key", "name", "version"),
    [
        ("powertools", f"AWSLambdaPowertoolsPythonV3-{CONFIG.python_tag}-x86_64", CONFIG.powertools_layer_version),
        ("sdkPandas", f"AWSSDKPandas-Python{CONFIG.python_tag.removeprefix('python')}", CONFIG.pandas_layer_version),
    ],
)
def test_every_arn_is_that_layer_in_its_own_region(key: str, name: str, version: int) -> None:
    layer = DOCUMENT["layers"][key]
    assert layer["version"] == version
    for region, arn in layer["arns"].items():
        match = LAYER_ARN.match(arn)
        assert match, arn
        assert match["region"] == region, arn
        assert match["name"] == name, arn
        assert arn.startswith("arn:aws-cn:") == region.startswith("cn-"), arn


def test_publishers_and_versions_differ_where_aws_publishes_differently() -> None:
    powertools = DOCUMENT["layers"]["powertools"]["arns"]
    pandas = DOCUMENT["layers"]["sdkPandas"]["arns"]
    assert {LAYER_ARN.match(arn)["account"] for arn in powertools.values()} == {POWERTOOLS_ACCOUNT}  # type: ignore[index]
    # The AWS SDK for pandas: the main account in most regions, others in opt-in regions.
    assert LAYER_ARN.match(pandas["us-east-1"])["account"] == SDK_PANDAS_ACCOUNT  # type: ignore[index]
    assert LAYER_ARN.match(pandas["eu-south-1"])["account"] != SDK_PANDAS_ACCOUNT  # type: ignore[index]
    # ... and in af-south-1 the main account's version is not the pinned one.
    assert pandas["af-south-1"].endswith(":8") and pandas["us-east-1"].endswith(f":{CONFIG.pandas_layer_version}")


def test_deployable_regions_have_both_layers() -> None:
    table = layer_table(CONFIG)
    assert table.regions == sorted(set(table.powertools) & set(table.sdk_pandas))
    assert {"us-east-1", "eu-west-1"} <= set(table.regions)
    for region, row in table.rows().items():
        assert set(row) == {"powertools", "sdkPandas"}
        assert all(f":lambda:{region}:" in arn for arn in row.values())


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"powertools_layer_version": CONFIG.powertools_layer_version + 1}, "mlops.lambda.powertoolsLayerVersion"),
        ({"pandas_layer_version": CONFIG.pandas_layer_version + 1}, "mlops.lambda.pandasLayerVersion"),
        ({"runtime": "python3.13"}, "mlops.lambda.runtime"),
    ],
)
def test_a_pin_the_table_does_not_hold_is_named(change: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        layer_table(dataclasses.replace(CONFIG, **change))


def test_a_table_with_a_wrong_region_is_refused(tmp_path: Path) -> None:
    document = json.loads(json.dumps(DOCUMENT))
    document["layers"]["powertools"]["arns"]["eu-west-1"] = document["layers"]["powertools"]["arns"]["us-east-1"]
    broken = tmp_path / "lambda_layers.json"
    broken.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"layers\.powertools\.arns\.eu-west-1"):
        layer_table(CONFIG, broken)


def _stack(region: str | None) -> cdk.Stack:
    app = cdk.App()
    env = cdk.Environment(account="123456789012", region=region) if region else None
    return cdk.Stack(app, "Layers", env=env)


def test_an_agnostic_stack_selects_its_row_by_region() -> None:
    stack = _stack(None)
    layers = ManagedLayers.of(stack, CONFIG)
    assert ManagedLayers.of(stack, CONFIG) is layers  # one per stack
    resolved = stack.resolve(layers.powertools_arn)
    mapping = stack.resolve(layers.mapping.logical_id)
    assert resolved == {"Fn::FindInMap": [mapping, {"Ref": "AWS::Region"}, "powertools"]}


def test_a_stack_in_a_known_region_gets_literal_arns() -> None:
    stack = _stack("eu-south-1")
    layers = ManagedLayers.of(stack, CONFIG)
    table = layer_table(CONFIG)
    assert layers.powertools_arn == table.powertools["eu-south-1"]
    assert layers.sdk_pandas_arn == table.sdk_pandas["eu-south-1"]


def test_a_known_region_without_both_layers_fails_at_synth() -> None:
    table = layer_table(CONFIG)
    (region, *_) = sorted(set(table.powertools) - set(table.sdk_pandas))
    with pytest.raises(ConfigError, match=rf"region '{region}'.*lambda_layers.json"):
        ManagedLayers.of(_stack(region), CONFIG)


def test_the_synthesized_mapping_is_the_table(synthesized: Synthesized) -> None:
    rows = layer_table(CONFIG).rows()
    for unit in ("pipeline", "monitoring"):
        mappings = [m for m in synthesized.json[unit]["Mappings"].values() if "powertools" in m.get("us-east-1", {})]
        assert mappings == [rows], unit
    # The data stack has no function, so no layer table either.
    assert "Mappings" not in synthesized.json["data"]
