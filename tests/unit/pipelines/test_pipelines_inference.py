"""pipelines.inference: integrity checks before unpickling, request parsing and response shapes."""

from __future__ import annotations

import csv
import io
import json
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from pipelines import inference, modeling
from pipelines.schema import load_schema

REPO = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO / "schemas" / "ai4i2020.schema.json"
SCHEMA = load_schema(SCHEMA_PATH)
FEATURES = list(SCHEMA.feature_names)
THRESHOLD = 0.3


@pytest.fixture(scope="module")
def raw_rows() -> pd.DataFrame:
    """The real data as raw text, stratified: 600 rows to train on, 12 to send as requests."""
    frame = pd.read_csv(REPO / "data" / "ai4i2020.csv", dtype=str, keep_default_na=False)
    sample, _ = train_test_split(frame, train_size=612, stratify=frame["Machine failure"], random_state=5)
    return sample.reset_index(drop=True)


@pytest.fixture(scope="module")
def trained_dir(raw_rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    features, labels = modeling.features_and_labels(_typed(raw_rows.iloc[:600]), SCHEMA)
    with threadpool_limits(limits=1):
        pipeline = modeling.build_pipeline(SCHEMA, seed=0).fit(features, labels)
    model_dir = tmp_path_factory.mktemp("model")
    inference.save_model(
        model_dir, pipeline, threshold=THRESHOLD, schema_path=SCHEMA_PATH, model_type="hist_gradient_boosting"
    )
    return model_dir


@pytest.fixture()
def model_dir(trained_dir: Path, tmp_path: Path) -> Path:
    """A private copy each test may tamper with."""
    return Path(shutil.copytree(trained_dir, tmp_path / "model"))


@pytest.fixture()
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail loudly if anything reaches joblib.load: a refused artifact must never be unpickled."""

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("joblib.load was called on an unverified artifact")

    monkeypatch.setattr(joblib, "load", forbidden)
    yield


@pytest.fixture()
def request_rows(raw_rows: pd.DataFrame) -> pd.DataFrame:
    return raw_rows.iloc[600:].reset_index(drop=True)


def _typed(raw: pd.DataFrame) -> pd.DataFrame:
    typed = raw.copy()
    for column in SCHEMA.columns:
        if column.is_numeric:
            typed[column.name] = typed[column.name].astype(float)
    return typed


def _expected(model_dir: Path, rows: pd.DataFrame) -> np.ndarray:
    """What the fitted pipeline says for these rows when fed the training code path's frame."""
    model = inference.load_model(model_dir)
    frame = modeling.feature_frame(_typed(rows), SCHEMA)
    return modeling.positive_probabilities(model.pipeline, frame)


def _csv(rows: pd.DataFrame, columns: list[str], header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(columns)
    writer.writerows(rows[columns].itertuples(index=False))
    return out.getvalue()


def _json_instances(rows: pd.DataFrame) -> list[dict]:
    typed = _typed(rows)
    return [{n: row[n] for n in FEATURES} for row in typed.to_dict(orient="records")]


# ----------------------------------------------------------------------------------- integrity


def test_model_fn_loads_a_verified_model(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(inference.SHA256_ENV, raising=False)
    model = inference.model_fn(str(model_dir))
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert model.sha256 == manifest["sha256"] == inference.sha256_file(model_dir / "model.joblib")
    assert model.threshold == THRESHOLD == manifest["threshold"]
    assert model.schema.feature_names == SCHEMA.feature_names
    assert manifest["features"] == FEATURES and manifest["artifact"] == "model.joblib"


def test_registry_digest_is_checked(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = inference.sha256_file(model_dir / "model.joblib")
    monkeypatch.setenv(inference.SHA256_ENV, digest.upper())  # case does not matter
    assert inference.model_fn(str(model_dir)).sha256 == digest


def test_registry_digest_mismatch_is_refused_before_unpickling(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, no_unpickling: None
) -> None:
    monkeypatch.setenv(inference.SHA256_ENV, "0" * 64)
    with pytest.raises(inference.IntegrityError, match="does not match the registered digest"):
        inference.model_fn(str(model_dir))


def test_tampered_artifact_is_refused_before_unpickling(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, no_unpickling: None
) -> None:
    monkeypatch.delenv(inference.SHA256_ENV, raising=False)
    artifact = model_dir / "model.joblib"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    with pytest.raises(inference.IntegrityError, match=r"does not match manifest\.json"):
        inference.model_fn(str(model_dir))


class _Payload:
    """A pickle that runs code when loaded: what an attacker would put in place of the model."""

    marker: Path

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.marker, "pwned"))


def test_swapped_artifact_with_a_rewritten_manifest_is_caught_by_the_registry_digest(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registered = inference.sha256_file(model_dir / "model.joblib")
    payload = _Payload()
    payload.marker = tmp_path / "marker"
    evil = pickle.dumps(payload)
    (model_dir / "model.joblib").write_bytes(evil)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["sha256"] = inference.sha256_bytes(evil)  # the attacker controls the manifest too
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv(inference.SHA256_ENV, registered)
    with pytest.raises(inference.IntegrityError, match="registered digest"):
        inference.model_fn(str(model_dir))
    assert not payload.marker.exists()
    joblib.load(io.BytesIO(evil))  # the payload is live: loading it unchecked would have run it
    assert payload.marker.read_text() == "pwned"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
        (lambda d: (d / "manifest.json").write_text('{"artifact": "model.joblib"}'), "no sha256"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
        (
            lambda d: (d / "manifest.json").write_text(
                json.dumps({**json.loads((d / "manifest.json").read_text()), "artifact": "../model.joblib"})
            ),
            "names artifact",
        ),
        (
            lambda d: (d / "schema.json").write_text((d / "schema.json").read_text() + " "),
            "schema.json does not",
        ),
        (lambda d: (d / "model.joblib").unlink(), "model.joblib is missing"),
    ],
    ids=[
        "no-manifest",
        "manifest-without-digest",
        "manifest-not-json",
        "artifact-path-escape",
        "schema-edited",
        "no-artifact",
    ],
)
def test_unverifiable_model_dirs_are_refused(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, no_unpickling: None, tamper: object, message: str
) -> None:
    monkeypatch.delenv(inference.SHA256_ENV, raising=False)
    tamper(model_dir)  # type: ignore[operator]
    with pytest.raises(inference.IntegrityError, match=message):
        inference.model_fn(str(model_dir))


# -------------------------------------------------------------------------------------- requests


def test_csv_without_header_is_in_schema_feature_order(model_dir: Path, request_rows: pd.DataFrame) -> None:
    model = inference.model_fn(str(model_dir))
    records = inference.input_fn(_csv(request_rows, FEATURES, header=False), "text/csv")
    assert len(records) == len(request_rows)
    predictions = inference.predict_fn(records, model)
    np.testing.assert_allclose(predictions.probabilities, _expected(model_dir, request_rows))


def test_csv_with_a_header_may_reorder_and_add_columns(model_dir: Path, request_rows: pd.DataFrame) -> None:
    model = inference.model_fn(str(model_dir))
    columns = ["UDI", *reversed(FEATURES)]
    body = _csv(request_rows, columns, header=True).encode("utf-8")
    predictions = inference.predict_fn(inference.input_fn(body, "text/csv; charset=utf-8"), model)
    np.testing.assert_allclose(predictions.probabilities, _expected(model_dir, request_rows))


@pytest.mark.parametrize("wrap", [True, False], ids=["instances-object", "list-of-objects"])
def test_json_requests(model_dir: Path, request_rows: pd.DataFrame, wrap: bool) -> None:
    model = inference.model_fn(str(model_dir))
    instances = _json_instances(request_rows)
    body = json.dumps({"instances": instances} if wrap else instances)
    predictions = inference.predict_fn(inference.input_fn(body, "application/json"), model)
    np.testing.assert_allclose(predictions.probabilities, _expected(model_dir, request_rows))


def test_json_numbers_sent_as_text_are_parsed(model_dir: Path, request_rows: pd.DataFrame) -> None:
    model = inference.model_fn(str(model_dir))
    as_text = [{n: str(v) for n, v in row.items()} for row in request_rows[FEATURES].to_dict(orient="records")]
    predictions = inference.predict_fn(inference.input_fn(json.dumps(as_text), "application/json"), model)
    np.testing.assert_allclose(predictions.probabilities, _expected(model_dir, request_rows))


def test_unsupported_content_type_is_named() -> None:
    with pytest.raises(ValueError, match="unsupported content type 'application/x-parquet'"):
        inference.input_fn(b"PAR1", "application/x-parquet")


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("", "text/csv", "no rows"),
        ("M,298.1,308.6,1551,42.8\n", "text/csv", r"5 values, expected 6"),
        ("M,298.1,308.6,fast,42.8,0\n", "text/csv", r"row 0: column 'Rotational speed \[rpm\]'"),
        ('{"instances": [{"Type": "M"}]}', "application/json", r"missing features \['Air temperature"),
        ('{"rows": []}', "application/json", "instances"),
        ("{not json", "application/json", "not valid JSON"),
        ('{"instances": [3]}', "application/json", "instance 0 must be an object"),
    ],
    ids=[
        "empty",
        "short-row",
        "bad-number",
        "missing-feature",
        "no-instances",
        "bad-json",
        "scalar-instance",
    ],
)
def test_bad_requests_are_refused_clearly(model_dir: Path, body: str, content_type: str, message: str) -> None:
    model = inference.model_fn(str(model_dir))
    with pytest.raises(ValueError, match=message):
        inference.predict_fn(inference.input_fn(body, content_type), model)


def test_unknown_category_is_served(model_dir: Path) -> None:
    model = inference.model_fn(str(model_dir))
    predictions = inference.predict_fn(inference.input_fn("X,298.1,308.6,1551,42.8,0\n", "text/csv"), model)
    assert 0.0 <= predictions.probabilities[0] <= 1.0


# ------------------------------------------------------------------------------------- responses


def test_json_output_labels_at_the_training_threshold() -> None:
    predictions = inference.Predictions((0.05, 0.3, 0.9), threshold=0.3)
    for accept in ("application/json", "*/*", None, "application/json; charset=utf-8"):
        body, content_type = inference.output_fn(predictions, accept)
        assert content_type == "application/json"
        body = json.loads(body)
        assert body == {
            "predictions": [
                {"probability": 0.05, "label": 0},
                {"probability": 0.3, "label": 1},
                {"probability": 0.9, "label": 1},
            ]
        }


def test_csv_output_is_one_probability_per_line() -> None:
    body = inference.output_fn(inference.Predictions((0.125, 0.5), threshold=0.3), "text/csv")
    assert body == ("0.125\n0.5\n", "text/csv")


def test_unsupported_accept_is_named() -> None:
    with pytest.raises(ValueError, match="unsupported accept type 'application/x-npy'"):
        inference.output_fn(inference.Predictions((0.1,), threshold=0.5), "application/x-npy")


def test_output_fn_wants_predict_fn_output() -> None:
    with pytest.raises(TypeError, match="Predictions"):
        inference.output_fn([0.1, 0.9], "application/json")  # type: ignore[arg-type]
