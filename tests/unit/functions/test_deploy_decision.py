"""The deployment decision: what a deployment does, decided on the endpoint's state at deploy time."""

from __future__ import annotations

import pytest

from functions.deploy.decision import PackageFacts, batches, decide


def package(version: int, approval: str | None = "Approved", trained: tuple[str, ...] | None = ("b1",)) -> PackageFacts:
    return PackageFacts(arn=f"arn:pkg/{version}", version=version, approval=approval, train_batches=trained)


@pytest.mark.parametrize("approval", ["PendingManualApproval", "Rejected", None])
def test_a_package_that_is_not_approved_is_never_deployed(approval: str | None) -> None:
    decision = decide(reason="approval", challenger=package(3, approval), endpoint_status=None, serving=None)
    assert (decision.action, decision.outcome) == ("skip", "NotApproved")


def test_no_endpoint_is_created_a_failed_one_deleted_a_changing_one_waited_for() -> None:
    challenger = package(2)
    assert decide(reason="upload", challenger=challenger, endpoint_status=None, serving=None).action == "create"
    assert decide(reason="upload", challenger=challenger, endpoint_status="Failed", serving=None).action == "delete"
    for status in ("Creating", "Updating", "RollingBack", "Deleting", "SystemUpdating"):
        assert decide(reason="upload", challenger=challenger, endpoint_status=status, serving=None).action == "wait"


def test_the_serving_package_is_not_deployed_again() -> None:
    decision = decide(reason="approval", challenger=package(4), endpoint_status="InService", serving=package(4))
    assert (decision.action, decision.outcome) == ("skip", "AlreadyServing")


def test_a_challenger_registered_before_the_serving_model_is_superseded() -> None:
    decision = decide(
        reason="upload",
        challenger=package(3, trained=("b1", "b2", "b9")),
        endpoint_status="InService",
        serving=package(5, trained=("b1",)),
    )
    assert (decision.action, decision.outcome) == ("skip", "Superseded")
    assert "v5 serves and was registered after v3" in decision.why


def test_a_serving_model_trained_on_every_batch_of_the_challenger_supersedes_it() -> None:
    decision = decide(
        reason="upload",
        challenger=package(6, trained=("b1", "b2")),
        endpoint_status="InService",
        serving=package(5, trained=("b1", "b2", "b3")),
    )
    assert (decision.action, decision.outcome) == ("skip", "Superseded")
    assert "trained on every batch" in decision.why


def test_a_newer_challenger_with_new_data_updates_the_endpoint() -> None:
    decision = decide(
        reason="quality",
        challenger=package(6, trained=("b1", "b2", "b4")),
        endpoint_status="InService",
        serving=package(5, trained=("b1", "b2", "b3")),
    )
    assert (decision.action, decision.outcome) == ("update", None)
    assert decision.why == "v6 replaces v5"


def test_unknown_lineage_cannot_supersede() -> None:
    # Without the serving model's batches, only the registration order can say it is newer.
    unknown = decide(
        reason="upload", challenger=package(6), endpoint_status="InService", serving=package(5, trained=None)
    )
    assert unknown.action == "update"
    outside = decide(reason="upload", challenger=package(6), endpoint_status="InService", serving=None)
    assert outside.action == "update" and "outside the registry" in outside.why


def test_a_rollback_deploys_an_older_version_on_purpose() -> None:
    decision = decide(reason="rollback", challenger=package(2), endpoint_status="InService", serving=package(5))
    assert (decision.action, decision.outcome) == ("update", None)
    # ... but never one that is not approved, nor the one already serving.
    assert (
        decide(reason="rollback", challenger=package(2, "Rejected"), endpoint_status="InService", serving=None).outcome
        == "NotApproved"
    )
    assert (
        decide(reason="rollback", challenger=package(5), endpoint_status="InService", serving=package(5)).outcome
        == "AlreadyServing"
    )


def test_an_update_rollback_failure_still_takes_an_update() -> None:
    decision = decide(
        reason="upload", challenger=package(7), endpoint_status="UpdateRollbackFailed", serving=package(6, trained=None)
    )
    assert decision.action == "update"


def test_batches_reads_only_lists_of_names() -> None:
    assert batches(["a", "b"]) == ("a", "b")
    assert batches(None) is None and batches("ab") is None and batches([1, 2]) is None
