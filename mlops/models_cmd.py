"""``mlops models``, ``mlops approve``, ``mlops reject``, ``mlops rollback``: the champion, always known.

- ``models`` lists the versions of the stage's model package group: approval, stage, which one
  serves (the registry's mark, checked against the endpoint), holdout metrics, lineage, model card;
- ``approve VERSION`` / ``reject VERSION`` set the version's approval in the Model Registry. Where
  the stage's approval is manual, the registry's approval event deploys it (``--wait`` follows that
  run); rejecting leaves the champion serving;
- ``rollback [--to VERSION]`` redeploys an earlier approved version (default: the one that served
  before the current one) through the pipeline's deployment phase: the same lock, the same
  blue/green update with auto-rollback.

Names come from the stage's pipeline stack outputs; the AWS clients from boto3's default chain, so
``AWS_ENDPOINT_URL`` points them at the local cloud (``mlops local up``) and nothing else changes.
Every expected failure ends as one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from mlops.governance.registry import PIPELINE_STACK, ModelVersion, Registry, RegistryError, StackNames
from mlops.governance.runs import RunOutcome, find_deploy_run, start_rollback, wait_for_run

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("models", "approve", "reject", "rollback")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage",
        help="the stage whose models to address: a key of mlops.stages in cdk.json (default: the stage-less "
        "stacks, as `mlops local up` and `cdk deploy` without -c stage deploy them)",
    )
    parser.add_argument(
        "--stack", help="the pipeline stack's name, if not <prefix>-pipeline of the stage (e.g. mlops-prod-pipeline)"
    )
    parser.add_argument("--region", help="the AWS region (default: the stage's, else the AWS configuration's)")
    parser.add_argument("--profile", help="the AWS CLI profile to use (default: the default credential chain)")


def add_parsers(commands: Any) -> None:
    """Register the four commands on ``mlops``'s subparsers."""
    models = commands.add_parser("models", help="list the model versions: approval, stage, metrics, which one serves")
    _common(models)
    models.add_argument("--json", action="store_true", help="print the versions as JSON instead of a table")

    for name, verb in (("approve", "approve"), ("reject", "reject")):
        parser = commands.add_parser(name, help=f"{verb} a model version in the Model Registry")
        _common(parser)
        parser.add_argument("version", type=int, help="the version number (see `mlops models`)")
        parser.add_argument("--note", default="", help="why, recorded as the version's approval description")
        if name == "approve":
            parser.add_argument(
                "--wait",
                action="store_true",
                help="where approval deploys (manual stages), wait for that deployment and print how it ended",
            )
            parser.add_argument(
                "--timeout", type=float, default=3600.0, help="seconds to wait with --wait (default 3600)"
            )

    rollback = commands.add_parser(
        "rollback", help="redeploy an earlier approved version through the pipeline's deployment (blue/green)"
    )
    _common(rollback)
    rollback.add_argument(
        "--to", dest="to_version", type=int, help="the version to roll back to (default: the one that served before)"
    )
    rollback.add_argument("--no-wait", dest="wait", action="store_false", help="start the rollback and return")
    rollback.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for it (default 3600)")


def run(arguments: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one of :data:`COMMANDS`; 0 on success, 1 on an expected failure (one line on ``err``)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        stack_name = _stack_name(arguments)  # may take the stage's region
        clients = _Clients(arguments.region, arguments.profile)
        names = StackNames.from_stack(clients.get("cloudformation"), stack_name)
        registry = Registry(clients.get("sagemaker"), clients.get("s3"), names)
        if arguments.command == "models":
            return _models(registry, arguments.json, out)
        if arguments.command in ("approve", "reject"):
            return _set_approval(registry, clients, arguments, out)
        return _rollback(registry, clients, arguments, out)
    except (RegistryError, TimeoutError) as error:
        print(f"mlops {arguments.command}: {error}", file=err)
        return 1
    except Exception as error:  # botocore: no credentials, access denied, endpoint unreachable
        if type(error).__module__.startswith("botocore"):
            print(f"mlops {arguments.command}: {error}", file=err)
            return 1
        raise


class _Clients:
    def __init__(self, region: str | None, profile: str | None) -> None:
        import boto3

        self._session = boto3.Session(profile_name=profile, region_name=region)
        self._clients: dict[str, Any] = {}

    def get(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)
        return self._clients[service]


def _stack_name(arguments: argparse.Namespace) -> str:
    if arguments.stack:
        return str(arguments.stack)
    from mlops.deploy.stage import StageError, load_stage
    from mlops.local.assembly import project_root

    try:
        stage = load_stage(project_root(), arguments.stage)
    except (StageError, FileNotFoundError) as error:
        raise RegistryError(str(error)) from error
    if arguments.region is None and stage.region:
        arguments.region = stage.region
    return PIPELINE_STACK.format(prefix=stage.mlops["prefix"])


def _models(registry: Registry, as_json: bool, out: TextIO) -> int:
    versions = registry.versions()
    serving = registry.serving_arn()
    if as_json:
        rows = [{**v.to_dict(), "endpointServes": v.arn == serving} for v in versions]
        print(json.dumps({"stack": registry.names.stack, "servingArn": serving, "versions": rows}, indent=2), file=out)
        return 0
    names = registry.names
    print(f"{names.model_package_group} (stack {names.stack}, approval {names.approval_mode})", file=out)
    if not versions:
        print("  no versions registered yet", file=out)
        return 0
    print(f"  {'ver':>4} {'approval':<22} {'stage':<8} {'serves':<7} {'roc_auc':>7} {'pr_auc':>7}  lineage", file=out)
    for v in versions:
        marker = "yes" if v.arn == serving else ("mark!" if v.serving else "")
        lineage = " ".join(f"{k}={val}" for k, val in v.lineage.items() if k in ("reason", "windowBatches", "newRows"))
        print(
            f"  {v.version:>4} {v.approval:<22} {v.stage or '-':<8} {marker:<7} "
            f"{_metric(v, 'roc_auc'):>7} {_metric(v, 'pr_auc'):>7}  {lineage}",
            file=out,
        )
    if serving is None:
        print(f"  the endpoint {names.endpoint_name} serves no registered version", file=out)
    cards = [v for v in versions if v.model_card and v.arn == serving]
    if cards:
        print(f"  model card of the serving version: {cards[0].model_card}", file=out)
    return 0


def _metric(version: ModelVersion, name: str) -> str:
    value = version.metrics.get(name)
    return f"{value:.3f}" if value is not None else "-"


def _set_approval(registry: Registry, clients: _Clients, arguments: argparse.Namespace, out: TextIO) -> int:
    status = "Approved" if arguments.command == "approve" else "Rejected"
    note = arguments.note or f"{status.lower()} with `mlops {arguments.command}`"
    started = datetime.now(UTC)
    version = registry.set_approval(arguments.version, status, note)
    print(f"v{version.version} is {version.approval}", file=out)
    serving = registry.serving_arn()
    if status == "Rejected":
        if version.arn == serving:
            print(f"  v{version.version} still serves: `mlops rollback` puts an earlier version back", file=out)
        else:
            print("  the serving version is unchanged", file=out)
        return 0
    if registry.names.approval_mode != "manual":
        print(
            f"  stage approval is {registry.names.approval_mode}: an approval deploys nothing by itself; "
            f"`mlops rollback --to {version.version}` deploys it",
            file=out,
        )
        return 0
    if not getattr(arguments, "wait", False):
        print(
            "  the Model Registry's approval event starts its deployment (`mlops models` shows when it serves)",
            file=out,
        )
        return 0
    sfn = clients.get("stepfunctions")
    arn = find_deploy_run(sfn, registry.names.state_machine_arn, version.arn, since=started)
    if arn is None:
        raise RegistryError(
            f"no deployment of v{version.version} started after its approval (is the approval rule deployed?)"
        )
    return _report(wait_for_run(sfn, arn, timeout=arguments.timeout), out)


def _rollback_target(registry: Registry, wanted: int | None) -> ModelVersion:
    versions = registry.versions()
    serving = registry.serving_arn()
    if wanted is not None:
        target = next((v for v in versions if v.version == wanted), None)
        if target is None:
            raise RegistryError(f"there is no version {wanted}")
    else:
        current = next((v for v in versions if v.arn == serving), None)
        earlier = [
            v
            for v in versions
            if v.approval == "Approved" and v.arn != serving and (current is None or v.version < current.version)
        ]
        served_before = [v for v in earlier if v.served_since]
        candidates = served_before or earlier
        if not candidates:
            raise RegistryError("no earlier approved version to roll back to")
        target = (
            max(candidates, key=lambda v: v.served_until or v.served_since or "") if served_before else candidates[-1]
        )
    if target.approval != "Approved":
        raise RegistryError(
            f"v{target.version} is {target.approval}: approve it first (`mlops approve {target.version}`)"
        )
    if target.arn == serving:
        raise RegistryError(f"v{target.version} already serves")
    return target


def _rollback(registry: Registry, clients: _Clients, arguments: argparse.Namespace, out: TextIO) -> int:
    target = _rollback_target(registry, arguments.to_version)
    sfn = clients.get("stepfunctions")
    arn = start_rollback(sfn, registry.names.state_machine_arn, target.arn, target.version)
    print(f"rolling back to v{target.version}: {arn.rsplit(':', 1)[-1]}", file=out)
    if not arguments.wait:
        return 0
    return _report(wait_for_run(sfn, arn, timeout=arguments.timeout), out)


def _report(outcome: RunOutcome, out: TextIO) -> int:
    print(f"  {outcome.describe()}", file=out)
    return 0 if outcome.status == "SUCCEEDED" and outcome.end_state in {"Deployed", "AlreadyServing"} else 1
