"""Reading a training job's archives from S3 safely and verifying the model's integrity.

A tar archive is untrusted input: members are accepted only if ``tarfile.data_filter`` (the rules
of ``extractall(filter="data")``: no absolute paths, no ``..``, no links out, no devices) lets them
through, only regular files with the exact expected names are read, and sizes are capped. Nothing
is written to disk.
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
from typing import IO

from botocore.exceptions import ClientError

from functions.shared.aws import client
from functions.shared.errors import ArtifactError
from functions.shared.s3 import S3Location

__all__ = ["MAX_MEMBER_BYTES", "member_sha256", "read_members"]

MAX_MEMBER_BYTES = 64 * 1024 * 1024  # metrics/baseline/manifest are KBs; a huge member is an attack
_DEST = "/nonexistent-extraction-root"  # data_filter checks paths against a destination; none is used


def _safe_name(member: tarfile.TarInfo, archive: str) -> str:
    try:
        checked = tarfile.data_filter(member, _DEST)
    except tarfile.FilterError as exc:
        raise ArtifactError(f"{archive}: unsafe member {member.name!r}: {exc}") from exc
    name = posixpath.normpath(checked.name)
    return name[2:] if name.startswith("./") else name


def _open_body(location: S3Location) -> IO[bytes]:
    try:
        return client("s3").get_object(Bucket=location.bucket, Key=location.key)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise ArtifactError(f"{location.uri} does not exist") from exc
        raise


def read_members(location: S3Location, wanted: set[str]) -> dict[str, bytes]:
    """The bytes of the ``wanted`` root-level files of a .tar.gz in S3; any missing one is an error."""
    found: dict[str, bytes] = {}
    body = _open_body(location)
    try:
        with tarfile.open(fileobj=body, mode="r|gz") as archive:  # streaming: one pass, no seeking
            for member in archive:
                name = _safe_name(member, location.uri)
                if name not in wanted:
                    continue
                if not member.isreg():
                    raise ArtifactError(f"{location.uri}: {name} is not a regular file")
                if member.size > MAX_MEMBER_BYTES:
                    raise ArtifactError(f"{location.uri}: {name} is {member.size} bytes, over the cap")
                stream = archive.extractfile(member)
                assert stream is not None  # isreg() guarantees a file object
                found[name] = stream.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArtifactError(f"{location.uri} is not a readable .tar.gz: {exc}") from exc
    finally:
        body.close()
    missing = sorted(wanted - found.keys())
    if missing:
        raise ArtifactError(f"{location.uri} lacks {', '.join(missing)}")
    return found


def member_sha256(location: S3Location, name: str) -> str:
    """SHA-256 of one member of a .tar.gz in S3, hashed while streaming (the model may be large)."""
    body = _open_body(location)
    try:
        with tarfile.open(fileobj=body, mode="r|gz") as archive:
            for member in archive:
                if _safe_name(member, location.uri) != name:
                    continue
                if not member.isreg():
                    raise ArtifactError(f"{location.uri}: {name} is not a regular file")
                stream = archive.extractfile(member)
                assert stream is not None
                digest = hashlib.sha256()
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
                return digest.hexdigest()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArtifactError(f"{location.uri} is not a readable .tar.gz: {exc}") from exc
    finally:
        body.close()
    raise ArtifactError(f"{location.uri} lacks {name}")
