"""Reading the uploaded object once, as a stream, while hashing exactly the bytes that are checked."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws import client
from functions.shared.errors import SourceObjectError
from functions.shared.s3 import s3_uri

__all__ = ["HashingReader", "SourceObject", "open_source"]


@dataclass(frozen=True)
class SourceObject:
    """The object named by the execution input ``data`` block."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SourceObject:
        data = state.get("data") if isinstance(state, dict) else None
        if not isinstance(data, dict) or not data.get("bucket") or not data.get("key"):
            raise ValueError(f"execution input needs data.bucket and data.key, got data={data!r}")
        return cls(data["bucket"], data["key"], data.get("versionId") or None, data.get("etag") or None)

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key) + (f"?versionId={self.version_id}" if self.version_id else "")

    def copy_source(self) -> dict[str, str]:
        source = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            source["VersionId"] = self.version_id
        return source


class HashingReader(io.RawIOBase):
    """A raw stream over an S3 body that feeds every byte read into SHA-256.

    The datasetVersion and the lineage carry this digest, so it must be the digest of the very
    bytes the checks read, not of a second download that could differ.
    """

    def __init__(self, body: Any) -> None:
        self._body = body
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._body.read(len(buffer))
        n = len(chunk)
        buffer[:n] = chunk
        self.sha256.update(chunk)
        self.size += n
        return n

    def drain(self) -> None:
        """Read what the CSV reader left (nothing, normally) so the digest covers the whole object."""
        while self._body.read(1 << 20):
            pass  # pragma: no cover - reached only if a reader stopped early

    def close(self) -> None:
        self._body.close()
        super().close()


def open_source(source: SourceObject) -> tuple[HashingReader, str]:
    """Open the object for streaming; return the hashing reader and the ETag actually read.

    The version id, when the event has one, pins the exact object version; otherwise the event's
    ETag is sent as If-Match so a file overwritten since its event is not validated in its place
    (the overwrite has its own event and its own run).
    """
    params: dict[str, Any] = {"Bucket": source.bucket, "Key": source.key}
    if source.version_id:
        params["VersionId"] = source.version_id
    elif source.etag:
        params["IfMatch"] = source.etag
    try:
        response = client("s3").get_object(**params)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "NoSuchVersion", "404"}:
            raise SourceObjectError(f"{source.uri} does not exist (deleted before validation?)") from exc
        if code in {"PreconditionFailed", "412"}:
            raise SourceObjectError(
                f"{source.uri} changed since its upload event (ETag is no longer {source.etag}); "
                "the newer object is validated by its own run"
            ) from exc
        raise
    return HashingReader(response["Body"]), response["ETag"]
