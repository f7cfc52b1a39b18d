"""Stages from cdk.json, as infra.config resolves them: context, region, account, deploy role, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.deploy import stage as stage_module
from mlops.deploy.stage import StageError, load_stage, stage_assembly

ROOT = Path(__file__).resolve().parents[3]


def project_copy(root: Path, stages: dict) -> Path:
    """The project's cdk.json with other stages (infra.config validates the whole mlops context)."""
    document = json.loads((ROOT / "cdk.json").read_text())
    document["context"]["mlops"]["stages"] = stages
    (root / "cdk.json").write_text(json.dumps(document))
    return root


STAGES = {
    "prod": {
        "account": "111122223333",
        "region": "eu-west-1",
        "approval": "manual",
        "overrides": {"groundTruth": {"prefix": "labels/"}, "serving": {"initialInstanceCount": 2}},
    },
    "dev": {"account": None, "region": None, "approval": "auto"},
}


def test_the_default_stage_is_cdk_json_as_it_stands_with_no_deploy_role(tmp_path):
    stage = load_stage(project_copy(tmp_path, STAGES))
    assert (stage.label, dict(stage.synth_context), stage.region, stage.account, stage.deploy_role_name) == (
        "default",
        {},
        None,
        None,
        None,
    )
    assert (stage.upload_prefix, stage.labels_prefix) == ("uploads/", "ground-truth/")
    assert "stages" not in stage.mlops


def test_a_named_stage_synthesizes_with_its_name_and_says_where_it_deploys(tmp_path):
    root = project_copy(tmp_path, STAGES)
    prod = load_stage(root, "prod")
    assert dict(prod.synth_context) == {"stage": "prod"}
    assert (prod.region, prod.account, prod.deploy_role_name) == (
        "eu-west-1",
        "111122223333",
        "mlops-prod-github-deploy",
    )
    assert prod.labels_prefix == "labels/" and prod.mlops["serving"]["initialInstanceCount"] == 2
    dev = load_stage(root, "dev")
    assert (dev.region, dev.account, dev.deploy_role_name) == (None, None, "mlops-dev-github-deploy")


def test_an_unknown_stage_names_the_known_ones(tmp_path):
    with pytest.raises(StageError, match=r"'qa' is not a stage of mlops\.stages \(dev, prod\)"):
        load_stage(project_copy(tmp_path, STAGES), "qa")


def test_the_project_s_own_stages_resolve():
    for name in json.loads((ROOT / "cdk.json").read_text())["context"]["mlops"].get("stages", {}):
        assert load_stage(ROOT, name).deploy_role_name.endswith("-github-deploy")


def test_a_stage_is_synthesized_with_its_context_into_a_directory_removed_afterwards(tmp_path, monkeypatch):
    root = project_copy(tmp_path, STAGES)
    calls = []

    def fake_synthesize(outdir: Path, *, context=None, root=None):
        calls.append((outdir, context, root))
        return "assembly"

    monkeypatch.setattr(stage_module, "synthesize", fake_synthesize)
    with stage_assembly(load_stage(root, "prod"), root) as assembly:
        assert assembly == "assembly" and calls[0][0].is_dir()
    ((outdir, context, passed_root),) = calls
    assert context == {"stage": "prod"} and passed_root == root and not outdir.exists()
