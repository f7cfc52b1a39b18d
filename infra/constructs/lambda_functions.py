"""Lambda functions: the one code asset all handlers share, and the function construct itself.

The code asset is bundled locally (no Docker at synth): a plain copy of the handler tree, the pure
modules the handlers import from ``pipelines`` (``schema``, ``quality`` and ``drift``), and the dataset
schema as ``schema.json``. Nothing is pip-installed: boto3 comes with the runtime, Powertools and
numpy (for ``pipelines.drift``) from AWS's public managed layers, which keeps the package small and
the cold start short.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.compliance import UNSCOPED_ACTIONS_REASON, acknowledge
from infra.config import LambdaConfig

__all__ = [
    "POWERTOOLS_ACCOUNT",
    "SDK_PANDAS_ACCOUNT",
    "LambdaCodeBundler",
    "PipelineFunction",
    "lambda_code_asset",
    "lambda_code_files",
    "runtime_for",
]

# Publishers of the public managed layers (commercial regions).
POWERTOOLS_ACCOUNT = "017000801446"
SDK_PANDAS_ACCOUNT = "336392948345"
SCHEMA_FILE_NAME = "schema.json"


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


def powertools_layer_arn(config: LambdaConfig) -> str:
    return (
        f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:{POWERTOOLS_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-{config.python_tag}-x86_64:{config.powertools_layer_version}"
    )


def sdk_pandas_layer_arn(config: LambdaConfig) -> str:
    tag = config.python_tag.removeprefix("python")
    return (
        f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:{SDK_PANDAS_ACCOUNT}:layer:"
        f"AWSSDKPandas-Python{tag}:{config.pandas_layer_version}"
    )


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
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
    ) -> None:
        super().__init__(scope, construct_id)
        handler_file = project_root / "functions" / name / "handler.py"
        if not handler_file.is_file():
            raise FileNotFoundError(f"function {name!r} has no handler: functions/{name}/handler.py is missing")

        self.log_group = logs.LogGroup(self, "LogGroup", retention=log_retention)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the {function_name} function",
        )
        self.log_group.grant_write(self.role)

        layers: list[lambda_.ILayerVersion] = [
            lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_layer_arn(config))
        ]
        if with_numpy:
            layers.append(lambda_.LayerVersion.from_layer_version_arn(self, "SdkPandas", sdk_pandas_layer_arn(config)))

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

