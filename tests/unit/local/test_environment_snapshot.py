"""The training adapter copies the process environment while in-process handlers patch it.

A Lambda handler's environment is set and restored around each invocation; a copy taken on
another thread at that moment used to fail with a KeyError for a variable being removed.
"""

from __future__ import annotations

import threading

from mlops.local.adapters.code_loader import EXECUTION_LOCK
from mlops.local.adapters.process import environment_snapshot, patched_environ


def test_snapshots_never_see_a_half_restored_environment():
    stop = threading.Event()
    failures: list[BaseException] = []
    seen: list[bool] = []

    def handler_invocations() -> None:
        while not stop.is_set():
            with EXECUTION_LOCK, patched_environ({f"MLOPS_TEST_VAR_{i}": "x" for i in range(50)}):
                pass

    def snapshots() -> None:
        try:
            for _ in range(300):
                seen.append("MLOPS_TEST_VAR_0" in environment_snapshot())
        except BaseException as error:
            failures.append(error)

    writer = threading.Thread(target=handler_invocations)
    reader = threading.Thread(target=snapshots)
    writer.start()
    reader.start()
    reader.join(timeout=60)
    stop.set()
    writer.join(timeout=10)
    assert failures == []
    # Taken under the lock, a snapshot is never one of a handler's own (patched) environments.
    assert seen and not any(seen)
