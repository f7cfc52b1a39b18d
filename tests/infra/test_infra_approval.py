"""Stages and approval: dev deploys what the gate approves, prod only what a person approves.

The production stage (``-c stage=prod``, approval ``manual``) must have no path from a training run
to the endpoint: its challengers are registered ``PendingManualApproval``, and only the Model
Registry's approval event (through the trigger) starts a deployment, through the same deployment
phase the dev stage uses.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from infra_helpers import Synthesized, render

from infra.app import build_app

ENDPOINT_CALLS = ("sagemaker:createEndpoint", "sagemaker:updateEndpoint", "sagemaker:createModel")


def _templates(app: cdk.App) -> dict[str, dict[str, Any]]:
    return {
        child.stack_name: dict(Template.from_stack(child).to_json())
        for child in app.node.children
        if isinstance(child, cdk.Stack)
    }


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    app = build_app({"stage": "prod"}, str(tmp_path_factory.mktemp("prod.out")))
    app.synth()
    return _templates(app)


def _definition(template: dict[str, Any]) -> dict[str, Any]:
    (machine,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    return json.loads(render(machine["Properties"]["DefinitionString"]))


def _reachable(states: dict[str, Any], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        todo.extend(c["Next"] for c in state.get("Choices", []))
        todo.extend(state[k] for k in ("Next", "Default") if k in state)
    return seen


def _deploying(states: dict[str, Any], names: set[str]) -> set[str]:
    return {n for n in names if str(states[n].get("Resource", "")).endswith(ENDPOINT_CALLS)}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["FunctionName"].rsplit("-", 1)[-1]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }


def _approval_rules(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and r["Properties"].get("EventPattern", {}).get("source") == ["aws.sagemaker"]
    ]


def test_prod_has_no_path_from_a_training_run_to_the_endpoint(prod: dict[str, dict[str, Any]]) -> None:
    states = _definition(prod["mlops-prod-pipeline"])["States"]
    after_registration = _reachable(states, "Register")
    assert _deploying(states, after_registration) == set()
    assert {"NotifyAwaitingApproval", "AwaitingApproval"} <= after_registration
    assert states["Approved?"]["Choices"][0]["Next"] == "NotifyAwaitingApproval"
    assert states["AwaitingApproval"]["Type"] == "Succeed"
    assert "DeployChallenger" not in states
    # ... while the deployment phase is there, for the runs an approval starts.
    assert _deploying(states, _reachable(states, "DeployOnly?")) == {"CreateModel", "CreateEndpoint", "UpdateEndpoint"}
    register = _functions(prod["mlops-prod-pipeline"])["register"]["Environment"]["Variables"]
    assert (register["APPROVAL_MODE"], register["STAGE"]) == ("manual", "prod")


def test_the_default_stage_deploys_what_the_gate_approves(synthesized: Synthesized, definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert _deploying(states, _reachable(states, "Register")) == {"CreateModel", "CreateEndpoint", "UpdateEndpoint"}
    assert "AwaitingApproval" not in states
    assert _functions(synthesized.json["pipeline"])["register"]["Environment"]["Variables"]["APPROVAL_MODE"] == "auto"
    # No approval rule: the registration's own state-change event (Approved) must not deploy twice.
    assert _approval_rules(synthesized.json["pipeline"]) == []


def test_an_approval_in_the_registry_reaches_the_trigger(prod: dict[str, dict[str, Any]]) -> None:
    template = prod["mlops-prod-pipeline"]
    (rule,) = _approval_rules(template)
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["ai4i-failure-prod"], "ModelApprovalStatus": ["Approved"]},
    }
    (target,) = rule["Targets"]
    assert render(target["Arn"]).startswith("<TriggerFunction")
    assert "DeadLetterConfig" in target
    trigger = _functions(template)["trigger"]["Environment"]["Variables"]
    assert trigger["MODEL_PACKAGE_GROUP"] == "ai4i-failure-prod"


def test_prod_shifts_traffic_through_a_canary(prod: dict[str, dict[str, Any]]) -> None:
    states = _definition(prod["mlops-prod-pipeline"])["States"]
    routing = states["UpdateEndpoint"]["Parameters"]["DeploymentConfig"]["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"
    ]
    assert routing["Type"] == "CANARY"
    assert routing["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}
    (variant,) = states["CreateEndpointConfig"]["Parameters"]["ProductionVariants"]
    assert variant["InitialInstanceCount"] == 2  # a canary is half of a fleet of two


def test_stage_outputs_name_the_approval_mode(prod: dict[str, dict[str, Any]], synthesized: Synthesized) -> None:
    assert prod["mlops-prod-pipeline"]["Outputs"]["ApprovalMode"]["Value"] == "manual"
    assert "ApprovalRuleName" in prod["mlops-prod-pipeline"]["Outputs"]
    assert synthesized.json["pipeline"]["Outputs"]["ApprovalMode"]["Value"] == "auto"
