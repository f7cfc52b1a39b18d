"""Every IAM wildcard in the synthesized stacks is on the reviewed list, with the reason it is there.

Scanned: every ``Allow`` statement of identity policies (``AWS::IAM::Policy``, ``ManagedPolicy``,
the inline ``Policies`` and trust policies of roles, users and groups) and of resource policies
(bucket, queue, topic, key and any other policy document a resource carries). A statement is a
finding when an action holds a wildcard (``*``, ``s3:*``, ``s3:Get*``), a resource does (``*`` or
an ARN with ``*``), its principal is ``*``, or it uses ``NotAction``/``NotResource``. ``Deny``
statements are not findings: a wildcard there takes access away (the TLS-only policies).

The reviewed list is ``iam_wildcards_reviewed.json`` beside this file. An entry names the stack,
the construct path of the policy's resource (a prefix, stack-relative: no logical-ID hash), the
statement's actions exactly, the wildcard resources it may hold (the principal, for a resource
policy) and the reason. Resources are rendered as CloudFormation will see them, with each
logical ID's CDK hash removed (``<ChampionFunction.Arn>:*``). The test fails on a finding no entry
covers, and on an entry that no longer matches anything (a stale list hides nothing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from infra_helpers import UNITS, Synthesized, render

REVIEWED_FILE = Path(__file__).with_name("iam_wildcards_reviewed.json")
ENTRY_KEYS = {"stack", "path", "actions", "resources", "reason"}
# Policy documents a resource may carry in its properties (a JSON string or an object).
POLICY_PROPERTIES = ("PolicyDocument", "KeyPolicy", "ResourcePolicy", "RepositoryPolicyText", "AccessPolicies")
_HASHED_ID = re.compile(r"^([A-Za-z0-9]+?)([0-9A-F]{8})$")


@dataclass(frozen=True)
class Finding:
    """One statement with a wildcard, as the reviewed list names it."""

    stack: str
    path: str
    logical_id: str
    document: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    principal: str | None

    def as_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"stack": self.stack, "path": self.path, "actions": list(self.actions)}
        entry["resources"] = list(self.resources)
        if self.principal is not None:
            entry["principal"] = self.principal
        return {**entry, "reason": "TODO: why this wildcard cannot be scoped"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


class _Renderer:
    """Strings as CloudFormation sees them, with the CDK hash of every logical ID removed."""

    def __init__(self, logical_ids: Iterable[str]) -> None:
        stems = {}
        for logical_id in logical_ids:
            match = _HASHED_ID.match(logical_id)
            if match:
                stems[logical_id] = match.group(1)
        # Longest first: an export name holds the logical ID of the resource it exports.
        self._stems = sorted(stems.items(), key=lambda item: len(item[0]), reverse=True)

    def __call__(self, value: Any) -> str:
        try:
            text = render(value)
        except AssertionError:  # an intrinsic the renderer does not know: its JSON is still reviewable
            text = json.dumps(value, sort_keys=True)
        for logical_id, stem in self._stems:
            text = text.replace(logical_id, stem)
        return text

    def principal(self, principal: Any) -> str | None:
        if principal is None:
            return None
        if not isinstance(principal, dict):
            return self(principal)
        return ", ".join(f"{kind}:{self(p)}" for kind, values in sorted(principal.items()) for p in _as_list(values))


def _documents(resource_type: str, properties: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key in POLICY_PROPERTIES:
        if key in properties:
            yield key, properties[key]
    for policy in properties.get("Policies", []) or []:
        if isinstance(policy, dict) and "PolicyDocument" in policy:
            yield f"Policies/{policy.get('PolicyName', '?')}", policy["PolicyDocument"]
    if "AssumeRolePolicyDocument" in properties:
        yield "AssumeRolePolicyDocument", properties["AssumeRolePolicyDocument"]
    if resource_type == "AWS::Events::EventBusPolicy" and "Statement" in properties:
        yield "Statement", {"Statement": properties["Statement"]}


def scan_template(
    stack: str, template: dict[str, Any], paths: dict[str, str], renderer: _Renderer
) -> Iterator[Finding]:
    """The wildcard findings of one template (``paths``: logical ID -> stack-relative construct path)."""
    for logical_id, resource in template.get("Resources", {}).items():
        for name, document in _documents(resource["Type"], resource.get("Properties", {})):
            if isinstance(document, str):
                document = json.loads(document)
            for statement in _as_list(document.get("Statement", [])):
                if statement.get("Effect") != "Allow":
                    continue
                if "NotAction" in statement:
                    actions = [f"NotAction:{a}" for a in _as_list(statement["NotAction"])]
                else:
                    actions = [str(a) for a in _as_list(statement.get("Action", []))]
                if "NotResource" in statement:
                    resources = [f"NotResource:{renderer(r)}" for r in _as_list(statement["NotResource"])]
                else:
                    resources = [renderer(r) for r in _as_list(statement.get("Resource", []))]
                principal = renderer.principal(statement.get("Principal"))
                wild_actions = any(_has_wildcard(a) or a.startswith("NotAction:") for a in actions)
                wild_resources = [r for r in resources if _has_wildcard(r) or r.startswith("NotResource:")]
                wild_principal = principal is not None and principal in {"*", "AWS:*"}
                if not (wild_actions or wild_resources or wild_principal):
                    continue
                yield Finding(
                    stack=stack,
                    path=paths.get(logical_id, logical_id),
                    logical_id=logical_id,
                    document=name,
                    actions=tuple(sorted(actions)),
                    # The wildcard resources; all of them when the wildcard is elsewhere.
                    resources=tuple(sorted(wild_resources or resources)),
                    principal=principal,
                )


def _construct_paths(app: cdk.App, prefix: str) -> dict[str, dict[str, str]]:
    """Per stack unit: logical ID -> construct path below the stack (without ``/Resource``)."""
    found: dict[str, dict[str, str]] = {}
    for stack in app.node.children:
        if not isinstance(stack, cdk.Stack):
            continue
        unit = stack.stack_name.removeprefix(f"{prefix}-")
        paths = found.setdefault(unit, {})
        for construct in stack.node.find_all():
            if isinstance(construct, cdk.CfnElement):
                path = construct.node.path.removeprefix(f"{stack.node.path}/").removesuffix("/Resource")
                paths[stack.resolve(construct.logical_id)] = path
    return found


def _covers(entry: dict[str, Any], finding: Finding) -> bool:
    return (
        entry["stack"] == finding.stack
        and (finding.path == entry["path"] or finding.path.startswith(entry["path"] + "/"))
        and sorted(entry["actions"]) == list(finding.actions)
        and set(finding.resources) <= set(entry["resources"])
        and entry.get("principal") == finding.principal
    )


def _reviewed() -> list[dict[str, Any]]:
    document = json.loads(REVIEWED_FILE.read_text(encoding="utf-8"))
    return list(document["entries"])


@pytest.fixture(scope="module")
def findings(synthesized: Synthesized) -> list[Finding]:
    paths = _construct_paths(synthesized.app, synthesized.config.prefix)
    assert sorted(paths) == sorted(UNITS)
    renderer = _Renderer(logical_id for unit_paths in paths.values() for logical_id in unit_paths)
    found = [f for unit in UNITS for f in scan_template(unit, synthesized.json[unit], paths[unit], renderer)]
    assert found, "the scan found no wildcard at all: it is not looking where the policies are"
    return found


def test_reviewed_list_is_well_formed() -> None:
    entries = _reviewed()
    seen = set()
    for index, entry in enumerate(entries):
        where = f"{REVIEWED_FILE.name} entry {index} ({entry.get('path')})"
        assert ENTRY_KEYS <= set(entry) <= ENTRY_KEYS | {"principal"}, f"{where}: keys {sorted(entry)}"
        assert entry["stack"] in UNITS, where
        assert entry["actions"] and entry["resources"], where
        assert len(entry["reason"].strip()) >= 30, f"{where}: say why the wildcard cannot be scoped"
        key = json.dumps({k: v for k, v in entry.items() if k != "reason"}, sort_keys=True)
        assert key not in seen, f"{where}: listed twice"
        seen.add(key)


def test_every_wildcard_is_reviewed(findings: list[Finding]) -> None:
    entries = _reviewed()
    unreviewed = [f for f in findings if not any(_covers(entry, f) for entry in entries)]
    assert not unreviewed, (
        f"IAM statements with a wildcard that {REVIEWED_FILE.name} does not list; scope them (a name prefix, "
        "an exact ARN) or add an entry with the reason:\n"
        + "\n".join(
            f"  {f.stack}/{f.logical_id} {f.document}:\n    "
            + json.dumps(f.as_entry(), indent=2).replace("\n", "\n    ")
            for f in unreviewed
        )
    )


def test_no_reviewed_entry_is_stale(findings: list[Finding]) -> None:
    stale = []
    for entry in _reviewed():
        covered = [f for f in findings if _covers(entry, f)]
        unused = set(entry["resources"]) - {r for f in covered for r in f.resources}
        if not covered or unused:
            stale.append(f"  {entry['stack']}/{entry['path']} {entry['actions']}: no longer granted {sorted(unused)}")
    assert not stale, f"entries of {REVIEWED_FILE.name} that match nothing any more (remove them):\n" + "\n".join(stale)


# --- the scanner itself -----------------------------------------------------------------------


def _statement(effect: str = "Allow", **fields: Any) -> dict[str, Any]:
    return {"Effect": effect, **fields}


def test_scanner_reads_every_kind_of_policy_and_strips_hashes() -> None:
    arn = {"Fn::GetAtt": ["WorkerFunctionAB12CD34", "Arn"]}
    template = {
        "Resources": {
            "WorkerFunctionAB12CD34": {"Type": "AWS::Lambda::Function", "Properties": {}},
            "RoleABCDEF12": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": [_statement(Action="sts:AssumeRole")]},
                    "Policies": [
                        {
                            "PolicyName": "inline",
                            "PolicyDocument": {"Statement": [_statement(Action="s3:Get*", Resource="arn:x")]},
                        }
                    ],
                },
            },
            "Managed12345678": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [
                            _statement(Action=["lambda:InvokeFunction"], Resource={"Fn::Join": ["", [arn, ":*"]]}),
                            _statement(Action="lambda:InvokeFunction", Resource=arn),  # exact: no finding
                            _statement("Deny", Action="*", Resource="*"),  # takes access away: no finding
                            _statement(NotAction="iam:*", Resource="arn:y"),
                        ]
                    }
                },
            },
            "Key0123ABCD": {
                "Type": "AWS::KMS::Key",
                "Properties": {"KeyPolicy": {"Statement": [_statement(Principal={"AWS": "*"}, Action="kms:Decrypt")]}},
            },
            "LogsPolicy": {
                "Type": "AWS::Logs::ResourcePolicy",
                "Properties": {
                    "PolicyDocument": json.dumps({"Statement": [_statement(Action="logs:*", Resource="a")]})
                },
            },
        }
    }
    paths = {"RoleABCDEF12": "Worker/Role", "Managed12345678": "Worker/Managed"}
    renderer = _Renderer(template["Resources"])
    found = {(f.path, f.document): f for f in scan_template("pipeline", template, paths, renderer)}
    assert sorted(found) == [
        ("Key0123ABCD", "KeyPolicy"),
        ("LogsPolicy", "PolicyDocument"),
        ("Worker/Managed", "PolicyDocument"),
        ("Worker/Role", "Policies/inline"),
    ]
    assert found["Worker/Role", "Policies/inline"].resources == ("arn:x",)
    assert found["Key0123ABCD", "KeyPolicy"].principal == "AWS:*"
    managed = [f for f in scan_template("pipeline", template, paths, renderer) if f.path == "Worker/Managed"]
    assert [(f.actions, f.resources) for f in managed] == [
        (("lambda:InvokeFunction",), ("<WorkerFunction.Arn>:*",)),
        (("NotAction:iam:*",), ("arn:y",)),
    ]


def test_an_entry_covers_by_path_prefix_exact_actions_and_listed_resources() -> None:
    finding = Finding("pipeline", "Worker/Role/DefaultPolicy", "X", "PolicyDocument", ("s3:GetObject",), ("a/*",), None)
    entry = {"stack": "pipeline", "path": "Worker/Role", "actions": ["s3:GetObject"], "resources": ["a/*", "b/*"]}
    assert _covers(entry, finding)
    assert not _covers({**entry, "path": "Work"}, finding)  # a prefix ends at a path segment
    assert not _covers({**entry, "actions": ["s3:GetObject", "s3:PutObject"]}, finding)
    assert not _covers({**entry, "resources": ["b/*"]}, finding)
    assert not _covers({**entry, "stack": "monitoring"}, finding)
    assert not _covers({**entry, "principal": "AWS:*"}, finding)
