"""``python infra/app.py`` (what ``cdk.json`` runs) synthesizes from the project root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from infra_helpers import PROJECT_ROOT


def test_app_entry_point_writes_the_cloud_assembly(tmp_path: Path) -> None:
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path)}
    env.pop("CDK_CONTEXT_JSON", None)
    completed = subprocess.run(
        [sys.executable, "infra/app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for unit in ("Data", "Pipeline", "Monitoring"):
        template = json.loads((tmp_path / f"{unit}.template.json").read_text())
        assert template["Resources"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stacks = {
        a["properties"]["stackName"] for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"
    }
    assert stacks == {"mlops-data", "mlops-pipeline", "mlops-monitoring"}
