"""S3 object behaviours moto gets wrong: CopyObject of a multipart object, HeadObject conditions.

**CopyObject.** moto's CopyObject hands the copy the source's checksum value and its multipart record. For an
object uploaded in parts (any `aws s3 cp` or boto3 `upload_file` over the multipart threshold,
8 MB by default) that value is a checksum of the parts' checksums, so the copy advertises a
full-object checksum that its bytes do not have, and every checksum-validating download of it
(boto3 validates by default) fails. In S3 a copy made by one CopyObject request is a single-part
object whose checksum S3 computes over the copied bytes with the source's algorithm; this adapter
does the same after moto's copy, and detaches the copy from the source's parts.

**HeadObject with If-Match / If-None-Match.** S3 matches an entity tag given with or without its
quotes (S3 events carry ETags unquoted, and the pipeline passes them on as they came); moto's
GetObject does, but its HeadObject compares the quoted ETag with the header as sent, so an unquoted
ETag always "fails" the precondition (412). The header is quoted before moto compares.
"""

from __future__ import annotations

from typing import Any

from moto.s3.models import FakeKey, S3Backend
from moto.s3.responses import S3Response
from moto.s3.utils import compute_checksum

from mlops.local.adapters.patches import PatchPoint, PatchSet

__all__ = ["PATCH_POINTS", "copy_object", "head_object", "install", "uninstall"]

_CONDITIONS = ("if-match", "if-none-match")

COPY_OBJECT = PatchPoint(S3Backend, "copy_object", "a copy of a multipart object gets the parts' checksum")
HEAD_OBJECT = PatchPoint(S3Response, "head_object", "HeadObject compares If-Match with the quoted ETag as sent")
PATCH_POINTS = (COPY_OBJECT, HEAD_OBJECT)
# The originals, taken before any install: the replacements run moto's code around their own fix.
_ORIGINAL_COPY: Any = COPY_OBJECT.original()
_ORIGINAL_HEAD: Any = HEAD_OBJECT.original()


def copy_object(backend: S3Backend, src_key: FakeKey, dest_bucket_name: str, dest_key_name: str, **kwargs: Any) -> Any:
    result = _ORIGINAL_COPY(backend, src_key, dest_bucket_name, dest_key_name, **kwargs)
    if src_key.multipart is None and src_key.checksum_type != "COMPOSITE":
        return result
    copy = backend.get_object(dest_bucket_name, dest_key_name)
    if copy is None:  # pragma: no cover - moto just wrote it
        return result
    copy.multipart = None
    if copy.checksum_algorithm:
        copy.checksum_value = compute_checksum(copy.value, algorithm=copy.checksum_algorithm).decode("ascii")
        copy.checksum_type = "FULL_OBJECT"
        copy.checksum_parts = None
    return result


def _quoted(value: Any) -> Any:
    if isinstance(value, str) and value != "*" and not value.startswith(('"', "W/")):
        return f'"{value}"'
    return value


def head_object(response: S3Response, bucket_name: str, query: dict[str, Any], key_name: str, headers: Any) -> Any:
    quoted = {name: _quoted(value) if name.lower() in _CONDITIONS else value for name, value in dict(headers).items()}
    return _ORIGINAL_HEAD(response, bucket_name, query, key_name, quoted)


_PATCHES = PatchSet([(COPY_OBJECT, copy_object), (HEAD_OBJECT, head_object)])


def install() -> None:
    _PATCHES.install()


def uninstall() -> None:
    _PATCHES.uninstall()
