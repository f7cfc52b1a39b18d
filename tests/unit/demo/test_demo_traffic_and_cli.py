"""The demo's traffic: schema-ordered CSV requests and a shift that keeps the schema's types."""

from pathlib import Path

import pytest

from mlops.cli import main
from mlops.demo import traffic
from pipelines.schema import load_schema

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def schema():
    return load_schema(ROOT / "schemas" / "ai4i2020.schema.json")


@pytest.fixture(scope="module")
def rows():
    return traffic.sample_rows(traffic.read_rows(ROOT / "data" / "ai4i2020.csv"), 300, seed=1)


def test_requests_hold_the_features_in_schema_order_without_header(schema, rows):
    bodies = traffic.csv_requests(schema, rows, batch_size=128)
    assert [len(b.decode().splitlines()) for b in bodies] == [128, 128, 44]
    first = bodies[0].decode().splitlines()[0].split(",")
    assert first == [rows[0][name] for name in schema.feature_names]
    assert "Machine failure" not in schema.feature_names and "UDI" not in schema.feature_names


def test_shift_moves_the_most_important_features_and_keeps_integers_integers(schema, rows):
    importance = {"Torque [Nm]": 0.5, "Tool wear [min]": 0.3, "Air temperature [K]": 0.01}
    shift = traffic.plan_shift(schema, rows, importance, count=2, sigmas=1.0)
    assert shift.features == ("Torque [Nm]", "Tool wear [min]")
    assert 8 < shift.offsets[0] < 12 and 50 < shift.offsets[1] < 75  # about one standard deviation
    moved = traffic.apply_shift(schema, rows, shift)
    assert moved[0]["Tool wear [min]"] == str(round(int(rows[0]["Tool wear [min]"]) + shift.offsets[1]))
    assert float(moved[0]["Torque [Nm]"]) == pytest.approx(float(rows[0]["Torque [Nm]"]) + shift.offsets[0], abs=1e-3)
    assert moved[0]["Air temperature [K]"] == rows[0]["Air temperature [K]"]


def test_without_importances_the_schema_order_decides(schema, rows):
    assert traffic.plan_shift(schema, rows).features == ("Air temperature [K]", "Process temperature [K]")


def test_demo_refuses_data_without_its_schema(tmp_path, capsys):
    data = tmp_path / "mine.csv"
    data.write_text("a,b\n1,2\n")
    assert main(["demo", "--data", str(data)]) == 2
    assert "--data needs --schema" in capsys.readouterr().err
    assert main(["demo", "--data", str(tmp_path / "missing.csv"), "--schema", str(data)]) == 2


def test_demo_reports_a_bad_config_value_in_one_line(capsys):
    assert main(["demo", "--quiet", "-c", "gate.thresholds.roc_auc=1.01"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == (
        "mlops demo: cdk synth failed: "
        "infra.config.ConfigError: mlops.gate.thresholds.roc_auc: 1.01 is above the maximum 1.0"
    )


def test_row_ids_follow_the_ground_truth_contract():
    assert traffic.row_ids("req-1", 1) == ["req-1"]
    assert traffic.row_ids("req-2", 3) == ["req-2:0", "req-2:1", "req-2:2"]


def test_concept_change_labels_follow_the_least_important_other_feature(schema, rows):
    importance = {
        "Torque [Nm]": 0.5,
        "Tool wear [min]": 0.3,
        "Rotational speed [rpm]": 0.001,
        "Air temperature [K]": 0.1,
        "Process temperature [K]": 0.05,
    }
    concept = traffic.plan_concept_change(schema, rows, importance, exclude=("Torque [Nm]",), rate=0.2)
    assert concept.feature == "Rotational speed [rpm]"
    labels = concept.labels(schema, rows)
    assert set(labels) == {"0", "1"}
    positives = [row for row, label in zip(rows, labels, strict=True) if label == "1"]
    assert 0.15 <= len(positives) / len(rows) <= 0.25
    assert min(float(r["Rotational speed [rpm]"]) for r in positives) >= concept.cutoff
    negatives = [row for row, label in zip(rows, labels, strict=True) if label == "0"]
    assert max(float(r["Rotational speed [rpm]"]) for r in negatives) < concept.cutoff


def test_ground_truth_file_has_the_contract_header():
    body = traffic.ground_truth_csv(["a", "b:0"], ["1", "0"]).decode()
    assert body.splitlines() == ["inferenceId,label", "a,1", "b:0,0"]


class _Runtime:
    """A sagemaker-runtime stand-in: one prediction per CSV row, the request recorded."""

    def __init__(self):
        self.requests = []

    def invoke_endpoint(self, **request):
        import io
        import json

        self.requests.append(request)
        rows = request["Body"].decode().splitlines()
        body = json.dumps({"predictions": [{"probability": 0.1, "label": 0} for _ in rows]})
        return {"Body": io.BytesIO(body.encode())}


def test_predict_sends_batches_with_inference_ids_and_returns_the_row_ids(schema, rows):
    runtime = _Runtime()
    ids, predictions = traffic.predict(runtime, "ep", schema, rows[:5], 2, "phase")
    assert [r["InferenceId"] for r in runtime.requests] == ["phase-0", "phase-1", "phase-2"]
    assert {r["EndpointName"] for r in runtime.requests} == {"ep"}
    assert ids == ["phase-0:0", "phase-0:1", "phase-1:0", "phase-1:1", "phase-2"]  # a one-row request is its id
    assert len(predictions) == 5
