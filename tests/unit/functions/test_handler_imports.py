"""The Lambda packages carry neither pandas nor scikit-learn: importing a handler must not need them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("pandas", "sklearn", "scipy", "joblib")


@pytest.mark.parametrize("name", ["trigger", "validate", "champion", "evaluate", "register", "drift"])
def test_handler_imports_stay_light(name):
    code = (
        f"import sys, json, functions.{name}.handler as h; "
        "assert callable(h.lambda_handler); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{(*HEAVY, 'pydantic', 'numpy')!r})))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POWERTOOLS_METRICS_NAMESPACE": "MLOps/Pipeline"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = {m.split(".")[0] for m in json.loads(done.stdout.strip().splitlines()[-1])}
    assert not loaded & set(HEAVY)
    if name == "validate":  # every upload's hot path: pyarrow and numpy load on the first validation, not here
        assert not loaded
