"""The per-thread environment of in-process executions (mlops.local.adapters.process)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from mlops.local.adapters.process import environment_snapshot, install_thread_environ, patched_environ


@pytest.fixture(autouse=True)
def _thread_environ():
    install_thread_environ()
    yield
    for name in [n for n in os.environ if n.startswith("MLOPS_TEST_")]:
        del os.environ[name]


def test_an_overlay_is_seen_by_its_own_thread_only_and_dropped_after():
    os.environ["MLOPS_TEST_BASE"] = "process"
    seen: dict[str, object] = {}
    with patched_environ({"MLOPS_TEST_BASE": "handler", "MLOPS_TEST_ONLY_HERE": 1}):
        other = threading.Thread(target=lambda: seen.update(other=dict(os.environ)))
        other.start()
        other.join()
        seen["mine"] = (os.environ["MLOPS_TEST_BASE"], os.getenv("MLOPS_TEST_ONLY_HERE"))
        seen["copied"] = os.environ.copy()
    assert seen["mine"] == ("handler", "1")
    assert seen["copied"]["MLOPS_TEST_ONLY_HERE"] == "1"  # type: ignore[index]
    assert seen["other"]["MLOPS_TEST_BASE"] == "process" and "MLOPS_TEST_ONLY_HERE" not in seen["other"]  # type: ignore[index]
    assert os.environ["MLOPS_TEST_BASE"] == "process" and "MLOPS_TEST_ONLY_HERE" not in os.environ


def test_overlays_nest_and_a_handlers_own_writes_and_deletes_stay_in_its_overlay():
    os.environ["MLOPS_TEST_KEEP"] = "kept"
    with patched_environ({"MLOPS_TEST_A": "outer"}):
        with patched_environ({"MLOPS_TEST_B": "inner"}):
            assert (os.environ["MLOPS_TEST_A"], os.environ["MLOPS_TEST_B"]) == ("outer", "inner")
            os.environ["MLOPS_TEST_WRITTEN"] = "by the handler"
            del os.environ["MLOPS_TEST_KEEP"]
            assert "MLOPS_TEST_KEEP" not in os.environ and "MLOPS_TEST_KEEP" not in list(os.environ)
            assert len(os.environ) == len(list(os.environ)) == len(dict(os.environ))
            with pytest.raises(KeyError):
                del os.environ["MLOPS_TEST_NEVER_SET"]
            with pytest.raises(TypeError):
                os.environ["MLOPS_TEST_NUMBER"] = 3  # type: ignore[assignment]
        assert "MLOPS_TEST_B" not in os.environ and os.environ["MLOPS_TEST_KEEP"] == "kept"
    assert "MLOPS_TEST_WRITTEN" not in os.environ and "MLOPS_TEST_A" not in os.environ


def test_writes_outside_an_overlay_reach_the_real_process_environment():
    os.environ["MLOPS_TEST_CHILD"] = "inherited"
    with patched_environ({"MLOPS_TEST_HANDLER_ONLY": "x"}):
        child = subprocess.run(  # without env=: the C-level environment, never an overlay
            [
                sys.executable,
                "-c",
                "import os; print(os.environ.get('MLOPS_TEST_CHILD'), os.environ.get('MLOPS_TEST_HANDLER_ONLY'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    assert child.stdout.split() == ["inherited", "None"]
    assert environment_snapshot()["MLOPS_TEST_CHILD"] == "inherited"


def test_installing_twice_keeps_one_view_over_the_same_variables():
    first, second = install_thread_environ(), install_thread_environ()
    assert first is second is os.environ
    os.environ["MLOPS_TEST_SHARED"] = "1"
    assert os.environb[b"MLOPS_TEST_SHARED"] == b"1"  # the same storage as the original os.environ
