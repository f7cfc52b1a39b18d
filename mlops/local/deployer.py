"""`cdk deploy` against the embedded AWS: bootstrap, publish assets, create the stacks.

What `cdk bootstrap` would have left in an account is emulated first — the staging bucket and the
`/cdk-bootstrap/<qualifier>/version` SSM parameter the templates check — then every file asset in
the assembly's asset manifests is published where the templates expect it (directories zipped
deterministically, files as they are), and each stack is created with CloudFormation's own
`CreateStack` in dependency order. A stack that does not reach CREATE_COMPLETE stops the
deployment with the failing resources named.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from mlops.local.assembly import CloudAssembly, FileAsset
from mlops.local.constants import ACCOUNT_ID, BOOTSTRAP_QUALIFIER, BOOTSTRAP_VERSION, REGION

_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class DeployError(RuntimeError):
    """A stack failed to deploy."""


@dataclass
class Deployment:
    """Stack outputs after a deployment, by stack and flattened (output keys are unique per app)."""

    outputs_by_stack: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def outputs(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for outputs in self.outputs_by_stack.values():
            merged.update(outputs)
        return merged

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise KeyError(f"no stack output {key!r}; outputs: {sorted(self.outputs)}") from None


def _substitute(text: str) -> str:
    return (
        text.replace("${AWS::AccountId}", ACCOUNT_ID)
        .replace("${AWS::Region}", REGION)
        .replace("${AWS::Partition}", "aws")
    )


def zip_directory(directory: Path) -> bytes:
    """A deterministic zip of a directory, as the CDK CLI builds for `zip` assets."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(str(path.relative_to(directory)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def bootstrap() -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=_substitute(f"cdk-{BOOTSTRAP_QUALIFIER}-assets-${{AWS::AccountId}}-${{AWS::Region}}"))
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version", Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )


def publish(asset: FileAsset) -> None:
    body = zip_directory(asset.source) if asset.packaging == "zip" else asset.source.read_bytes()
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=_substitute(asset.bucket), Key=_substitute(asset.key), Body=body
    )


def deploy(assembly: CloudAssembly) -> Deployment:
    bootstrap()
    for asset in assembly.assets:
        publish(asset)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    deployment = Deployment()
    for stack in assembly.stacks:
        deployment.outputs_by_stack[stack.name] = _create_stack(cloudformation, stack.name, stack.template)
    return deployment


def _create_stack(cloudformation: Any, name: str, template: dict[str, Any]) -> dict[str, str]:
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=_CAPABILITIES)
    described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    if described["StackStatus"] != "CREATE_COMPLETE":
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        failed = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
            for e in events
            if e.get("ResourceStatus", "").endswith("FAILED")
        ]
        raise DeployError(f"stack {name} ended {described['StackStatus']}: {'; '.join(failed) or 'no reason given'}")
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
