"""What the assets contain: the Lambda package, the SageMaker source archive, the images."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from sagemaker.core import image_uris

from infra.app import PROJECT_ROOT
from infra.config import load_config
from infra.constructs.framework_image import resolve_image_table
from infra.constructs.lambda_functions import LambdaCodeBundler, PipelineFunction, lambda_code_files
from infra.constructs.training_code import build_source_archive
from infra.dataset import read_dataset_facts

CONFIG = load_config(PROJECT_ROOT / "cdk.json")
SCHEMA = CONFIG.schema_path(PROJECT_ROOT)
HANDLERS = ("trigger", "validate", "champion", "evaluate", "register", "drift")


def test_lambda_package_holds_handlers_and_pure_modules_only() -> None:
    names = [name for _, name in lambda_code_files(PROJECT_ROOT, SCHEMA)]
    assert names == sorted(names)
    for handler in HANDLERS:
        assert f"functions/{handler}/handler.py" in names
    assert {"pipelines/__init__.py", "pipelines/schema.py", "schema.json"} <= set(names)
    assert any(name.startswith("pipelines/drift/") for name in names)
    # Training and serving code imports pandas/scikit-learn: it never enters a Lambda package.
    assert not {"pipelines/train.py", "pipelines/inference.py", "pipelines/modeling.py"} & set(names)
    assert not [name for name in names if "__pycache__" in name or not name.endswith((".py", ".json"))]


def test_local_bundler_copies_the_files_byte_for_byte(tmp_path: Path) -> None:
    assert LambdaCodeBundler(PROJECT_ROOT, SCHEMA).try_bundle(str(tmp_path)) is True
    for source, name in lambda_code_files(PROJECT_ROOT, SCHEMA):
        assert (tmp_path / name).read_bytes() == source.read_bytes(), name
    assert json.loads((tmp_path / "schema.json").read_text())["name"] == "ai4i2020"


def test_source_archive_is_reproducible_and_complete(tmp_path: Path) -> None:
    first = build_source_archive(PROJECT_ROOT, SCHEMA, tmp_path / "a" / "sourcedir.tar.gz").read_bytes()
    second = build_source_archive(PROJECT_ROOT, SCHEMA, tmp_path / "b" / "sourcedir.tar.gz").read_bytes()
    assert first == second
    assert first[4:8] == b"\0\0\0\0"  # gzip header MTIME
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as archive:
        members = archive.getmembers()
        names = [member.name for member in members]
        assert names == sorted(names)
        assert {"pipelines/train.py", "pipelines/inference.py", "pipelines/schema.py", "schema.json"} <= set(names)
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.isfile() for m in members)
        assert not [name for name in names if "__pycache__" in name]
        schema = archive.extractfile("schema.json")
        assert schema is not None and schema.read() == SCHEMA.read_bytes()
    with gzip.open(io.BytesIO(first)) as raw:
        assert raw.read(1)  # a valid gzip stream


def test_a_function_without_handler_fails_at_synth(tmp_path: Path) -> None:
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "out")), "Probe")
    with pytest.raises(FileNotFoundError, match=r"functions/ghost/handler\.py is missing"):
        PipelineFunction(
            stack,
            "Ghost",
            name="ghost",
            function_name="ghost",
            description="probe",
            code=lambda_.Code.from_inline("x = 1"),
            config=CONFIG.lambda_,
            project_root=PROJECT_ROOT,
            environment={},
            service_name="ghost",
            metrics_namespace="Probe",
        )


def test_dataset_facts_list_features_in_file_order() -> None:
    facts = read_dataset_facts(SCHEMA)
    assert facts.name == "ai4i2020"
    assert facts.features == (
        "Type",
        "Air temperature [K]",
        "Process temperature [K]",
        "Rotational speed [rpm]",
        "Torque [Nm]",
        "Tool wear [min]",
    )


def test_image_table_matches_the_sagemaker_sdk() -> None:
    table = resolve_image_table(
        CONFIG.training.framework_version, CONFIG.training.instance_type, CONFIG.serving.instance_type
    )
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= set(table)
    expected = image_uris.retrieve(
        "sklearn",
        region="eu-west-1",
        version=CONFIG.training.framework_version,
        image_scope="inference",
        instance_type=CONFIG.serving.instance_type,
    )
    assert table["eu-west-1"].inference_image == expected
    assert all(
        row.training_image.endswith(f"/sagemaker-scikit-learn:{CONFIG.training.framework_version}-cpu-py3")
        for row in table.values()
    )


def test_unknown_framework_version_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"frameworkVersion '0\.0-9'"):
        resolve_image_table("0.0-9", "ml.m5.large", "ml.m5.large")
