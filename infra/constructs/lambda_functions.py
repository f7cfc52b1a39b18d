"""Lambda functions: the one code asset all handlers share, and the function construct itself.

The code asset is bundled locally (no Docker at synth): a plain copy of the handler tree, the pure
modules the handlers import from ``pipelines`` (``schema``, ``quality`` and ``drift``), and the dataset
schema as ``schema.json``. Nothing is pip-installed: boto3 comes with the runtime, Powertools and
numpy (for ``pipelines.drift``) from AWS's public managed layers, which keeps the package small and
the cold start short.

The managed layers are published per region, by per-region accounts and with per-region version
numbers, so their ARNs come from one data file (``infra/data/lambda_layers.json``, copied from each
layer's published table with its source and date). Each stack holds that table as a ``CfnMapping``
and selects its region's row: ``Fn::FindInMap`` on ``AWS::Region`` for an environment-agnostic
stack, the literal ARN when the stack's region is known.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.compliance import UNSCOPED_ACTIONS_REASON, acknowledge, skip_checkov
from infra.config import ConfigError, LambdaConfig
from infra.constructs.log_encryption import LogEncryptionKey

__all__ = [
    "LAYER_TABLE_FILE",
    "LambdaCodeBundler",
    "LayerTable",
    "ManagedLayers",
    "PipelineFunction",
    "lambda_code_asset",
    "lambda_code_files",
    "layer_table",
    "runtime_for",
]

SCHEMA_FILE_NAME = "schema.json"
LAYER_TABLE_FILE = Path(__file__).resolve().parents[1] / "data" / "lambda_layers.json"
# Keys of a row of the layer mapping (CloudFormation mapping keys are alphanumeric).
POWERTOOLS_KEY = "powertools"
SDK_PANDAS_KEY = "sdkPandas"
# checkov checks that no function of this project needs (CKV_AWS_116, the dead-letter queue, depends on
# how a function is invoked and is settled where that is wired).
FUNCTION_CHECKOV_SKIPS = {
    "CKV_AWS_117": "No VPC resources to reach: only AWS APIs are called, over TLS; a VPC would need NAT (a cost).",
    "CKV_AWS_115": "Account-level concurrency is shared; reserving it on a small account starves other functions.",
    "CKV_AWS_173": "The environment holds resource names and settings, no secrets; Lambda encrypts it at rest.",
}


def _python_files(root: Path, relative_dir: str) -> Iterator[tuple[Path, str]]:
    base = root / relative_dir
    for path in sorted(base.rglob("*.py")):
        relative = path.relative_to(root)
        if "__pycache__" not in relative.parts:
            yield path, relative.as_posix()


def lambda_code_files(project_root: Path, schema_path: Path) -> list[tuple[Path, str]]:
    """Every (source file, path inside the package) pair of the Lambda code asset, sorted."""
    files = list(_python_files(project_root, "functions"))
    for name in ("__init__.py", "schema.py", "quality.py"):
        source = project_root / "pipelines" / name
        if not source.is_file():
            raise FileNotFoundError(f"the Lambda package needs pipelines/{name}, which does not exist")
        files.append((source, f"pipelines/{name}"))
    files.extend(_python_files(project_root, "pipelines/drift"))
    if not schema_path.is_file():
        raise FileNotFoundError(f"schema file {schema_path} does not exist (mlops.schemaFile)")
    files.append((schema_path, SCHEMA_FILE_NAME))
    return sorted(files, key=lambda item: item[1])


@jsii.implements(cdk.ILocalBundling)
class LambdaCodeBundler:
    """Builds the Lambda package by copying files: the CDK calls this instead of running Docker."""

    def __init__(self, project_root: Path, schema_path: Path) -> None:
        self._project_root = project_root
        self._schema_path = schema_path

    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        target = Path(output_dir)
        for source, relative in lambda_code_files(self._project_root, self._schema_path):
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        return True


def lambda_code_asset(*, project_root: Path, schema_path: Path) -> lambda_.Code:
    """The one code asset every function uses, hashed on what it contains (``OUTPUT``)."""
    digest = hashlib.sha256()
    for source, relative in lambda_code_files(project_root, schema_path):
        digest.update(relative.encode() + b"\0" + source.read_bytes() + b"\0")
    return lambda_.Code.from_asset(
        str(project_root / "functions"),
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        bundling=cdk.BundlingOptions(
            # Never pulled: local bundling always succeeds, and it raises rather than fall back.
            image=cdk.DockerImage.from_registry("local-bundling-only"),
            local=LambdaCodeBundler(project_root, schema_path),
            # Part of the bundling options, so a changed input can never reuse a stale bundle.
            environment={"MLOPS_INPUT_DIGEST": digest.hexdigest()},
        ),
    )


def runtime_for(config: LambdaConfig) -> lambda_.Runtime:
    """The CDK runtime object for the configured name; unknown names fail at synth, not deploy."""
    for runtime in lambda_.Runtime.ALL:
        if runtime.name == config.runtime:
            return runtime
    known = sorted(r.name for r in lambda_.Runtime.ALL if r.name.startswith("python"))
    raise ValueError(f"mlops.lambda.runtime {config.runtime!r} is not a Lambda runtime the CDK knows: {known}")


@dataclass(frozen=True)
class LayerTable:
    """Region -> layer ARN for each managed layer, for the configured runtime and versions."""

    powertools: Mapping[str, str]
    sdk_pandas: Mapping[str, str]

    @property
    def regions(self) -> list[str]:
        """The regions where both layers are published: the ones the stacks can deploy to."""
        return sorted(set(self.powertools) & set(self.sdk_pandas))

    def rows(self) -> dict[str, dict[str, str]]:
        return {
            region: {POWERTOOLS_KEY: self.powertools[region], SDK_PANDAS_KEY: self.sdk_pandas[region]}
            for region in self.regions
        }


@functools.lru_cache(maxsize=4)
def _read_layer_file(path: Path) -> dict[str, object]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return document


def layer_table(config: LambdaConfig, path: Path = LAYER_TABLE_FILE) -> LayerTable:
    """The layer ARNs of the data file, after checking that they are the ones ``cdk.json`` pins.

    The versions in ``mlops.lambda`` stay the pin a reviewer sees in ``cdk.json``; the data file
    says where each version lives. A mismatch fails synthesis naming the key, so upgrading one
    without the other cannot deploy a layer nobody looked up.
    """
    document = _read_layer_file(path)
    where = path.name
    if document.get("runtime") != config.runtime or document.get("architecture") != "x86_64":
        raise ConfigError(
            f"mlops.lambda.runtime: {config.runtime!r} has no layer table; {where} lists "
            f"{document.get('runtime')!r} on {document.get('architecture')!r} (copy the tables for the new runtime)"
        )
    layers = document.get("layers")
    if not isinstance(layers, dict):
        raise ValueError(f"{where}: 'layers' must be an object")
    tables: dict[str, Mapping[str, str]] = {}
    for key, pinned, config_key in (
        (POWERTOOLS_KEY, config.powertools_layer_version, "powertoolsLayerVersion"),
        (SDK_PANDAS_KEY, config.pandas_layer_version, "pandasLayerVersion"),
    ):
        layer = layers.get(key)
        if not isinstance(layer, dict) or not isinstance(layer.get("arns"), dict) or not layer["arns"]:
            raise ValueError(f"{where}: layers.{key} needs a non-empty 'arns' object (region -> ARN)")
        if layer.get("version") != pinned:
            raise ConfigError(
                f"mlops.lambda.{config_key}: {pinned} is not the version {where} holds for layers.{key} "
                f"({layer.get('version')}); update the table from its source ({layer.get('source')}) with the pin"
            )
        for region, arn in layer["arns"].items():
            if not isinstance(arn, str) or f":lambda:{region}:" not in arn or ":layer:" not in arn:
                raise ValueError(f"{where}: layers.{key}.arns.{region}: {arn!r} is not a layer ARN of {region}")
        tables[key] = dict(layer["arns"])
    return LayerTable(powertools=tables[POWERTOOLS_KEY], sdk_pandas=tables[SDK_PANDAS_KEY])


class ManagedLayers(Construct):
    """The layer table of one stack as a ``CfnMapping``, and this stack's Powertools/pandas layers.

    One per stack (``ManagedLayers.of``), shared by its functions. The mapping is lazy: a stack with
    a known region gets literal ARNs (and a region without the layers fails here, at synth); an
    environment-agnostic stack gets ``Fn::FindInMap`` on ``AWS::Region`` and the whole table.
    """

    CONSTRUCT_ID = "ManagedLayers"

    def __init__(self, scope: Construct, construct_id: str, *, config: LambdaConfig) -> None:
        super().__init__(scope, construct_id)
        table = layer_table(config)
        stack = cdk.Stack.of(self)
        if not cdk.Token.is_unresolved(stack.region) and stack.region not in table.regions:
            raise ConfigError(
                f"region {stack.region!r}: {LAYER_TABLE_FILE.name} has no Powertools and AWS SDK for pandas "
                f"layers there (regions with both: {', '.join(table.regions)})"
            )
        self.config = config
        self.regions = table.regions
        self.mapping = cdk.CfnMapping(self, "Table", mapping=table.rows(), lazy=True)
        self.powertools_arn = self.mapping.find_in_map(stack.region, POWERTOOLS_KEY)
        self.sdk_pandas_arn = self.mapping.find_in_map(stack.region, SDK_PANDAS_KEY)

    @classmethod
    def of(cls, scope: Construct, config: LambdaConfig) -> ManagedLayers:
        """The stack's one instance, created on first use."""
        stack = cdk.Stack.of(scope)
        existing = stack.node.try_find_child(cls.CONSTRUCT_ID)
        if isinstance(existing, ManagedLayers):
            if existing.config != config:
                raise ValueError(f"{stack.node.path}: all functions of a stack share one Lambda configuration")
            return existing
        return cls(stack, cls.CONSTRUCT_ID, config=config)


class PipelineFunction(Construct):
    """One handler of ``functions/<name>/handler.py`` with its own role, log group and layers.

    Each function gets a dedicated role (no AWS managed policies) so that its permissions are
    exactly the grants the stack wires to it, plus writing to its own log group and X-Ray.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        function_name: str,
        description: str,
        code: lambda_.Code,
        config: LambdaConfig,
        project_root: Path,
        environment: Mapping[str, str],
        service_name: str,
        metrics_namespace: str,
        with_numpy: bool = False,
        ephemeral_storage_mib: int | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
    ) -> None:
        super().__init__(scope, construct_id)
        handler_file = project_root / "functions" / name / "handler.py"
        if not handler_file.is_file():
            raise FileNotFoundError(f"function {name!r} has no handler: functions/{name}/handler.py is missing")

        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=log_retention, encryption_key=LogEncryptionKey.of(self)
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the {function_name} function",
        )
        self.log_group.grant_write(self.role)

        managed = ManagedLayers.of(self, config)
        layers: list[lambda_.ILayerVersion] = [
            lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", managed.powertools_arn)
        ]
        if with_numpy:
            layers.append(lambda_.LayerVersion.from_layer_version_arn(self, "SdkPandas", managed.sdk_pandas_arn))

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=runtime_for(config),
            architecture=lambda_.Architecture.X86_64,
            handler=f"functions.{name}.handler.lambda_handler",
            code=code,
            role=self.role,
            memory_size=config.memory_mb,
            timeout=cdk.Duration.seconds(config.timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            layers=layers,
            # /tmp beyond the default 512 MiB, for a function that spills to it (validate's hashed keys).
            ephemeral_storage_size=cdk.Size.mebibytes(ephemeral_storage_mib) if ephemeral_storage_mib else None,
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
                "LOG_LEVEL": "INFO",
                "SCHEMA_PATH": SCHEMA_FILE_NAME,
                **environment,
            },
        )
        # Tracing.ACTIVE grants xray:PutTraceSegments/PutTelemetryRecords, which take no resource.
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", UNSCOPED_ACTIONS_REASON)
        for check_id, reason in FUNCTION_CHECKOV_SKIPS.items():
            skip_checkov(self.function, check_id, reason)
