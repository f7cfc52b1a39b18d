"""The state machine's side of ``functions/shared/contracts.py``: paths and payloads checked at synth.

``state_path`` (re-exported here) names a JSONPath into the run's state and refuses a key the
contract lacks; ``contract_payload`` checks that an object the state machine builds for a function
(a LambdaInvoke payload, an ItemSelector, a Pass state's parameters) has exactly the keys of the
``TypedDict`` the function reads. Either raises while the app synthesizes, so a renamed key fails
``cdk synth`` rather than a run in the cloud.

This is the one module of ``functions/`` that ``infra/`` imports (standard library only).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from functions.shared.contracts import state_path

__all__ = ["contract_keys", "contract_payload", "state_path"]

_PATH_SUFFIX = ".$"


def contract_keys(contract: Any) -> tuple[frozenset[str], frozenset[str]]:
    """``(required, optional)`` keys of a ``TypedDict``.

    ``__required_keys__`` is exact because the contracts module does not postpone its annotations
    (with ``from __future__ import annotations`` Python 3.11 would count ``NotRequired`` keys as
    required there).
    """
    if not typing.is_typeddict(contract):
        raise TypeError(f"{contract!r} is not a TypedDict")
    return frozenset(contract.__required_keys__), frozenset(contract.__optional_keys__)


def contract_payload(contract: Any, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` (as a new dict) once its keys are checked against ``contract``, a ``TypedDict``.

    A key ending ``.$`` (a JSONPath or intrinsic the state resolves) counts as the key without it.
    Raises ``KeyError`` naming the contract for a missing required key or a key it does not declare.
    """
    required, optional = contract_keys(contract)
    keys = {key.removesuffix(_PATH_SUFFIX) for key in payload}
    missing = sorted(required - keys)
    unknown = sorted(keys - required - optional)
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unknown:
            problems.append(f"not in the contract: {', '.join(unknown)}")
        raise KeyError(f"payload for {contract.__name__}: {'; '.join(problems)} (functions/shared/contracts.py)")
    return dict(payload)
