"""Helpers for the infra tests: synthesize an app and read its templates.

The renderer turns ``Fn::Join`` values (the state machine definition, ARNs, event patterns) into
plain strings with readable placeholders, so tests assert on what CloudFormation will see.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# jsii prints a banner for every Node.js it considers old; it is noise in test output.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.app import PROJECT_ROOT, build_app
from infra.config import MlopsConfig, load_config

__all__ = ["PROJECT_ROOT", "UNITS", "Synthesized", "render", "synthesize"]

UNITS = ("data", "pipeline", "monitoring")


def render(value: Any) -> str:
    """A CloudFormation string value with intrinsics replaced by ``<...>`` placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            delimiter, parts = argument
            return delimiter.join(render(part) for part in parts)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::FindInMap":
            return f"<FindInMap:{argument[0]}.{render(argument[1])}.{argument[2]}>"
        if function == "Fn::ImportValue":
            return f"<Import:{render(argument)}>"
        if function == "Fn::Sub":
            return argument if isinstance(argument, str) else argument[0]
        if function == "Fn::Select":
            return f"<Select:{argument[0]}>"
        if function == "Fn::Split":
            return f"<Split:{render(argument[1])}>"
    raise AssertionError(f"cannot render {value!r}")


@dataclass
class Synthesized:
    """One synthesized app: its stacks' templates (as assertion objects and as JSON)."""

    app: cdk.App
    outdir: Path
    config: MlopsConfig
    seconds: float
    templates: dict[str, Template] = field(default_factory=dict)
    json: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resources(self, unit: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.json[unit]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for unit, template in self.json.items():
            for logical_id, resource in template["Resources"].items():
                yield unit, logical_id, resource

    def functions(self) -> dict[str, dict[str, Any]]:
        """Lambda functions by short name (``trigger``, ``drift``, ...)."""
        found = {}
        for unit in ("pipeline", "monitoring"):
            for resource in self.resources(unit, "AWS::Lambda::Function").values():
                name = resource["Properties"]["FunctionName"].removeprefix(f"{self.config.prefix}-")
                found[name] = resource["Properties"]
        return found

    def definition(self) -> dict[str, Any]:
        """The pipeline state machine's ASL, parsed."""
        (machine,) = self.resources("pipeline", "AWS::StepFunctions::StateMachine").values()
        return json.loads(render(machine["Properties"]["DefinitionString"]))


def synthesize(context_overrides: dict[str, Any] | None, outdir: Path) -> Synthesized:
    started = time.perf_counter()
    app = build_app(context_overrides, str(outdir))
    app.synth()
    seconds = time.perf_counter() - started
    config = load_config(PROJECT_ROOT / "cdk.json")
    result = Synthesized(app=app, outdir=outdir, config=config, seconds=seconds)
    for child in app.node.children:
        if isinstance(child, cdk.Stack):
            unit = child.stack_name.removeprefix(f"{config.prefix}-")
            result.templates[unit] = Template.from_stack(child)
            result.json[unit] = result.templates[unit].to_json()
    assert sorted(result.templates) == sorted(UNITS)
    return result
