"""Every JSONPath of the synthesized state machine that names the run's state is in the contract.

The constructs name their paths with ``state_path`` (``functions/shared/contracts.py``), which
refuses a key the contract lacks at synth. This test reads the other end, the ASL as synthesized,
so a path that bypassed ``state_path`` (a literal, a ``States.Format`` argument) is checked too.
It skips what does not address the run's state: ResultSelector values (the task's own result) and
``$$.`` context paths. States inside a Map's ItemProcessor read the item the ItemSelector built.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from infra_helpers import PROJECT_ROOT, render

from functions.shared.contracts import DeployInput, PipelineState, ValidatePartInput, state_path
from infra.app import build_app
from infra.constructs.state_contracts import contract_keys, contract_payload

# A path inside an intrinsic (States.Format('...', $.a.b, $$.Execution.Name)): not preceded by "$".
_EMBEDDED_PATH = re.compile(r"(?<![$\w])\$\.[A-Za-z0-9_.\[\]]+")
_PATH_FIELDS = ("InputPath", "OutputPath", "ResultPath", "ItemsPath", "ErrorPath", "CausePath")


def _payload_paths(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Paths in a Parameters/ItemSelector object: values of ``.$`` keys, and paths in intrinsics."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.endswith(".$") and isinstance(inner, str):
                if inner.startswith("$."):
                    yield where, inner
                elif inner.startswith("States."):
                    yield from ((where, path) for path in _EMBEDDED_PATH.findall(inner))
            else:
                yield from _payload_paths(inner, where)
    elif isinstance(value, list):
        for inner in value:
            yield from _payload_paths(inner, where)


def _choice_paths(rule: dict[str, Any], where: str) -> Iterator[tuple[str, str]]:
    for key, value in rule.items():
        if key in ("And", "Or"):
            for inner in value:
                yield from _choice_paths(inner, where)
        elif key == "Not":
            yield from _choice_paths(value, where)
        elif (key == "Variable" or key.endswith("Path")) and isinstance(value, str) and value.startswith("$."):
            yield where, value


def state_paths(states: dict[str, Any], root: Any = PipelineState) -> Iterator[tuple[str, str, Any]]:
    """``(state name, path, root)`` for every path into the state that ``states`` read or write."""
    for name, state in states.items():
        found: list[tuple[str, str]] = []
        for field in _PATH_FIELDS:
            value = state.get(field)
            if isinstance(value, str) and value.startswith("$."):
                found.append((f"{name}.{field}", value))
        found.extend((f"{name}.Catch", c["ResultPath"]) for c in state.get("Catch", []) if c.get("ResultPath"))
        for rule in state.get("Choices", []):
            found.extend(_choice_paths(rule, f"{name}.Choices"))
        for field in ("Parameters", "ItemSelector"):  # never ResultSelector: that is the task's result
            found.extend(_payload_paths(state.get(field), f"{name}.{field}"))
        for where, path in found:
            yield where, path, root
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            yield from state_paths(processor["States"], ValidatePartInput)
        for branch in state.get("Branches", []):
            yield from state_paths(branch["States"], root)


def unknown_paths(states: dict[str, Any]) -> list[str]:
    problems = []
    for where, path, root in state_paths(states):
        try:
            state_path(*path[2:].split("."), root=root)
        except KeyError as error:
            problems.append(f"{where}: {path}: {error}")
    return problems


@pytest.fixture(scope="module")
def manual_definition(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The prod stage's definition: approval ``manual`` (NotifyAwaitingApproval instead of DeployChallenger)."""
    app = build_app({"stage": "prod"}, str(tmp_path_factory.mktemp("prod-paths.out")))
    app.synth()
    (stack,) = [s for s in app.node.children if isinstance(s, cdk.Stack) and s.stack_name.endswith("-pipeline")]
    template = Template.from_stack(stack).to_json()
    (machine,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    return dict(json.loads(render(machine["Properties"]["DefinitionString"])))


def test_every_state_path_is_in_the_contract(definition: dict[str, Any]) -> None:
    assert unknown_paths(definition["States"]) == []


def test_every_state_path_of_the_manual_stage_is_in_the_contract(manual_definition: dict[str, Any]) -> None:
    assert "NotifyAwaitingApproval" in manual_definition["States"]
    assert unknown_paths(manual_definition["States"]) == []


def test_the_walk_sees_every_kind_of_path(definition: dict[str, Any]) -> None:
    """Paths from each place the walk looks, so an empty walk cannot pass the test above."""
    found = {(where.split(".", 1)[1], path) for where, path, _ in state_paths(definition["States"])}
    expected = {
        ("ResultPath", "$.validation"),
        ("InputPath", "$.training"),
        ("ItemsPath", "$.validation.items"),
        ("ErrorPath", "$.error.Error"),
        ("Catch", "$.error"),
        ("Choices", "$.validation.mode"),
        ("Choices", "$.endpointConfig.name"),  # StringEqualsPath
        ("ItemSelector", "$.validation.source"),
        ("Parameters", "$.plan.manifestUri"),
        ("Parameters", "$.decision.challenger.modelPackageArn"),  # inside States.Format
    }
    assert expected <= found
    assert not any(path.startswith("$$") or path.startswith("$.TrainingJobName") for _, path in found)


def test_a_path_the_contract_lacks_is_reported() -> None:
    with pytest.raises(KeyError, match="no 'mood'"):
        state_path("validation", "mood")
    with pytest.raises(KeyError):
        state_path("decision", "challenger", "imageUri")
    states = {
        "Bad": {
            "Type": "Task",
            "ResultPath": "$.verdict",
            "Parameters": {"x.$": "States.Format('{}', $.plan.trian)", "y.$": "$$.Execution.Id"},
            "ResultSelector": {"free.$": "$.AnythingTheServiceSays"},
            "Next": "Choose",
        },
        "Choose": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.champion.fund", "IsPresent": True}}]},
        "Map": {
            "Type": "Map",
            "ItemProcessor": {"States": {"Part": {"Type": "Task", "InputPath": "$.item.index", "OutputPath": "$.x"}}},
        },
    }
    problems = unknown_paths(states)
    assert [p.split(":", 2)[:2] for p in problems] == [
        ["Bad.ResultPath", " $.verdict"],
        ["Bad.Parameters", " $.plan.trian"],
        ["Choose.Choices", " $.champion.fund"],
        ["Part.OutputPath", " $.x"],
    ]


def test_contract_payload_checks_the_keys() -> None:
    assert contract_payload(DeployInput, {"modelPackageArn.$": "$.deploy.modelPackageArn"}) == {
        "modelPackageArn.$": "$.deploy.modelPackageArn"
    }
    with pytest.raises(KeyError, match="missing modelPackageArn"):
        contract_payload(DeployInput, {"reason": "manual"})
    with pytest.raises(KeyError, match="not in the contract: packageArn"):
        contract_payload(DeployInput, {"modelPackageArn": "arn", "packageArn": "arn"})


def test_contract_keys_know_not_required() -> None:
    """``__required_keys__`` is wrong under postponed annotations on 3.11; ``contract_keys`` is not."""
    assert contract_keys(DeployInput) == (frozenset({"modelPackageArn"}), frozenset({"reason"}))
    with pytest.raises(TypeError):
        contract_keys(dict)


def test_infra_imports_only_the_contracts_of_functions() -> None:
    imported = set()
    for path in Path(PROJECT_ROOT, "infra").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((node.module, path.name))
            elif isinstance(node, ast.Import):
                imported.update((alias.name, path.name) for alias in node.names)
    foreign = {
        (module, name)
        for module, name in imported
        if module.split(".")[0] in ("functions", "pipelines") and module != "functions.shared.contracts"
    }
    assert foreign == set()
