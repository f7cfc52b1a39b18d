"""The groundtruth handler imports neither pandas, scikit-learn nor numpy (it needs none of them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_groundtruth_handler_imports_stay_light():
    code = (
        "import sys, json, functions.groundtruth.handler as h; "
        "assert callable(h.lambda_handler); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POWERTOOLS_METRICS_NAMESPACE": "MLOps/Quality"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not loaded & {"pandas", "sklearn", "scipy", "joblib", "numpy"}
