"""Synthesize the CDK app once per test session and share its templates.

Synthesis costs 10-20 s (cdk-nag included), so every assertion test reads the same cloud assembly.
"""

from __future__ import annotations

from typing import Any

import pytest
from infra_helpers import Synthesized, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app as ``cdk.json`` configures it, synthesized once for the whole session."""
    return synthesize(None, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def definition(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.definition()
