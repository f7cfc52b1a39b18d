"""The SageMaker source directory (``sourcedir.tar.gz``) built at synth and published as an asset.

Training and serving both run script mode from this archive: ``pipelines/`` plus the dataset
schema as ``schema.json``. The CDK publishes it to the bootstrap bucket, which ``cdk gc`` may empty
of assets no deployed template names any more; each training run therefore first copies it to the
artifacts bucket (``code/<codeVersion>/sourcedir.tar.gz``, ``SourceArchiveCopy``) and trains from
that copy, and the training job packs the serving code into ``model.tar.gz``: a registered model
never depends on an asset a later deployment may garbage-collect.

The archive is byte-for-byte reproducible (sorted entries, zero timestamps and owners, no gzip
name or time), so its asset hash changes only when the code or the schema does, and that hash
doubles as the code version recorded in a model's lineage.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

__all__ = ["ARCHIVE_NAME", "SourceArchiveCopy", "TrainingCodeAsset", "build_source_archive", "source_archive_members"]

ARCHIVE_NAME = "sourcedir.tar.gz"
TRAIN_PROGRAM = "pipelines/train.py"
# The serving container imports SAGEMAKER_PROGRAM as a top-level module, so the archive's root holds
# `inference.py`, a copy of pipelines/serving_entry.py that re-exports pipelines.inference.
INFERENCE_PROGRAM = "inference.py"
SERVING_ENTRY = "pipelines/serving_entry.py"


def source_archive_members(project_root: Path, schema_path: Path) -> list[tuple[str, Path]]:
    """(name inside the archive, source file) for every member, sorted by name."""
    pipelines = project_root / "pipelines"
    members = [
        (path.relative_to(project_root).as_posix(), path)
        for path in pipelines.rglob("*.py")
        if "__pycache__" not in path.relative_to(project_root).parts
    ]
    if not schema_path.is_file():
        raise FileNotFoundError(f"schema file {schema_path} does not exist (mlops.schemaFile)")
    members.append(("schema.json", schema_path))
    members.append((INFERENCE_PROGRAM, project_root / SERVING_ENTRY))
    names = {name for name, _ in members}
    for program in (TRAIN_PROGRAM, INFERENCE_PROGRAM, SERVING_ENTRY):
        if program not in names:
            raise FileNotFoundError(f"the SageMaker source directory needs {program}, which does not exist")
    return sorted(members)


def build_source_archive(project_root: Path, schema_path: Path, destination: Path) -> Path:
    """Write the deterministic ``sourcedir.tar.gz`` to ``destination`` (a file path) and return it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, source in source_archive_members(project_root, schema_path):
            data = source.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    destination.parent.mkdir(parents=True, exist_ok=True)
    with destination.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
        zipped.write(buffer.getvalue())
    return destination


@dataclass(frozen=True)
class SourceArchiveCopy:
    """The asset's object and its copy in the artifacts bucket (the one the training jobs read)."""

    source_bucket: str
    source_key: str
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def source_arn(self) -> str:
        return f"arn:{cdk.Aws.PARTITION}:s3:::{self.source_bucket}/{self.source_key}"

    @property
    def arn(self) -> str:
        return f"arn:{cdk.Aws.PARTITION}:s3:::{self.bucket}/{self.key}"


class TrainingCodeAsset(Construct):
    """The source archive as an S3 file asset; exposes its URL and its content hash."""

    def __init__(self, scope: Construct, construct_id: str, *, project_root: Path, schema_path: Path) -> None:
        super().__init__(scope, construct_id)
        stage = cdk.Stage.of(self)
        assert stage is not None, "a construct is always inside an App, which is a Stage"
        build_dir = Path(stage.outdir) / ".build" / cdk.Names.unique_id(self)
        archive = build_source_archive(project_root, schema_path, build_dir / ARCHIVE_NAME)
        self.asset = s3_assets.Asset(self, "Archive", path=str(archive))
        self.s3_url = self.asset.s3_object_url
        self.code_version = self.asset.asset_hash
        self.train_program = TRAIN_PROGRAM
        self.inference_program = INFERENCE_PROGRAM

    def copy_to(self, bucket_name: str) -> SourceArchiveCopy:
        """Where the archive is copied in ``bucket_name``: keyed by its content hash, so a copy is
        never overwritten by other code."""
        return SourceArchiveCopy(
            source_bucket=self.asset.s3_bucket_name,
            source_key=self.asset.s3_object_key,
            bucket=bucket_name,
            key=f"code/{self.code_version}/{ARCHIVE_NAME}",
        )

    def grant_read(self, grantee: iam.IGrantable) -> None:
        self.asset.grant_read(grantee)
