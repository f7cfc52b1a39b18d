"""Validation beyond one function: a Step Functions Distributed Map over byte ranges or part files.

The validate Lambda is invoked with an ``action`` (docs/ARCHITECTURE.md, "Validation beyond one
function"):

- none (the execution input, as before): a plain upload of at most ``VALIDATION_MAP_THRESHOLD_BYTES``
  (HeadObject of the exact version) is validated at once (:func:`functions.validate.logic.validate_upload`);
  a larger one, or a *manifest upload* (a key ending in ``.manifest.json``, JSON ``{"parts": [key,
  ...]}`` naming CSV part files under ``PARTS_PREFIX`` of the same bucket, each with its own header),
  is not validated here: the answer is the map's plan ``{"mode": "map", "kind": "ranges" |
  "manifest", "runId", "source", "items"}``;
- ``part``: one item of the map. A byte range ``{index, start, end}`` owns the lines that *start*
  in ``[start, end)``: a range starting mid-line skips to its first full line, and the last line
  is read past ``end`` to its line break; a part file ``{index, key}`` is read whole. The part's
  :class:`~functions.validate.partial.PartialResult` and its spilled key partitions go to
  ``s3://<curated>/validation/<runId>/parts/<index>/``; the answer is only ``{"partialUri"}``;
- ``reduce``: the partial results, merged in order (duplicates counted across parts, partition by
  partition, from the S3 spill store), become the one report, snapshot or quarantine of the
  single-function path, with the same answer.

Byte ranges cut at line breaks, so a quoted field holding a line break cannot be split safely: a
part that meets one (a line break while a quote is open) says so, and the reduce fails the file
with ``byte_range_quoting`` (upload such a file as a manifest of part files instead).
Digest: in map mode the report's ``sha256`` is the SHA-256 of the parts' SHA-256 digests (hex,
in order; of each range's own bytes, or of each part file), which covers every byte once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from botocore.exceptions import ClientError, ParamValidationError

from functions.shared.aws import client
from functions.shared.config import code_schema, env_int, env_str
from functions.shared.contracts import (
    DataRef,
    ValidatePartOutput,
    ValidationItem,
    ValidationOutput,
    ValidationPlan,
    ValidationSummary,
)
from functions.shared.errors import UnsupportedEventError
from functions.shared.observability import logger
from functions.shared.s3 import get_json, put_json, s3_uri
from functions.validate.checks import Failure, unreadable
from functions.validate.logic import ValidateSettings, _quarantine, _snapshot, validate_upload
from functions.validate.source import SourceObject, copy_source_to

__all__ = [
    "MANIFEST_SUFFIX",
    "MapSettings",
    "align_range",
    "handle",
    "plan_ranges",
    "publish_spill",
    "reduce_parts",
    "validate_item",
]

MANIFEST_SUFFIX = ".manifest.json"
VALIDATION_PREFIX = "validation/"  # curated bucket: validation/<runId>/parts/<index>/
MANIFEST_CHECK = "manifest"
PART_HEADER_CHECK = "part_header"
RANGE_QUOTING_CHECK = "byte_range_quoting"
MAX_MANIFEST_BYTES = 1 << 20
MAX_ITEMS_JSON_BYTES = 160 * 1024  # the plan lives in the execution state (256 KiB at most)
COPY_OBJECT_LIMIT = 5 * 1024**3  # CopyObject's limit; larger objects are copied part by part
COPY_PART_BYTES = 1024**3
CONCAT_PART_BYTES = 16 << 20  # a manifest's parts are concatenated in multipart pieces of this size
_READ = 1 << 20


@dataclass(frozen=True)
class MapSettings:
    """``VALIDATION_*`` of the validate function (cdk.json ``mlops.validation``)."""

    threshold_bytes: int
    part_bytes: int
    parts_prefix: str

    @classmethod
    def from_env(cls) -> MapSettings:
        return cls(
            threshold_bytes=env_int("VALIDATION_MAP_THRESHOLD_BYTES", minimum=1),
            part_bytes=env_int("VALIDATION_PART_BYTES", minimum=1),
            parts_prefix=env_str("VALIDATION_PARTS_PREFIX"),
        )


def handle(
    event: Mapping[str, Any], settings: ValidateSettings, map_settings: MapSettings
) -> ValidationOutput | ValidatePartOutput:
    """The validate Lambda's dispatch on ``event["action"]`` (see the module docstring)."""
    action = event.get("action") if isinstance(event, dict) else None
    if action is None:
        plan = plan_validation(event, settings, map_settings)
        return plan if plan is not None else validate_upload(event, settings)
    if action == "part":
        return validate_item(event, settings)
    if action == "reduce":
        return reduce_parts(event, settings)
    raise UnsupportedEventError(f"unknown validate action {action!r} (none, 'part' or 'reduce')")


# -- planning ---------------------------------------------------------------------------------


def plan_ranges(size: int, part_bytes: int) -> list[ValidationItem]:
    """Byte ranges ``[start, end)`` of ``part_bytes`` covering ``size`` bytes, in order."""
    if part_bytes < 1:
        raise ValueError(f"part_bytes must be positive, got {part_bytes}")
    count = max(1, math.ceil(size / part_bytes))
    return [{"index": i, "start": i * part_bytes, "end": min(size, (i + 1) * part_bytes)} for i in range(count)]


def _head(source: SourceObject) -> dict[str, Any]:
    """HeadObject of the exact version; without one, the current object must still have the event's ETag
    (compared here, quotes aside, as GetObject's If-Match would)."""
    from functions.validate.source import _named

    params: dict[str, Any] = {"Bucket": source.bucket, "Key": source.key}
    if source.version_id:
        params["VersionId"] = source.version_id
    try:
        head = dict(client("s3").head_object(**params))
    except (ClientError, ParamValidationError) as exc:
        named = _named(source, exc)
        if named is exc:
            raise
        raise named from exc
    if not source.version_id and source.etag and str(head.get("ETag", "")).strip('"') != source.etag.strip('"'):
        changed = ClientError({"Error": {"Code": "PreconditionFailed", "Message": "ETag"}}, "HeadObject")
        raise _named(source, changed)
    return head


def plan_validation(
    state: Mapping[str, Any], settings: ValidateSettings, map_settings: MapSettings
) -> ValidationPlan | None:
    """The map's plan for a manifest or an upload over the threshold; ``None``: validate at once."""
    source = SourceObject.from_state(state)
    manifest = source.key.endswith(MANIFEST_SUFFIX) and source.bucket != settings.curated_bucket
    head = _head(source)
    if not manifest and int(head.get("ContentLength", 0)) <= map_settings.threshold_bytes:
        return None
    pinned: DataRef = {
        "bucket": source.bucket,
        "key": source.key,
        "versionId": head.get("VersionId") if head.get("VersionId") not in (None, "null") else source.version_id,
        "etag": str(head["ETag"]),
    }
    run_id = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
    items: list[ValidationItem]
    kind: Literal["ranges", "manifest"]
    if manifest:
        kind = "manifest"
        keys = _manifest_parts(source, head, settings, map_settings)
        items = [{"index": i, "key": key} for i, key in enumerate(keys)]
    else:
        kind = "ranges"
        items = plan_ranges(int(head["ContentLength"]), map_settings.part_bytes)
    if len(json.dumps(items)) > MAX_ITEMS_JSON_BYTES:
        _refuse(source, head, settings, f"the map would have {len(items)} items, too many for one execution's state")
    logger.info("validation planned as a distributed map", extra={"kind": kind, "items": len(items), "runId": run_id})
    return {"mode": "map", "kind": kind, "runId": run_id, "source": pinned, "items": items}


def _manifest_parts(
    source: SourceObject, head: dict[str, Any], settings: ValidateSettings, map_settings: MapSettings
) -> list[str]:
    """The manifest's part keys, checked; a bad manifest is quarantined with a report."""
    if int(head.get("ContentLength", 0)) > MAX_MANIFEST_BYTES:
        _refuse(source, head, settings, f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    params: dict[str, Any] = {"Bucket": source.bucket, "Key": source.key, "IfMatch": head["ETag"]}
    if head.get("VersionId") not in (None, "null"):
        params["VersionId"] = head["VersionId"]
    body = client("s3").get_object(**params)["Body"].read()
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _refuse(source, head, settings, f"the manifest is not JSON ({exc})")
    parts = document.get("parts") if isinstance(document, dict) else None
    if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p for p in parts):
        _refuse(source, head, settings, 'the manifest must be {"parts": ["<key>", ...]} with at least one key')
    outside = [p for p in parts if not p.startswith(map_settings.parts_prefix) or p.endswith("/")]
    if outside:
        _refuse(
            source,
            head,
            settings,
            f"part keys must be objects under {map_settings.parts_prefix!r} of the same bucket: {outside[:5]}",
        )
    if len(set(parts)) != len(parts):
        _refuse(source, head, settings, "the manifest names a part more than once")
    return list(parts)


def _refuse(source: SourceObject, head: dict[str, Any], settings: ValidateSettings, message: str) -> NoReturn:
    """Quarantine the upload itself with a one-failure report (a manifest that cannot be followed)."""
    schema = code_schema(settings.schema_path)
    result = unreadable(schema, MANIFEST_CHECK, message)
    now = datetime.now(UTC)
    report = {
        "dataset": settings.dataset_name,
        "validatedAt": now.isoformat(),
        "origin": "upload",
        "source": _provenance(source, str(head["ETag"]), "", int(head.get("ContentLength", 0))),
        **result.to_dict(),
    }
    _quarantine(source, str(head["ETag"]), report, result, settings, now, copy=_copy_any_size(source, head))


def _provenance(source: SourceObject, etag: str, digest: str, size: int) -> dict[str, Any]:
    return {
        "bucket": source.bucket,
        "key": source.key,
        "versionId": source.version_id,
        "etag": etag.strip('"'),
        "sha256": digest,
        "bytes": size,
    }


# -- one part ---------------------------------------------------------------------------------


class _QuoteParity:
    """Whether a line break was met while a quote was open (parity of ``"`` since the part's start)."""

    def __init__(self) -> None:
        self.open = False
        self.quoted_break = False

    def feed(self, chunk: bytes) -> None:
        if self.quoted_break or not chunk:
            return
        if b'"' not in chunk:
            if self.open and b"\n" in chunk:
                self.quoted_break = True
            return
        import numpy as np  # with the validator (the AWS SDK for pandas layer), not with the handler

        data = np.frombuffer(chunk, dtype=np.uint8)
        parity = (np.cumsum(data == 34) + int(self.open)) % 2
        if bool(np.any((data == 10) & (parity == 1))):
            self.quoted_break = True
        self.open = bool(parity[-1])


def align_range(chunks: Iterator[bytes], start: int, end: int) -> Iterator[bytes]:
    """The bytes of the lines that start in ``[start, end)``.

    ``chunks`` is the object read from ``max(start - 1, 0)`` to its end (a ranged GetObject):
    the byte before ``start`` tells whether a line starts at ``start``. Reading stops at the line
    break that ends the last owned line (past ``end``), or at the end of the object.
    """
    position = max(start - 1, 0)  # absolute offset of the next byte of ``chunks``
    skipping = start > 0
    line_start = True  # whether ``position`` starts a line (once the partial first line is skipped)
    for chunk in chunks:
        if skipping:
            at = chunk.find(b"\n")
            if at < 0:
                position += len(chunk)
                continue
            chunk, position, skipping = chunk[at + 1 :], position + at + 1, False
        if position >= end:  # past the range: only the rest of its last line is still owned
            if line_start:
                return
            at = chunk.find(b"\n")
            if at >= 0:
                yield chunk[: at + 1]
                return
            yield chunk
            position += len(chunk)
            continue
        owned = end - position
        if len(chunk) <= owned:
            if chunk:
                yield chunk
                line_start = chunk.endswith(b"\n")
            position += len(chunk)
            continue
        if chunk[owned - 1 : owned] == b"\n":  # the range ends right after a line break
            yield chunk[:owned]
            return
        at = chunk.find(b"\n", owned)
        if at >= 0:
            yield chunk[: at + 1]
            return
        yield chunk
        position += len(chunk)
        line_start = False


class _IterStream(io.RawIOBase):
    """A binary stream over an iterator of chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            try:
                self._rest = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def _body_chunks(body: Any) -> Iterator[bytes]:
    try:
        while chunk := body.read(_READ):
            yield chunk
    finally:
        body.close()


def _get(source: dict[str, Any], key: str | None = None, **extra: Any) -> dict[str, Any]:
    """GetObject of the plan's pinned version (VersionId, else If-Match on its ETag) or of a part key."""
    params: dict[str, Any] = {"Bucket": source["bucket"], "Key": key or source["key"], **extra}
    if key is None:
        if source.get("versionId"):
            params["VersionId"] = source["versionId"]
        else:
            params["IfMatch"] = source["etag"]
    try:
        return dict(client("s3").get_object(**params))
    except ClientError as exc:
        from functions.validate.source import _named

        obj = SourceObject(source["bucket"], key or source["key"], None if key else source.get("versionId"))
        named = _named(obj, exc)
        if named is exc:
            raise
        raise named from exc


def _file_header(source: dict[str, Any]) -> list[str]:
    """The object's header row (its first line), for a byte range that does not hold it."""
    data = b""
    offset = 0
    while b"\n" not in data and offset < 16 << 20:
        response = _get(source, Range=f"bytes={offset}-{offset + (64 << 10) - 1}")
        piece = response["Body"].read()
        if not piece:
            break
        data += piece
        offset += len(piece)
    line = data.split(b"\n", 1)[0].decode("utf-8-sig", "replace").rstrip("\r")
    return next(csv.reader([line]), [])


def publish_spill(local_root: str, bucket: str, prefix: str) -> str:
    """Upload a part's local spill directory under ``s3://bucket/prefix/``; return that store's URI."""
    root = Path(local_root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client("s3").upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")
    return s3_uri(bucket, prefix)


def validate_item(event: Mapping[str, Any], settings: ValidateSettings) -> ValidatePartOutput:
    """``action: part``: validate one item and publish its partial result (module docstring)."""
    from functions.validate.columnar import Limits, validate_part
    from functions.validate.spill import LocalSpillStore

    source, item, run_id, kind = _part_input(event)
    schema = code_schema(settings.schema_path)
    index = int(item["index"])
    prefix = f"{VALIDATION_PREFIX}{run_id}/parts/{index:05d}"
    digest = hashlib.sha256()
    extra: dict[str, Any] = {"index": index}
    parity = _QuoteParity()
    if kind == "ranges":
        start, end = int(item["start"]), int(item["end"])
        response = _get(source, Range=f"bytes={max(start - 1, 0)}-") if end > start else None

        def owned(chunks: Iterator[bytes]) -> Iterator[bytes]:
            # Hash exactly [start, end) of the object, and watch the quotes of what is validated.
            position = max(start - 1, 0)
            for chunk in chunks:
                lo, hi = max(start - position, 0), min(end - position, len(chunk))
                if hi > lo:
                    digest.update(chunk[lo:hi])
                position += len(chunk)
                yield chunk

        def watched(chunks: Iterator[bytes]) -> Iterator[bytes]:
            for chunk in chunks:
                parity.feed(chunk)
                yield chunk

        chunks: Iterator[bytes] = iter(()) if response is None else owned(_body_chunks(response["Body"]))
        stream = _IterStream(watched(align_range(chunks, start, end)))
        first = index == 0
        header = None if first else _file_header(source)
        extra.update({"start": start, "end": end, "bytes": end - start})
        with_header, first_line = first, (1 if first else None)
    else:
        key = str(item["key"])
        response = _get(source, key=key)

        def hashed(chunks: Iterator[bytes]) -> Iterator[bytes]:
            for chunk in chunks:
                digest.update(chunk)
                yield chunk

        stream = _IterStream(hashed(_body_chunks(response["Body"])))
        header, with_header, first_line = None, True, None
        extra.update(
            {
                "key": key,
                "versionId": response.get("VersionId") if response.get("VersionId") not in (None, "null") else None,
                "etag": str(response["ETag"]),
                "bytes": int(response.get("ContentLength", 0)),
            }
        )
    limits = Limits.from_env()
    partial = validate_part(
        io.BufferedReader(stream, buffer_size=1 << 20),
        schema,
        first_line=first_line,
        with_header=with_header,
        header=header,
        limits=limits,
        spill_all=True,
    )
    for _ in iter(lambda: stream.read(_READ), b""):
        pass  # a part file is hashed whole even when the validator stopped early (not UTF-8, say)
    try:
        if partial.spill:
            store_uri = publish_spill(partial.spill, settings.curated_bucket, f"{prefix}/keys")
            for ref in partial.keysets.values():
                if ref.store is not None:
                    ref.store = store_uri
            local = partial.spill
            partial.spill = store_uri
            LocalSpillStore(local).remove()
    except BaseException:
        if partial.spill and not partial.spill.startswith("s3://"):
            LocalSpillStore(partial.spill).remove()
        raise
    document = {
        **extra,
        "sha256": digest.hexdigest(),
        "quotedLineBreak": parity.quoted_break,
        "partial": partial.to_dict(),
    }
    uri = put_json(settings.curated_bucket, f"{prefix}/partial.json", document)
    logger.info("part validated", extra={"index": index, "rows": partial.rows, "partialUri": uri})
    return {"partialUri": uri}


def _part_input(event: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    source, item, run_id, kind = event.get("data"), event.get("item"), event.get("runId"), event.get("kind")
    if (
        not isinstance(source, dict)
        or not isinstance(item, dict)
        or not isinstance(run_id, str)
        or not run_id
        or "/" in run_id
        or kind not in ("ranges", "manifest")
        or not isinstance(item.get("index"), int)
    ):
        raise UnsupportedEventError(
            'a part needs {"action": "part", "kind": "ranges"|"manifest", "runId", "data": {...}, '
            '"item": {"index", ...}}'
        )
    SourceObject.from_state({"data": source})
    return source, item, run_id, str(kind)


# -- the reduce -------------------------------------------------------------------------------


def reduce_parts(
    event: Mapping[str, Any], settings: ValidateSettings, now: datetime | None = None
) -> ValidationSummary:
    """``action: reduce``: one report, snapshot or quarantine from the parts (module docstring)."""
    from functions.validate.columnar import Limits, PartialResult, merge

    plan = event.get("validation")
    if not isinstance(plan, dict) or plan.get("mode") != "map" or not isinstance(plan.get("items"), list):
        raise UnsupportedEventError('a reduce needs {"action": "reduce", "validation": <the map plan>}')
    now = now or datetime.now(UTC)
    schema = code_schema(settings.schema_path)
    pinned = plan["source"]
    source = SourceObject(pinned["bucket"], pinned["key"], pinned.get("versionId"), pinned["etag"])
    kind, run_id = plan["kind"], plan["runId"]
    documents = [
        get_json(settings.curated_bucket, f"{VALIDATION_PREFIX}{run_id}/parts/{int(item['index']):05d}/partial.json")
        for item in plan["items"]
    ]
    partials = [PartialResult.from_dict(doc["partial"]) for doc in documents]
    extra: list[Failure] = []
    merged_partials = partials
    if kind == "manifest":
        merged_partials, extra = _align_parts(partials, documents)
    parts_meta: list[dict[str, Any]] = []
    limits = Limits.from_env()
    result = (
        merge(merged_partials, schema, limits=limits)
        if merged_partials
        else unreadable(schema, "empty_file", "every part file is empty", 1)
    )
    result.failures.extend(extra)
    quoted = [doc["index"] for doc in documents if doc.get("quotedLineBreak")]
    if kind == "ranges" and quoted:
        result.failures.append(
            Failure(
                RANGE_QUOTING_CHECK,
                None,
                f"a quoted field holds a line break (in byte range(s) {quoted[:5]}): a file over the map "
                "threshold is split at line breaks and cannot hold one; upload it as a manifest of part files",
                len(quoted),
            )
        )
    # Where each part's lines are in the report's numbering (a later manifest part without its header).
    line = 1  # byte ranges: each part starts where the one before ended
    for position, (doc, partial) in enumerate(zip(documents, partials, strict=True)):
        first_line = partial.first_line if partial.first_line is not None else line
        count = partial.line_count
        if kind == "manifest" and position and partial.first_line is not None:
            first_line, count = first_line + 1, max(count - 1, 0)
        meta = {k: doc[k] for k in ("index", "key", "start", "end", "bytes", "sha256", "versionId") if k in doc}
        parts_meta.append({**meta, "firstLine": first_line, "lines": count, "rows": partial.rows})
        line = first_line + count
    digest = hashlib.sha256("".join(doc["sha256"] for doc in documents).encode("ascii")).hexdigest()
    size = sum(int(doc.get("bytes", 0)) for doc in documents)
    provenance = _provenance(source, pinned["etag"], digest, size)
    provenance["sha256Of"] = "the parts' sha256 digests, in order"
    provenance["parts"] = parts_meta
    report = {
        "dataset": settings.dataset_name,
        "validatedAt": now.isoformat(),
        "origin": "upload",
        "source": provenance,
        **result.to_dict(),
    }
    logger.info(
        "distributed validation reduced",
        extra={"valid": result.valid, "rows": result.rows, "parts": len(partials), "kind": kind},
    )
    stores = [p.spill for p in partials if p.spill]
    try:
        if not result.valid:
            _quarantine(source, pinned["etag"], report, result, settings, now, copy=_copy_any_size(source, None))
        writer = _concatenate(documents, source) if kind == "manifest" else _copy_any_size(source, None)
        answer = _snapshot(source, pinned["etag"], report, result, settings, now, digest, copy=writer)
    finally:
        _remove_spills(stores)
    answer["mode"] = "map"
    return answer


def _remove_spills(stores: list[str]) -> None:
    from functions.validate.spill import open_store

    for uri in stores:
        try:
            open_store(uri).remove()
        except ClientError:  # leftovers cost storage, not correctness
            logger.warning("spilled partitions not removed", extra={"store": uri})


def _align_parts(partials: list[Any], documents: list[dict[str, Any]]) -> tuple[list[Any], list[Failure]]:
    """Number a manifest's parts as the concatenated snapshot (header once) and check their headers."""
    failures: list[Failure] = []
    kept: list[Any] = []
    header: list[str] | None = None
    lines = 0  # lines of the concatenated snapshot so far (the header once)
    for doc, partial in zip(documents, partials, strict=True):
        where = f"part {doc['index']} ({doc.get('key')})"
        if partial.fatal is not None and kept:
            failures.append(Failure(partial.fatal.check, None, f"{where}: {partial.fatal.message}", 1, []))
            continue
        if kept and partial.header != header:
            failures.append(
                Failure(
                    PART_HEADER_CHECK,
                    None,
                    f"{where}: its header {partial.header} differs from the first part's {header}",
                    1,
                    [],
                    [str(doc.get("key"))],
                )
            )
            continue
        if not kept:
            header = partial.header
        # The part's own header is its relative line 1 and is not in the snapshot: its first data
        # line follows the lines before it (the first part's header included).
        partial.first_line = lines if kept else 1
        lines += partial.line_count - (1 if kept else 0)
        kept.append(partial)
        if partial.fatal is not None:  # the first part cannot be read: merge reports it as the file's
            break
    return kept, failures


def _copy_any_size(source: SourceObject, head: dict[str, Any] | None) -> Callable[[str, str, str], None]:
    """A copy of the pinned version: CopyObject, or UploadPartCopy past CopyObject's 5 GiB."""

    def copy(etag: str, bucket: str, key: str) -> None:
        size = int((head or _head(source)).get("ContentLength", 0))
        if size <= COPY_OBJECT_LIMIT:
            copy_source_to(source, etag, bucket, key)
            return
        s3 = client("s3")
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        try:
            parts = []
            for number, offset in enumerate(range(0, size, COPY_PART_BYTES), start=1):
                last = min(size, offset + COPY_PART_BYTES) - 1
                answer = s3.upload_part_copy(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload,
                    PartNumber=number,
                    CopySource=source.copy_source(),
                    CopySourceIfMatch=etag,
                    CopySourceRange=f"bytes={offset}-{last}",
                )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
        except BaseException:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            raise

    return copy


def _concatenate(documents: list[dict[str, Any]], source: SourceObject) -> Callable[[str, str, str], None]:
    """The snapshot of a manifest upload: its parts as one CSV, header once, streamed part by part.

    Each part is read at the version (or ETag) that was validated; a part that does not end in a
    line break gets one. Memory: one multipart piece (:data:`CONCAT_PART_BYTES`) at a time.
    """

    def write(_etag: str, bucket: str, key: str) -> None:
        s3 = client("s3")
        upload: str | None = None
        pieces: list[dict[str, Any]] = []
        buffer = bytearray()

        def flush(final: bool) -> None:
            nonlocal upload
            if upload is None:
                if final:  # small enough for one request
                    s3.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), ContentType="text/csv")
                    buffer.clear()
                    return
                upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/csv")["UploadId"]
            number = len(pieces) + 1
            answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=bytes(buffer))
            pieces.append({"PartNumber": number, "ETag": answer["ETag"]})
            buffer.clear()

        try:
            for k, doc in enumerate(documents):
                pinned = {"bucket": source.bucket, "key": doc["key"], "etag": doc["etag"]}
                if doc.get("versionId"):
                    response = _get(pinned, key=doc["key"], VersionId=doc["versionId"])
                else:
                    response = _get(pinned, key=doc["key"], IfMatch=doc["etag"])
                skip_header = k > 0
                last = b"\n"
                for chunk in _body_chunks(response["Body"]):
                    if skip_header:
                        at = chunk.find(b"\n")
                        if at < 0:
                            continue
                        chunk, skip_header = chunk[at + 1 :], False
                    if chunk:
                        buffer.extend(chunk)
                        last = chunk[-1:]
                    if len(buffer) >= CONCAT_PART_BYTES:
                        flush(final=False)
                if last != b"\n":
                    buffer.extend(b"\n")
            if buffer or upload is None:
                flush(final=True)
            if upload is not None:
                s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": pieces})
        except BaseException:
            if upload is not None:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            raise

    return write
