"""The replay's readers, without a cloud: run outcomes from history, scores, plot marks."""

import json
import math

import pytest

from mlops.backtest.plot import _marks
from mlops.backtest.replay import _describe_run, _scores


class _FakeSfn:
    def __init__(self, status, states, output=None):
        self._status, self._states, self._output = status, states, output

    def describe_execution(self, executionArn):
        described = {"name": "run", "status": self._status, "input": json.dumps({"reason": "drift"})}
        if self._output is not None:
            described["output"] = json.dumps(self._output)
        if self._status == "FAILED":
            described.update(error="States.TaskFailed", cause="boom")
        return described

    def get_execution_history(self, executionArn, maxResults, **_):
        return {"events": [{"stateEnteredEventDetails": {"name": name}} for name in self._states]}


@pytest.mark.parametrize(
    ("status", "states", "output", "expected"),
    [
        (
            "SUCCEEDED",
            ["Validate", "PlanTraining", "NotRetrained"],
            {"plan": {"skipped": "no_new_data"}},
            {"outcome": "skipped", "trained": False, "skipped": "no_new_data", "approved": False},
        ),
        (
            "SUCCEEDED",
            ["Train", "Evaluate", "Register", "NotifyRejected", "ModelRejected"],
            {"registration": {"version": 3}, "evaluation": {"reasons": ["FAIL threshold"]}},
            {"outcome": "rejected", "trained": True, "version": 3, "approved": False, "gate": ["FAIL threshold"]},
        ),
        (
            "SUCCEEDED",
            ["TrainWithChampion", "CreateModel", "UpdateEndpoint", "Deployed"],
            {},
            {"outcome": "deployed", "trained": True, "approved": True},
        ),
        ("FAILED", ["Validate", "NotifyFailure", "PipelineFailed"], None, {"outcome": "failed", "trained": False}),
    ],
)
def test_a_run_is_described_from_its_history(status, states, output, expected):
    run = _describe_run(_FakeSfn(status, states, output), "arn")
    assert run["reason"] == "drift"
    for key, value in expected.items():
        assert run[key] == value, key
    if status == "FAILED":
        assert run["error"].startswith("States.TaskFailed")


def test_scores_leave_out_unserved_rows_and_are_nan_with_one_class():
    scores = _scores([1, 0, 1, 0], [1, 0, 0, -1], [0.9, 0.2, 0.4, math.nan])
    assert scores["served"] == 3 and math.isclose(scores["accuracy"], 2 / 3)
    assert math.isclose(scores["rocAuc"], 1.0)
    assert math.isnan(_scores([1, 1], [1, 0], [0.8, 0.3])["rocAuc"])
    assert math.isnan(_scores([1], [-1], [math.nan])["accuracy"])


def test_a_mark_sits_on_the_first_window_the_model_serves():
    windows = [
        {"index": 0, "runs": [{"outcome": "deployed", "phase": "start"}]},
        {"index": 1, "runs": [{"outcome": "deployed", "phase": "end"}, {"outcome": "rejected", "phase": "end"}]},
        {"index": 2, "runs": [{"outcome": "deployed", "phase": "end"}]},  # serves a window past the end
    ]
    ys = [0.5, 0.6, 0.7]
    assert _marks(windows, ys, "deployed") == [(0, 0.5), (2, 0.7)]
    assert _marks(windows, ys, "rejected") == [(2, 0.7)]
