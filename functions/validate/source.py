"""Reading the uploaded object once, as a stream, while hashing exactly the bytes that are checked.

Every way the named object can fail to be read is a named error, never a raw botocore one:

- the execution input's ``data`` block is not ``{"bucket": str, "key": str, "versionId"?: str,
  "etag"?: str}``: ``UnsupportedEventError`` (a caller's bug);
- the bucket, key or version does not exist, the key's current version is a delete marker (the
  upload was withdrawn before it was validated), the object changed since its event, access is
  denied, or S3 refuses the request: ``SourceObjectError`` naming the object and S3's error code.
  Nothing is validated, copied or trained on, and the failure path notifies a person;
- throttling or a 5xx past the SDK's retries is raised as it is, and the handler names it
  ``TransientServiceError`` (``functions.shared.aws.name_transient_errors``) for the state
  machine to retry.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from functions.shared.aws import client, is_transient
from functions.shared.errors import SourceObjectError, UnsupportedEventError
from functions.shared.s3 import s3_uri

__all__ = ["HashingReader", "SourceObject", "copy_source_to", "open_source"]


@dataclass(frozen=True)
class SourceObject:
    """The object named by the execution input ``data`` block."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    @classmethod
    def from_state(cls, state: Any) -> SourceObject:
        """The object named by ``state["data"]``; checks types, not only presence."""
        data = state.get("data") if isinstance(state, dict) else None
        if not isinstance(data, dict):
            raise UnsupportedEventError(
                f"execution input needs data.bucket and data.key, got data={_shown(data)} "
                f"(input of type {type(state).__name__})"
            )
        problems = [
            f"data.{name} must be a non-empty string, got {_shown(data.get(name))}"
            for name in ("bucket", "key")
            if not isinstance(data.get(name), str) or not data.get(name)
        ]
        problems += [
            f"data.{name} must be a string or null, got {_shown(data.get(name))}"
            for name in ("versionId", "etag")
            if data.get(name) is not None and not isinstance(data.get(name), str)
        ]
        if problems:
            raise UnsupportedEventError("execution input needs data.bucket and data.key: " + "; ".join(problems))
        return cls(data["bucket"], data["key"], data.get("versionId") or None, data.get("etag") or None)

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key) + (f"?versionId={self.version_id}" if self.version_id else "")

    def path_safe_key(self, max_bytes: int) -> str:
        """The key as a name that no tool can resolve outside the folder it is written under.

        S3 keys are opaque names, so ``uploads/../x.csv`` is a valid upload and is validated as is;
        only where the key becomes part of another key (the quarantine copy) it is made path-safe:
        ``%``, ``\\`` and control characters are percent-encoded, and so is every segment that is
        empty, ``.`` or ``..`` (``uploads/../x.csv`` -> ``uploads/%2E%2E/x.csv``). A key whose safe
        form is longer than ``max_bytes`` (UTF-8) is cut and ends in ``-<sha256 of the key, 12 hex>``.
        The exact key is always in the report (``source.key``).
        """
        segments = [_path_safe_segment(segment) for segment in self.key.split("/")]
        safe = "/".join(segments)
        if len(safe.encode("utf-8")) <= max_bytes:
            return safe
        suffix = "-" + hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:12]
        head = safe.encode("utf-8")[: max(0, max_bytes - len(suffix))].decode("utf-8", "ignore")
        return head + suffix

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


_UNSAFE_SEGMENTS = {"": "%2F", ".": "%2E", "..": "%2E%2E"}


def _path_safe_segment(segment: str) -> str:
    if segment in _UNSAFE_SEGMENTS:
        return _UNSAFE_SEGMENTS[segment]
    return "".join(
        f"%{ord(char):02X}" if char in "%\\" or ord(char) < 0x20 or ord(char) == 0x7F else char for char in segment
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:80]}... ({type(value).__name__})" if len(text) > 80 else f"{text} ({type(value).__name__})"


def open_source(source: SourceObject) -> tuple[HashingReader, str]:
    """Open the object for streaming; return the hashing reader and the ETag actually read.

    The version id, when the event has one, pins the exact object version, provided the upload was
    not withdrawn: when the key's current version is a delete marker, the object was deleted before
    it was validated and is not trained on. Without a version id the event's ETag is sent as
    If-Match, so a file overwritten since its event is not validated in its place (the overwrite
    has its own event and its own run).
    """
    params: dict[str, Any] = {"Bucket": source.bucket, "Key": source.key}
    if source.version_id:
        params["VersionId"] = source.version_id
        _refuse_withdrawn(source)
    elif source.etag:
        params["IfMatch"] = source.etag
    try:
        response = client("s3").get_object(**params)
    except (ClientError, ParamValidationError) as exc:
        named = _named(source, exc)
        if named is exc:
            raise
        raise named from exc
    return HashingReader(response["Body"]), response["ETag"]


def copy_source_to(source: SourceObject, etag: str, bucket: str, key: str) -> None:
    """Server-side copy of exactly the version that was read (CopySourceIfMatch on its ETag).

    The source can still vanish or change between the read and the copy: that is named like a
    failed read (a transient error is passed through for the retry)."""
    try:
        client("s3").copy_object(
            Bucket=bucket,
            Key=key,
            CopySource=source.copy_source(),
            CopySourceIfMatch=etag,
            MetadataDirective="COPY",
        )
    except ClientError as exc:
        named = _named(source, exc)
        if named is exc:
            raise
        raise named from exc


def _refuse_withdrawn(source: SourceObject) -> None:
    """A delete marker on the key (deleted after its upload, before its validation): nothing to train on."""
    try:
        client("s3").head_object(Bucket=source.bucket, Key=source.key)
    except ClientError as exc:
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if headers.get("x-amz-delete-marker") == "true":
            raise SourceObjectError(
                f"{source.uri} was deleted before it was validated (the key's current version is a delete "
                "marker): the upload is treated as withdrawn and nothing is trained on it"
            ) from exc
        if is_transient(exc):
            raise
        # Anything else (the version itself gone, access denied) is named by the GetObject below.
    except ParamValidationError:
        pass  # named by the GetObject below


def _named(source: SourceObject, exc: ClientError | ParamValidationError) -> Exception:
    """The named error for a failed read; a transient one is passed through for the retry."""
    if isinstance(exc, ParamValidationError):
        return SourceObjectError(f"{source.uri} cannot be requested from S3: {exc}")
    if is_transient(exc):
        return exc  # raised as it is: the handler names it TransientServiceError
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    if code in {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}:
        return SourceObjectError(f"{source.uri} does not exist (deleted before validation?) [{code}]")
    if code == "NoSuchBucket":
        return SourceObjectError(f"{source.uri}: the bucket {source.bucket!r} does not exist [{code}]")
    if code in {"PreconditionFailed", "412"}:
        return SourceObjectError(
            f"{source.uri} changed since its upload event (ETag is no longer {source.etag}); "
            "the newer object is validated by its own run"
        )
    if code in {"AccessDenied", "403", "AllAccessDisabled", "AccessDeniedException"}:
        return SourceObjectError(
            f"{source.uri} cannot be read: access denied [{code}] (is it in the incoming bucket, and may the "
            "validate function read it?)"
        )
    return SourceObjectError(f"{source.uri} cannot be read: {code or 'error'}: {message}")
