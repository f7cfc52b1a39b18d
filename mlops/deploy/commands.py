"""The ``mlops preflight`` and ``mlops cost`` commands: resolve the stage, read its facts, print a table.

Kept apart from ``mlops/cli.py`` (which only declares the options) so that the commands can be
called and tested with their inputs spelled out, and so that every expected failure — an unknown
stage, a failed synthesis, a missing price, no credentials — ends as one line on stderr and exit
status 1, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from mlops.deploy.cost import Assumptions, estimate_cost, format_estimate
from mlops.deploy.facts import FactsError, StageFacts, extract_facts
from mlops.deploy.preflight import CANNOT_CHECK, ClientFactory, format_checks, run_preflight
from mlops.deploy.prices import DEFAULT_PRICES, PriceError, load_prices
from mlops.deploy.stage import Stage, StageError, load_stage, stage_assembly
from mlops.local.assembly import SynthError, project_root

__all__ = ["cost_command", "preflight_command"]

DEFAULT_COST_REGION = "us-east-1"


def _facts(stage: Stage, root: Path, assembly_dir: Path | None, err: TextIO) -> StageFacts:
    if assembly_dir is None:
        print(f"synthesizing stage {stage.label!r} (cdk-nag included, about 20 s) ...", file=err, flush=True)
    with stage_assembly(stage, root, assembly_dir) as assembly:
        return extract_facts(assembly, upload_prefix=stage.upload_prefix, labels_prefix=stage.labels_prefix)


def _session_region(profile: str | None) -> str | None:
    import boto3

    region: str | None = boto3.Session(profile_name=profile).region_name
    return region


def preflight_command(
    *,
    stage_name: str | None,
    region: str | None,
    profile: str | None = None,
    assembly_dir: Path | None = None,
    role_name: str | None = None,
    root: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Check the account behind the credentials (or ``profile``) against the stage; 0 when all pass."""
    import botocore.exceptions

    out, err = out or sys.stdout, err or sys.stderr  # resolved per call: the streams may be replaced
    try:
        root = root or project_root()
        stage = load_stage(root, stage_name)
        region = region or stage.region or _session_region(profile)
        factory = _boto3_session(profile)
        facts = _facts(stage, root, assembly_dir, err)
    except (StageError, SynthError, FactsError, FileNotFoundError, botocore.exceptions.BotoCoreError) as error:
        print(f"mlops preflight: {error}", file=err)
        return 1
    result = run_preflight(
        facts,
        factory,
        region=region,
        role_name=role_name or stage.deploy_role_name,
        stage=stage.name,
        expected_account=stage.account,
    )
    print(format_checks(result.checks, stage=stage.label, region=region, account=result.account), file=out)
    if result.problem is not None:
        print(f"mlops preflight: the account was not checked: {result.problem}", file=err)
        return 1
    if any(check.status == CANNOT_CHECK for check in result.checks):
        print("mlops preflight: some checks could not run (see the rows marked 'cannot check')", file=err)
    return 0 if result.ok else 1


def _boto3_session(profile: str | None) -> ClientFactory:
    import boto3

    session: ClientFactory = boto3.Session(profile_name=profile)
    return session


def cost_command(
    *,
    stage_name: str | None,
    region: str | None,
    assumptions: Assumptions,
    assembly_dir: Path | None = None,
    prices_path: Path = DEFAULT_PRICES,
    root: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print the stage's monthly cost table in the region (``--region``, the stage's, the session's,
    else us-east-1)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        root = root or project_root()
        stage = load_stage(root, stage_name)
        book = load_prices(prices_path)
        region = region or stage.region or _quiet_session_region() or DEFAULT_COST_REGION
        prices = book.region(region)
        facts = _facts(stage, root, assembly_dir, err)
        estimate = estimate_cost(facts, assumptions, prices, hours_per_month=book.hours_per_month)
    except (StageError, SynthError, FactsError, PriceError, FileNotFoundError) as error:
        print(f"mlops cost: {error}", file=err)
        return 1
    print(
        format_estimate(estimate, stage=stage.label, assumptions=assumptions, as_of=book.as_of, currency=book.currency),
        file=out,
    )
    return 0


def _quiet_session_region() -> str | None:
    """The default session's region, if the environment or ~/.aws/config names one (no network)."""
    import botocore.exceptions

    try:
        return _session_region(None)
    except botocore.exceptions.BotoCoreError:  # e.g. AWS_PROFILE names no profile: the estimate is offline
        return None
