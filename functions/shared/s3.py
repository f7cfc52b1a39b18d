"""Small S3 helpers shared by the handlers: URIs, JSON objects and UTC stamps.

Encryption is deliberately NOT requested per object: S3 then applies the bucket's default
encryption (set by infra, possibly a customer-managed KMS key), whereas an explicit ``aws:kms``
header without a key id would silently switch objects to the AWS-managed ``aws/s3`` key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws import client

__all__ = [
    "S3Location",
    "get_json",
    "is_taken",
    "parse_s3_uri",
    "put_bytes",
    "put_json",
    "s3_uri",
    "utc_stamp",
]

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class S3Location:
    """An object's bucket and key."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key)


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str, *, prefix: bool = False) -> S3Location:
    """Split ``s3://bucket/key``; anything else is a ValueError naming the bad text.

    ``prefix=True`` reads a key prefix instead of an object's key, which may be empty
    (``s3://bucket`` or ``s3://bucket/`` names the whole bucket, as SageMaker's S3Uri allows).
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not (key or prefix):
        raise ValueError(f"S3 URI needs a bucket and a key: {uri!r}")
    return S3Location(bucket, key)


def utc_stamp(moment: datetime | None = None) -> str:
    """``yyyymmddTHHMMSSZ``: sortable, and free of the ':' that makes S3 keys awkward in URLs."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime(STAMP_FORMAT)


def put_bytes(bucket: str, key: str, body: bytes, content_type: str, *, only_new: bool = False) -> str:
    """Write an object; ``only_new``: a conditional write (If-None-Match ``*``) that fails with
    ``PreconditionFailed`` (see :func:`is_taken`) instead of replacing an existing object."""
    extra = {"IfNoneMatch": "*"} if only_new else {}
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **extra)
    return s3_uri(bucket, key)


def put_json(bucket: str, key: str, document: Any, *, only_new: bool = False) -> str:
    """Write ``document`` as indented UTF-8 JSON and return its URI (``only_new``: see put_bytes)."""
    body = json.dumps(document, indent=2, sort_keys=False, default=str).encode("utf-8")
    return put_bytes(bucket, key, body, "application/json", only_new=only_new)


def is_taken(error: Exception) -> bool:
    """Whether a conditional write lost: the key exists, or a concurrent write to it is in progress."""
    if not isinstance(error, ClientError):
        return False
    return error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "ConditionalRequestConflict"}


def get_json(bucket: str, key: str) -> Any:
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)
