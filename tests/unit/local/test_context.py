"""The `mlops` context: cdk.json plus `-c` overrides, and nothing else outside the demo."""

import json

import pytest

from mlops.cli import main
from mlops.demo.runner import DemoOptions, merged_context
from mlops.local.assembly import project_root
from mlops.local.context import apply_overrides, base_context, mlops_context

ROOT = project_root()


def test_overrides_create_nested_keys_and_refuse_to_replace_a_value_by_an_object():
    assert apply_overrides({}, {"a.b.c": 1}) == {"a": {"b": {"c": 1}}}
    config = {"a": {"b": 1, "keep": True}}
    assert apply_overrides(config, {"a.b": 2}) == {"a": {"b": 2, "keep": True}}
    assert config == {"a": {"b": 1, "keep": True}}, "the input is not changed"
    with pytest.raises(ValueError, match="'a' is not an object"):
        apply_overrides({"a": 3}, {"a.b": 1})


def test_the_base_context_is_cdk_json_untouched():
    document = json.loads((ROOT / "cdk.json").read_text())
    assert base_context(ROOT) == document["context"]["mlops"]
    assert base_context(ROOT)["drift"]["settleSeconds"] >= 60  # the project's own value, not the demo's 1 s


def test_only_the_demo_compresses_time():
    plain = mlops_context(ROOT, {"gate.minImprovement": 0.01})
    assert plain == apply_overrides(base_context(ROOT), {"gate.minImprovement": 0.01})
    demo = merged_context(ROOT, DemoOptions(context={"gate.minImprovement": 0.01}))
    assert demo["drift"]["settleSeconds"] == 1 and demo["gate"]["minImprovement"] == 0.01
    # a user's -c wins over the demo's own override
    assert merged_context(ROOT, DemoOptions(context={"drift.settleSeconds": 30}))["drift"]["settleSeconds"] == 30


@pytest.mark.parametrize("command", [["synth"], ["local", "up"], ["demo"]])
def test_an_override_into_a_value_is_one_line_and_status_2(command, capsys):
    assert main([*command, "-c", "prefix.x=1"]) == 2
    assert capsys.readouterr().err.strip().endswith("'prefix' is not an object in the configuration")
