"""The cloud assembly: synthesize the CDK app and read what it wrote.

The local cloud deploys exactly what `cdk synth` produces — the templates and asset manifests in
the assembly directory — never a second hand-written description of the infrastructure. Synthesis
runs the project's own CDK app (`infra/app.py`'s `build_app`) in a child process, so jsii's Node
runtime stays out of the caller's process, and context overrides (for example a different gate
threshold or schema file) reach it exactly as `cdk synth -c key=value` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

_SYNTH_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from infra.app import build_app
build_app(context_overrides=json.loads(sys.argv[2]), outdir=sys.argv[3]).synth()
"""


class SynthError(RuntimeError):
    """The CDK app did not synthesize (a cdk-nag finding, a bad config value, a code error).

    The message is the final error line; `details` keeps the end of the app's output."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class StackArtifact:
    name: str
    template: dict[str, Any]
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class FileAsset:
    source: Path
    packaging: str  # "zip" (a directory) or "file"
    bucket: str
    key: str


@dataclass(frozen=True)
class CloudAssembly:
    directory: Path
    stacks: tuple[StackArtifact, ...]  # in deployment order
    assets: tuple[FileAsset, ...]

    def stack(self, name: str) -> StackArtifact:
        for stack in self.stacks:
            if stack.name == name:
                return stack
        raise KeyError(f"no stack {name!r} in {self.directory}; stacks: {[s.name for s in self.stacks]}")


def project_root(start: Path | None = None) -> Path:
    """The checkout that holds `cdk.json` (the current directory or above it, else this package's)."""
    for candidate in [start or Path.cwd(), Path(__file__).resolve().parents[2]]:
        for directory in [candidate, *candidate.parents]:
            if (directory / "cdk.json").is_file() and (directory / "infra").is_dir():
                return directory
    raise FileNotFoundError("cannot find the project checkout (a folder with cdk.json and infra/)")


def synthesize(outdir: Path, *, context: dict[str, Any] | None = None, root: Path | None = None) -> CloudAssembly:
    root = root or project_root()
    outdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    process = subprocess.run(  # noqa: S603 - our own CDK app
        [sys.executable, "-c", _SYNTH_SCRIPT, str(root), json.dumps(context or {}), str(outdir)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    if process.returncode != 0:
        lines = (process.stderr or process.stdout).strip().splitlines()
        raise SynthError(f"cdk synth failed: {lines[-1] if lines else 'no output'}", details="\n".join(lines[-40:]))
    return read_assembly(outdir)


def read_assembly(directory: Path) -> CloudAssembly:
    manifest = json.loads((directory / "manifest.json").read_text())
    artifacts: dict[str, Any] = manifest.get("artifacts", {})
    stack_ids = {aid for aid, a in artifacts.items() if a.get("type") == "aws:cloudformation:stack"}
    graph = {aid: [d for d in artifacts[aid].get("dependencies", []) if d in stack_ids] for aid in stack_ids}
    stacks, assets = [], []
    for artifact_id in TopologicalSorter(graph).static_order():
        artifact = artifacts[artifact_id]
        properties = artifact["properties"]
        stacks.append(
            StackArtifact(
                name=properties.get("stackName", artifact_id),
                template=json.loads((directory / properties["templateFile"]).read_text()),
                depends_on=tuple(graph[artifact_id]),
            )
        )
    for artifact in artifacts.values():
        if artifact.get("type") != "cdk:asset-manifest":
            continue
        asset_manifest = json.loads((directory / artifact["properties"]["file"]).read_text())
        for entry in asset_manifest.get("files", {}).values():
            for destination in entry["destinations"].values():
                assets.append(
                    FileAsset(
                        source=directory / entry["source"]["path"],
                        packaging=entry["source"].get("packaging", "file"),
                        bucket=destination["bucketName"],
                        key=destination["objectKey"],
                    )
                )
    return CloudAssembly(directory=directory, stacks=tuple(stacks), assets=tuple(assets))
