"""The CloudFormation intrinsics the synthesized templates use, evaluated offline for one region.

The stacks are environment-agnostic: a layer ARN is ``Fn::Join`` of the partition and region, an
image URI is ``Fn::FindInMap`` on the region, a state machine definition is a ``Fn::Join`` around
``Fn::GetAtt`` tokens. Preflight needs the concrete values CloudFormation would compute in the
target region, and the cost model needs the definition as JSON; both come from here so that no
caller re-implements (and mis-implements) a piece of CloudFormation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Placement", "Unresolvable", "partition_of", "render", "resolve", "token_target"]

_TOKEN = re.compile(r"^\{\{(Ref|GetAtt):([^}]+)\}\}$")
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Unresolvable(ValueError):
    """A value depends on something only a deployment knows (a resource's ARN, a missing map row)."""


def partition_of(region: str) -> str:
    """The ARN partition of a region: ``aws-cn`` and ``aws-us-gov`` have their own, the rest ``aws``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class Placement:
    """Where a template is evaluated: the pseudo parameters CloudFormation would supply there."""

    region: str
    account: str | None = None

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def pseudo(self, name: str) -> str:
        """The value of ``AWS::<name>``; an account-dependent value without an account is unresolvable."""
        values = {
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::AccountId": self.account,
        }
        if name not in values:
            raise Unresolvable(f"Ref {name} is not a pseudo parameter evaluated offline")
        value = values[name]
        if value is None:
            raise Unresolvable(f"Ref {name} needs the account, which is not known here")
        return value


def resolve(value: Any, placement: Placement, mappings: Mapping[str, Any] | None = None) -> Any:
    """``value`` with every intrinsic evaluated as CloudFormation would at ``placement``.

    Supports ``Ref`` (pseudo parameters), ``Fn::Join``, ``Fn::FindInMap``, ``Fn::Sub`` (pseudo
    parameters and its own variables), ``Fn::Select`` and ``Fn::Split``. Raises ``Unresolvable`` for
    a reference to a resource, an attribute, or a mapping row that does not exist.
    """
    mappings = mappings or {}
    if isinstance(value, list):
        return [resolve(item, placement, mappings) for item in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) != 1:
        return {key: resolve(item, placement, mappings) for key, item in value.items()}
    ((key, argument),) = value.items()
    if key == "Ref":
        return placement.pseudo(str(argument))
    if key == "Fn::GetAtt":
        target = argument if isinstance(argument, str) else ".".join(map(str, argument))
        raise Unresolvable(f"Fn::GetAtt {target} is known only after deployment")
    if key == "Fn::Join":
        separator, parts = argument
        return str(separator).join(str(part) for part in resolve(parts, placement, mappings))
    if key == "Fn::FindInMap":
        name, top, second = (resolve(part, placement, mappings) for part in argument)
        try:
            return mappings[name][top][second]
        except KeyError:
            raise Unresolvable(f"mapping {name} has no value for {top!r} / {second!r}") from None
    if key == "Fn::Sub":
        return _sub(argument, placement, mappings)
    if key == "Fn::Select":
        index, items = argument
        return resolve(items, placement, mappings)[int(resolve(index, placement, mappings))]
    if key == "Fn::Split":
        separator, text = argument
        return str(resolve(text, placement, mappings)).split(str(separator))
    if key.startswith("Fn::"):
        raise Unresolvable(f"{key} is not evaluated offline")
    return {key: resolve(argument, placement, mappings)}


def _sub(argument: Any, placement: Placement, mappings: Mapping[str, Any]) -> str:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    values = {name: resolve(item, placement, mappings) for name, item in dict(variables).items()}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return str(values[name])
        if name.startswith("AWS::"):
            return placement.pseudo(name)
        raise Unresolvable(f"Fn::Sub ${{{name}}} refers to a resource")

    return _SUB_VARIABLE.sub(replace, text)


def render(value: Any) -> str:
    """A ``Fn::Join``-built string with tokens where deployment-time values go.

    ``{"Ref": X}`` becomes ``{{Ref:X}}``, ``{"Fn::GetAtt": [X, A]}`` becomes ``{{GetAtt:X.A}}`` and
    any other intrinsic ``{{Fn::Name}}``: a state machine definition rendered this way is valid JSON
    that still says which resource each ``Resource`` or ``TopicArn`` names (``token_target``).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Fn::Join":
            separator, parts = argument
            return str(separator).join(render(part) for part in parts)
        if key == "Ref":
            return f"{{{{Ref:{argument}}}}}"
        if key == "Fn::GetAtt":
            target = argument if isinstance(argument, str) else ".".join(map(str, argument))
            return f"{{{{GetAtt:{target}}}}}"
        if key.startswith("Fn::"):  # e.g. an image URI from Fn::FindInMap: its value does not matter here
            return f"{{{{{key}}}}}"
    raise Unresolvable(f"cannot render {value!r} as text")


def token_target(text: Any) -> str | None:
    """The logical ID a rendered ``{{Ref:X}}`` / ``{{GetAtt:X.Arn}}`` names, else ``None``."""
    if not isinstance(text, str):
        return None
    match = _TOKEN.match(text)
    if match is None:
        return None
    kind, target = match.groups()
    return target.split(".", 1)[0] if kind == "GetAtt" else target
