"""Hashed keys of the uniqueness and duplicate-row checks: bounded in memory, spilled to disk.

Every row of the file adds one *key record* to the ``rows`` key set (a 128-bit hash of the row's
fields) and one to the key set of each ``unique`` column (the hash of the parsed value, plus the
value as written, cut to :data:`TEXT_BYTES`, for the report's examples). A record also carries the
row's line number, so the first occurrence of a key is told from its repetitions.

Memory is bounded by one constant, :attr:`~functions.validate.limits.Limits.hash_memory_bytes`
(:data:`HASH_MEMORY_BYTES` by default): records are buffered until the key sets together hold a
third of it (spilling copies them twice), then split into ``2**partition_bits`` hash partitions
(top bits of the hash) appended to one file per partition in a :class:`SpillStore`. Counting
(:func:`count_repeats`) loads one partition at a time -- of *every* part that wrote to the key
set, so a row repeated across two parts of a file is found like one repeated within a part -- and
a partition larger than a third of the budget (sorting needs about three times the records) is
split again on the next hash bits, grace-hash style, until it fits or all its records share one
key, which is counted in one streaming pass.

Disk is what grows with the file: 24 bytes a row for the ``rows`` set, 88 for each unique column;
the validate Lambda's ephemeral storage is sized for it (``VALIDATE_EPHEMERAL_STORAGE_MIB`` in
infra/stacks/pipeline_stack.py).

Hashes. Strings (rows, text values) go through :func:`hash_strings`, vectorised over pyarrow's
buffers: each value, zero-padded to whole 64-bit words, has its words mixed by SplitMix64's
finaliser (a bijection that keeps 0 at 0, so padding adds nothing) and summed twice with
independent odd per-position multipliers, each sum then mixed with the length. It is not a
cryptographic hash: two different values share both 64-bit halves with probability about 2**-128
for data that is not built to collide, so a reported repeat is a repeat for any file this system
will see. Numbers (parsed ``integer``/``float`` values of a unique column) are mixed bijectively
(:func:`hash_int64`, :func:`hash_float64`): distinct values never collide.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "HASH_MEMORY_BYTES",
    "KEY_DTYPE",
    "PARTITION_BITS",
    "SPILL_DIR_ENV",
    "TEXT_BYTES",
    "TEXT_KEY_DTYPE",
    "KeySetRef",
    "LocalSpillStore",
    "Repeats",
    "S3SpillStore",
    "SpillBuffer",
    "SpillStore",
    "count_repeats",
    "hash_bytes",
    "hash_float64",
    "hash_int64",
    "hash_strings",
    "open_store",
]

HASH_MEMORY_BYTES = 64 << 20  # key records held in memory, streaming or counting (default)
PARTITION_BITS = 6  # 64 partition files per key set
TEXT_BYTES = 64  # a unique column's value as written, kept for examples, cut to this many bytes
SPILL_DIR_ENV = "MLOPS_VALIDATE_SPILL_DIR"  # where spilled partitions go (default: the temp dir)
_READ_BLOCK = 1 << 20  # records are re-read in blocks of at most this many bytes when re-splitting

KEY_DTYPE = np.dtype([("h1", "<u8"), ("h2", "<u8"), ("line", "<i8")])
TEXT_KEY_DTYPE = np.dtype([("h1", "<u8"), ("h2", "<u8"), ("line", "<i8"), ("text", f"S{TEXT_BYTES}")])

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED1 = np.uint64(0x9E3779B97F4A7C15)
_SEED2 = np.uint64(0xD1B54A32D192ED03)


# -- hashing ----------------------------------------------------------------------------------


def _mix(x: np.ndarray, seed: np.uint64) -> np.ndarray:
    """SplitMix64's finaliser of ``x + seed``: a bijection of 64-bit words, well spread."""
    z = x + seed
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def hash_int64(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each int64 (collision-free: the mix is a bijection)."""
    bits = np.ascontiguousarray(values, dtype=np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        return _mix(bits, _SEED1), _mix(bits ^ _SEED2, _SEED2)


def hash_float64(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each float64; ``-0.0`` and ``0.0`` are one value, as in a Python set."""
    normal = np.ascontiguousarray(values, dtype=np.float64) + 0.0  # -0.0 + 0.0 == +0.0
    bits = normal.view(np.uint64) ^ np.uint64(0x5555555555555555)  # apart from hash_int64's keys
    with np.errstate(over="ignore"):
        return _mix(bits, _SEED1), _mix(bits ^ _SEED2, _SEED2)


_WORD_KEYS: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_MATRIX_BYTES = 1024  # strings up to this long are hashed together in one padded matrix, longer ones alone


def _word_keys(words: int) -> tuple[np.ndarray, np.ndarray]:
    """Odd 64-bit multipliers of word positions 0..words-1 (two independent sequences), cached."""
    size = 1 << max(7, (words - 1).bit_length())
    if size not in _WORD_KEYS:
        index = np.arange(size, dtype=np.uint64)
        with np.errstate(over="ignore"):
            _WORD_KEYS.clear()
            _WORD_KEYS[size] = (_mix(index, _SEED1) | np.uint64(1), _mix(index, _SEED2) | np.uint64(1))
    k1, k2 = _WORD_KEYS[size]
    return k1[:words], k2[:words]


def _fmix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser without a seed: a bijection with fmix(0) == 0 (so zero padding adds nothing)."""
    z = z ^ (z >> np.uint64(30))
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _hash_matrix(words: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of little-endian words (zero-padded strings) and their byte lengths -> two 64-bit hashes.

    Each word is mixed (bijectively, 0 -> 0), the mixed words are summed with odd per-position
    multipliers, twice with independent multipliers, and each sum is mixed with the length: a
    multilinear hash of mixed words, independent of how much zero padding a row carries.
    """
    k1, k2 = _word_keys(words.shape[1])
    with np.errstate(over="ignore"):
        mixed = _fmix(words)
        s1 = (mixed * k1).sum(axis=1, dtype=np.uint64)
        s2 = (mixed * k2).sum(axis=1, dtype=np.uint64)
        n = lengths.astype(np.uint64)
        return _mix(s1 ^ (n * _M2), _SEED1), _mix(s2 + n, _SEED2)


def hash_strings(strings: Any, *, ascii_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each value of a pyarrow string or binary array (no nulls), vectorised.

    ``ascii_only`` (every value is ASCII) lets pyarrow pad the values into the word matrix; otherwise
    numpy gathers the bytes. Values longer than 1 KiB are hashed one at a time, by the same function.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(strings)
    h1, h2 = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)
    if not n:
        return h1, h2
    binary = strings.cast(pa.large_binary())
    offsets = np.frombuffer(binary.buffers()[1], dtype=np.int64)[binary.offset : binary.offset + n + 1]
    data = np.frombuffer(binary.buffers()[2], dtype=np.uint8) if binary.buffers()[2] else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    long_rows = np.flatnonzero(lengths > _MATRIX_BYTES)
    short = lengths <= _MATRIX_BYTES
    if long_rows.size:
        for i in long_rows:
            row = data[offsets[i] : offsets[i + 1]].tobytes()
            padded = np.frombuffer(row + b"\0" * (-len(row) % 8), dtype="<u8")[None, :]
            a, b = _hash_matrix(padded, lengths[i : i + 1])
            h1[i], h2[i] = a[0], b[0]
        if not short.any():
            return h1, h2
    rows = np.flatnonzero(short) if long_rows.size else None
    part_lengths = lengths[rows] if rows is not None else lengths
    width = max(8, -(-int(part_lengths.max(initial=0)) // 8) * 8)
    if ascii_only and pa.types.is_string(strings.type):
        values = strings if rows is None else strings.take(pa.array(rows))
        padded = pc.utf8_rpad(values, width=width, padding="\0")
        buffer = np.frombuffer(padded.buffers()[2], dtype=np.uint8)
        start = int(np.frombuffer(padded.buffers()[1], dtype=np.int32)[padded.offset])
        matrix = buffer[start : start + len(values) * width].reshape(len(values), width)
    else:
        starts = offsets[:-1] if rows is None else offsets[:-1][rows]
        columns = np.arange(width)
        inside = columns[None, :] < part_lengths[:, None]
        matrix = np.zeros((len(part_lengths), width), dtype=np.uint8)
        matrix[inside] = data[(starts[:, None] + columns[None, :])[inside]]
    words = np.ascontiguousarray(matrix).view("<u8")
    a, b = _hash_matrix(words, part_lengths)
    if rows is None:
        return a, b
    h1[rows], h2[rows] = a, b
    return h1, h2


def hash_bytes(items: Iterable[bytes], count: int) -> tuple[np.ndarray, np.ndarray]:
    """The two 64-bit halves of each item's 128-bit BLAKE2b digest."""
    if not count:
        empty = np.empty(0, dtype=np.uint64)
        return empty, empty
    blake = hashlib.blake2b
    digests = b"".join(map(lambda item: blake(item, digest_size=16).digest(), items))
    pairs = np.frombuffer(digests, dtype="<u8").reshape(count, 2)
    return pairs[:, 0], pairs[:, 1]


# -- where spilled partitions live ------------------------------------------------------------


class SpillStore(Protocol):
    """Append-only named blobs: a local directory, or an S3 prefix a distributed run published (read-only)."""

    uri: str

    def append(self, name: str, data: bytes) -> None: ...

    def size(self, name: str) -> int: ...

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes: ...

    def remove(self) -> None: ...


class LocalSpillStore:
    """Blobs as files under one directory (the Lambda's ephemeral storage, or the machine's temp dir)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.uri = str(self.root)

    @classmethod
    def create(cls, parent: str | None = None) -> LocalSpillStore:
        """A fresh directory under ``parent`` (default: ``$MLOPS_VALIDATE_SPILL_DIR`` or the temp dir)."""
        base = Path(parent or os.environ.get(SPILL_DIR_ENV) or tempfile.gettempdir())
        root = base / f"mlops-validate-{uuid.uuid4().hex}"
        root.mkdir(parents=True)
        return cls(root)

    def append(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:
            handle.write(data)

    def size(self, name: str) -> int:
        path = self.root / name
        return path.stat().st_size if path.is_file() else 0

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self.root / name
        if not path.is_file():
            return b""
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read() if length is None else handle.read(length)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class S3SpillStore:
    """Blobs as objects under one S3 prefix, *read-only*: the partitions a distributed part wrote.

    A part of a Step Functions Distributed Map validates into a local store and then uploads its
    files under ``s3://<bucket>/<prefix>/`` (:func:`functions.validate.distributed.publish_spill`);
    the reduce reads them back here. ``size`` comes from one listing of the prefix (a partition a
    part never wrote is 0 bytes, without a request that would 404), ``read`` is a ranged
    GetObject, ``remove`` deletes the prefix's objects.
    """

    def __init__(self, uri: str) -> None:
        if not uri.startswith("s3://") or "/" not in uri.removeprefix("s3://"):
            raise ValueError(f"an S3 spill store is s3://<bucket>/<prefix>, got {uri!r}")
        self.uri = uri.rstrip("/")
        self.bucket, self.prefix = self.uri.removeprefix("s3://").split("/", 1)
        self._sizes: dict[str, int] | None = None

    def _client(self) -> Any:
        from functions.shared.aws import client

        return client("s3")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def _listing(self) -> dict[str, int]:
        if self._sizes is None:
            sizes: dict[str, int] = {}
            paginator = self._client().get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + "/")
            for page in pages:
                for item in page.get("Contents", []):
                    sizes[item["Key"]] = int(item["Size"])
            self._sizes = sizes
        return self._sizes

    def append(self, name: str, data: bytes) -> None:
        raise PermissionError(f"spill store {self.uri!r} is read-only (parts publish their partitions once)")

    def size(self, name: str) -> int:
        return self._listing().get(self._key(name), 0)

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        size = self.size(name)
        if offset >= size or length == 0:
            return b""
        last = size - 1 if length is None else min(size, offset + length) - 1
        response = self._client().get_object(Bucket=self.bucket, Key=self._key(name), Range=f"bytes={offset}-{last}")
        return bytes(response["Body"].read())

    def remove(self) -> None:
        keys = list(self._listing())
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        self._sizes = {}


def open_store(uri: str) -> SpillStore:
    """The store a :class:`KeySetRef` names: a local directory, or (read-only) an S3 prefix."""
    if uri.startswith("s3://"):
        return S3SpillStore(uri)
    return LocalSpillStore(uri.removeprefix("file://"))


# -- writing: the per-part buffer -------------------------------------------------------------


@dataclass
class KeySetRef:
    """One part's records of one key set, JSON-serialisable: spilled files plus what is still in memory.

    ``pending`` (records never spilled, for a single-process run of a small file) is dropped by
    :meth:`to_dict`; serialise only after :meth:`SpillBuffer.finish` with ``spill_all=True``.
    """

    name: str
    store: str | None
    partitions: int
    records: int
    with_text: bool
    pending: np.ndarray | None = None

    @property
    def dtype(self) -> np.dtype[Any]:
        return TEXT_KEY_DTYPE if self.with_text else KEY_DTYPE

    def file(self, partition: int) -> str:
        return f"{self.name}/p{partition:04d}.keys"

    def to_dict(self) -> dict[str, Any]:
        if self.pending is not None and len(self.pending):
            raise ValueError(f"key set {self.name!r} still holds records in memory: finish(spill_all=True) first")
        return {
            "name": self.name,
            "store": self.store,
            "partitions": self.partitions,
            "records": self.records,
            "withText": self.with_text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeySetRef:
        return cls(data["name"], data["store"], int(data["partitions"]), int(data["records"]), bool(data["withText"]))


class SpillBuffer:
    """The key sets of one part: records are appended batch by batch, spilled past the budget."""

    def __init__(self, store_factory: Any, *, memory_bytes: int, partition_bits: int) -> None:
        self._store_factory = store_factory  # called once, on the first spill: small files touch no disk
        self._store: SpillStore | None = None
        self.memory_bytes = memory_bytes
        self.partition_bits = partition_bits
        self._pending: dict[str, list[np.ndarray]] = {}
        self._with_text: dict[str, bool] = {}
        self._records: dict[str, int] = {}
        self._spilled: set[str] = set()
        self._held = 0

    @property
    def store(self) -> SpillStore | None:
        return self._store

    def declare(self, name: str, *, with_text: bool) -> None:
        self._pending.setdefault(name, [])
        self._with_text[name] = with_text
        self._records.setdefault(name, 0)

    def add(
        self,
        name: str,
        h1: np.ndarray,
        h2: np.ndarray,
        lines: np.ndarray,
        texts: Sequence[bytes] | np.ndarray | None = None,
    ) -> None:
        n = len(h1)
        if not n:
            return
        records = np.empty(n, dtype=TEXT_KEY_DTYPE if self._with_text[name] else KEY_DTYPE)
        records["h1"], records["h2"], records["line"] = h1, h2, lines
        if self._with_text[name]:
            records["text"] = texts if texts is not None else b""
        self._pending[name].append(records)
        self._records[name] += n
        self._held += records.nbytes
        if self._held > self.memory_bytes // 3:  # spilling copies the records twice: all within the budget
            self.spill()

    def spill(self) -> None:
        """Append every buffered record to its partition file and free the memory."""
        if self._store is None:
            self._store = self._store_factory()
        for name, chunks in self._pending.items():
            if chunks:
                records = np.concatenate(chunks)
                chunks.clear()
                _write_partitions(self._store, name, records, 0, self.partition_bits)
                self._spilled.add(name)
        self._held = 0

    def finish(self, *, spill_all: bool) -> dict[str, KeySetRef]:
        """The part's references; ``spill_all`` writes what is still in memory (for a serialised part)."""
        if spill_all and self._held:
            self.spill()
        refs: dict[str, KeySetRef] = {}
        for name, chunks in self._pending.items():
            pending = np.concatenate(chunks) if chunks else None
            refs[name] = KeySetRef(
                name,
                self._store.uri if self._store is not None and name in self._spilled else None,
                1 << self.partition_bits,
                self._records[name],
                self._with_text[name],
                pending,
            )
        return refs


def _levels(bits: int) -> int:
    """How many ``bits``-wide partition levels the 128-bit key has (whole slices of h1, then of h2)."""
    return 2 * (64 // bits)


def _partition_of(h1: np.ndarray, h2: np.ndarray, level: int, bits: int) -> np.ndarray:
    """Partition number at recursion ``level``: successive ``bits``-wide slices of h1, then of h2."""
    per_word = 64 // bits
    word, offset = (h1, level * bits) if level < per_word else (h2, (level - per_word) * bits)
    return ((word >> np.uint64(64 - offset - bits)) & np.uint64((1 << bits) - 1)).astype(np.int64)


def _write_partitions(store: SpillStore, prefix: str, records: np.ndarray, level: int, bits: int) -> None:
    part = _partition_of(records["h1"], records["h2"], level, bits).astype(np.uint16)
    order = np.argsort(part, kind="stable")  # stable (a radix sort for 16 bits): line order is kept
    # Reordered as rows of bytes: several times faster than indexing the structured array.
    ordered = np.take(records.view(np.uint8).reshape(len(records), records.dtype.itemsize), order, axis=0)
    bounds = np.searchsorted(part[order], np.arange((1 << bits) + 1))
    for p in range(1 << bits):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        if hi > lo:
            store.append(f"{prefix}/p{p:04d}.keys", ordered[lo:hi].tobytes())


# -- counting: one partition at a time, across parts ------------------------------------------


@dataclass
class Repeats:
    """Records whose key was seen at an earlier line: how many, and the first ``keep`` of them."""

    count: int
    lines: list[int]
    texts: list[bytes]


@dataclass(frozen=True)
class _Source:
    """Where one part's records of one partition are: a file of a store, or memory; lines shifted by base."""

    store: SpillStore | None
    name: str | None
    records: np.ndarray | None
    base: int
    dtype: np.dtype[Any]

    def size(self) -> int:
        if self.records is not None:
            return int(self.records.nbytes)
        assert self.store is not None and self.name is not None
        return self.store.size(self.name)

    def blocks(self, block_bytes: int) -> Iterator[np.ndarray]:
        if self.records is not None:
            step = max(1, block_bytes // self.dtype.itemsize)
            for i in range(0, len(self.records), step):
                block = self.records[i : i + step].copy()
                block["line"] += self.base
                yield block
            return
        assert self.store is not None and self.name is not None
        total, step = self.store.size(self.name), max(1, block_bytes // self.dtype.itemsize) * self.dtype.itemsize
        for offset in range(0, total, step):
            block = np.frombuffer(self.store.read(self.name, offset, step), dtype=self.dtype).copy()
            block["line"] += self.base
            yield block


def count_repeats(
    parts: Sequence[tuple[KeySetRef, int]],
    *,
    keep: int,
    memory_bytes: int = HASH_MEMORY_BYTES,
    scratch_dir: str | None = None,
) -> Repeats:
    """Count the repeated keys of one key set over all ``(reference, line base)`` parts, in file order.

    A record is a repeat when a record with the same key has a smaller line; ``lines`` and ``texts``
    are those of the ``keep`` earliest repeats. Re-split partitions go to a scratch directory under
    ``scratch_dir`` (default: the spill directory), removed before returning.
    """
    result = Repeats(0, [], [])
    if not parts:
        return result
    dtype = parts[0][0].dtype
    partitions = parts[0][0].partitions
    bits = max(1, partitions.bit_length() - 1)
    if all(ref.store is None for ref, _ in parts):
        held = [(ref.pending, base) for ref, base in parts if ref.pending is not None and len(ref.pending)]
        if sum(records.nbytes for records, _ in held) <= memory_bytes // 3:  # the common case: a small file
            if held:
                _count_in_memory(_shifted(held), keep, result)
            return result
    stores = {ref.store: open_store(ref.store) for ref, _ in parts if ref.store}
    # Unspilled records, grouped by partition once (they are the newest records of their part).
    held_slices: list[tuple[KeySetRef, int, np.ndarray, np.ndarray]] = []
    for ref, base in parts:
        if ref.pending is not None and len(ref.pending):
            part = _partition_of(ref.pending["h1"], ref.pending["h2"], 0, bits)
            order = np.argsort(part, kind="stable")
            bounds = np.searchsorted(part[order], np.arange(partitions + 1))
            held_slices.append((ref, base, ref.pending[order], bounds))
    scratch: list[SpillStore] = []

    def make_scratch() -> SpillStore:
        if not scratch:
            scratch.append(LocalSpillStore.create(scratch_dir))
        return scratch[0]

    try:
        for p in range(partitions):
            sources = [_Source(stores[ref.store], ref.file(p), None, base, dtype) for ref, base in parts if ref.store]
            for _ref, base, ordered, bounds in held_slices:
                if bounds[p + 1] > bounds[p]:
                    sources.append(_Source(None, None, ordered[bounds[p] : bounds[p + 1]], base, dtype))
            _count_sources(sources, 1, bits, keep, memory_bytes, make_scratch, f"split-{p:04d}", result)
    finally:
        for store in scratch:
            store.remove()
    return result


def _count_sources(
    sources: list[_Source],
    level: int,
    bits: int,
    keep: int,
    memory_bytes: int,
    make_scratch: Any,
    prefix: str,
    result: Repeats,
) -> None:
    total = sum(source.size() for source in sources)
    if not total:
        return
    if total <= memory_bytes // 3 or level >= _levels(bits):
        # Fits (sorting takes about three times the records' size), or no hash bits are left to
        # split on, which 2**-120-likely coincidences aside means one key: load what there is.
        if level >= _levels(bits) and _single_key(sources):
            _count_single_key(sources, keep, result)
            return
        blocks = [block for source in sources for block in source.blocks(total)]
        _count_in_memory(np.concatenate(blocks), keep, result)
        return
    if _single_key(sources):  # e.g. one row repeated a million times: no split can divide it
        _count_single_key(sources, keep, result)
        return
    store = make_scratch()
    for source in sources:
        for block in source.blocks(min(_READ_BLOCK, memory_bytes // 3)):
            _write_partitions(store, prefix, block, level, bits)
    for p in range(1 << bits):  # the re-written records carry absolute lines already
        child = [_Source(store, f"{prefix}/p{p:04d}.keys", None, 0, sources[0].dtype)]
        _count_sources(child, level + 1, bits, keep, memory_bytes, make_scratch, f"{prefix}-{p:04d}", result)


def _shifted(held: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """The records of several parts as one array, each part's lines moved by its base."""
    if len(held) == 1 and held[0][1] == 0:
        return held[0][0]
    records = np.concatenate([records for records, _ in held])
    records["line"] += np.repeat([base for _, base in held], [len(r) for r, _ in held])
    return records


def _count_in_memory(records: np.ndarray, keep: int, result: Repeats) -> None:
    h1 = records["h1"]
    ordered_h1 = np.sort(h1)
    repeated = ordered_h1[1:][ordered_h1[1:] == ordered_h1[:-1]]
    if not len(repeated):  # the common case, found with one sort of the first hash word
        return
    # Only records whose first word repeats can be repeats: sort those exactly, by key then line.
    repeated = np.unique(repeated)
    at = np.minimum(np.searchsorted(repeated, h1), len(repeated) - 1)
    records = records[repeated[at] == h1]
    order = np.lexsort((records["line"], records["h2"], records["h1"]))
    ordered = records[order]
    repeat = np.zeros(len(ordered), dtype=bool)
    repeat[1:] = (ordered["h1"][1:] == ordered["h1"][:-1]) & (ordered["h2"][1:] == ordered["h2"][:-1])
    result.count += int(repeat.sum())
    _keep_earliest(ordered[repeat], keep, result)


def _single_key(sources: list[_Source]) -> bool:
    """Whether every record of the sources has the same key (then no re-split can divide them)."""
    first: tuple[int, int] | None = None
    for source in sources:
        for block in source.blocks(_READ_BLOCK):
            if first is None:
                first = (int(block["h1"][0]), int(block["h2"][0]))
            if not (np.all(block["h1"] == np.uint64(first[0])) and np.all(block["h2"] == np.uint64(first[1]))):
                return False
    return True


def _count_single_key(sources: list[_Source], keep: int, result: Repeats) -> None:
    """All records share one key: every record but the earliest is a repeat (one streaming pass)."""
    kept: np.ndarray | None = None  # the keep + 1 earliest records seen so far
    count = 0
    for source in sources:
        for block in source.blocks(_READ_BLOCK):
            count += len(block)
            merged = block if kept is None else np.concatenate([kept, block])
            kept = merged[np.argsort(merged["line"], kind="stable")[: keep + 1]]
    if kept is None:
        return
    result.count += count - 1
    _keep_earliest(kept[1:], keep, result)


def _keep_earliest(repeats: np.ndarray, keep: int, result: Repeats) -> None:
    """Merge ``repeats`` into the ``keep`` earliest repeats (by line) kept so far."""
    if not len(repeats) or not keep:
        return
    if len(repeats) > keep:
        repeats = repeats[np.argpartition(repeats["line"], keep - 1)[:keep]]
    texts = [bytes(t) for t in repeats["text"]] if "text" in (repeats.dtype.names or ()) else [b""] * len(repeats)
    pairs = sorted([*zip(result.lines, result.texts, strict=True), *zip(map(int, repeats["line"]), texts, strict=True)])
    result.lines = [line for line, _ in pairs[:keep]]
    result.texts = [text for _, text in pairs[:keep]]
