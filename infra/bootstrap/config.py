"""Settings of the bootstrap app: the ``mlopsBootstrap`` context key, ``-c`` overrides on top.

Standard-library only, like ``infra.config``, and as strict: a missing repository or an unknown key
fails before any stack is built, naming the setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.config import ConfigError

__all__ = [
    "BOOTSTRAP_CONTEXT_KEY",
    "DEFAULT_QUALIFIER",
    "OIDC_PROVIDER_MODES",
    "BootstrapConfig",
    "parse_bootstrap",
]

BOOTSTRAP_CONTEXT_KEY = "mlopsBootstrap"
# `cdk bootstrap`'s default qualifier; a custom one is read from the CDK's own context key.
DEFAULT_QUALIFIER = "hnb659fds"
QUALIFIER_CONTEXT_KEY = "@aws-cdk/core:bootstrapQualifier"
# An account has at most one provider per issuer URL: the first stage in an account creates it,
# the others (or an account that already has one) use the existing one.
OIDC_PROVIDER_MODES = ("create", "existing")
# `owner/name`, or the immutable form `owner@ORG_ID/name@REPO_ID` that GitHub puts in the `sub`
# claim of repositories created from July 2026 on (and of older ones that opted in).
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:@\d+)?/[A-Za-z0-9._-]{1,100}(?:@\d+)?$")
_QUALIFIER = re.compile(r"^[a-z0-9]{1,10}$")
_KEYS = ("githubRepository", "oidcProvider")


@dataclass(frozen=True)
class BootstrapConfig:
    """Which repository may deploy, whether the stack creates the OIDC provider, the CDK qualifier."""

    github_repository: str
    create_oidc_provider: bool
    qualifier: str


def parse_bootstrap(value: Any, overrides: Mapping[str, Any], qualifier: Any = None) -> BootstrapConfig:
    """``mlopsBootstrap`` with the top-level ``-c githubRepository=…``/``-c oidcProvider=…`` on top."""
    where = BOOTSTRAP_CONTEXT_KEY
    settings = dict(value or {}) if isinstance(value, Mapping) or value is None else None
    if settings is None:
        raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
    unknown = sorted(set(settings) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
    settings.update({key: item for key, item in overrides.items() if key in _KEYS and item is not None})

    repository = settings.get("githubRepository")
    if repository is None:
        raise ConfigError(
            f"{where}.githubRepository: required: set it in cdk.json or pass -c githubRepository=OWNER/REPO"
        )
    if not isinstance(repository, str) or not _REPOSITORY.match(repository):
        raise ConfigError(
            f"{where}.githubRepository: {repository!r} is not OWNER/REPO (or OWNER@ORG_ID/REPO@REPO_ID, "
            "as the repository's OIDC subject spells it)"
        )
    mode = settings.get("oidcProvider", "create")
    if mode not in OIDC_PROVIDER_MODES:
        raise ConfigError(f"{where}.oidcProvider: {mode!r} is not one of {list(OIDC_PROVIDER_MODES)}")
    qualifier = DEFAULT_QUALIFIER if qualifier is None else qualifier
    if not isinstance(qualifier, str) or not _QUALIFIER.match(qualifier):
        raise ConfigError(f"{QUALIFIER_CONTEXT_KEY}: {qualifier!r} is not a CDK bootstrap qualifier")
    return BootstrapConfig(github_repository=repository, create_oidc_provider=mode == "create", qualifier=qualifier)
