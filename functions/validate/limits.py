"""The sizes that bound the columnar validator's memory, and the bound they add up to.

Validation holds at most :data:`MEMORY_BOUND_BYTES` (120 MiB with the defaults) beyond the
interpreter and its libraries, whatever the file's size: :attr:`Limits.hash_memory_bytes` (64 MiB)
of uniqueness and duplicate-row key records, past which they are spilled to hashed partition files
in ``$MLOPS_VALIDATE_SPILL_DIR`` (default: the temp dir) and counted partition by partition
(:mod:`functions.validate.spill`); one block and what pyarrow and numpy build from it (under ten
times the block); and one line of at most ``max_line_bytes`` while a block is cut. Measured:
``benchmarks/validation_throughput.py`` (the peak RSS stays flat from 1M to 4M rows; it includes
pandas, which pyarrow imports on its first numpy conversion when pandas is installed, as in the
Lambda layer: about 0.5 s and 48 MiB once per process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from functions.validate.spill import HASH_MEMORY_BYTES, PARTITION_BITS, SPILL_DIR_ENV

__all__ = ["BLOCK_BYTES", "HASH_MEMORY_ENV", "MAX_LINE_BYTES", "MEMORY_BOUND_BYTES", "Limits"]

BLOCK_BYTES = 4 << 20  # bytes of whole lines parsed at a time
MAX_LINE_BYTES = 16 << 20  # a longer line (or quoted field) is malformed: it is skipped, not buffered
HASH_MEMORY_ENV = "MLOPS_VALIDATE_HASH_MEMORY_MIB"  # overrides Limits.hash_memory_bytes, in MiB
# What validation may hold beyond the interpreter and its libraries: the key records, one block and
# pyarrow's arrays of it (measured under 10x the block), and a line being cut.
MEMORY_BOUND_BYTES = HASH_MEMORY_BYTES + 10 * BLOCK_BYTES + MAX_LINE_BYTES


@dataclass(frozen=True)
class Limits:
    """The sizes that bound validation's memory; :meth:`from_env` reads the overrides of the environment."""

    block_bytes: int = BLOCK_BYTES
    max_line_bytes: int = MAX_LINE_BYTES
    hash_memory_bytes: int = HASH_MEMORY_BYTES
    partition_bits: int = PARTITION_BITS
    spill_dir: str | None = None  # None: $MLOPS_VALIDATE_SPILL_DIR, else the temp dir

    @classmethod
    def from_env(cls) -> Limits:
        mib = os.environ.get(HASH_MEMORY_ENV)
        return cls(
            hash_memory_bytes=int(float(mib) * (1 << 20)) if mib else HASH_MEMORY_BYTES,
            spill_dir=os.environ.get(SPILL_DIR_ENV) or None,
        )
