"""Serving entry points for the SageMaker scikit-learn container (and the local cloud's endpoint).

The container calls ``model_fn`` once, then ``input_fn`` -> ``predict_fn`` -> ``output_fn`` per
request. A model artifact is a pickle, and unpickling runs code, so ``model_fn`` hashes the artifact
bytes and compares them with the digest the registry recorded (``MLOPS_MODEL_SHA256``) and with the
manifest written beside it before anything is unpickled; the bytes that were hashed are the bytes
that are loaded. Heavy imports (pandas, joblib, scikit-learn) are deferred to the functions that
need them, so importing this module stays cheap.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if not __package__:  # imported by file path (the serving container) rather than as pipelines.inference
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.schema import Column, DatasetSchema, load_schema

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
SCHEMA_FILE = "schema.json"
SHA256_ENV = "MLOPS_MODEL_SHA256"
BUNDLE_FORMAT = 1

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"

# What input_fn hands to predict_fn: one record per row, either named (a JSON object, or a CSV row
# under a header) or positional (a header-less CSV row or a JSON array, in schema feature order).
Record = Mapping[str, Any] | Sequence[Any]


class IntegrityError(RuntimeError):
    """A model artifact does not match the digest it was registered or written with."""


@dataclass(frozen=True)
class LoadedModel:
    """A verified model: the fitted pipeline plus what is needed to read requests and label rows."""

    pipeline: Any
    threshold: float
    schema: DatasetSchema
    sha256: str
    manifest: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Predictions:
    """Positive-class probabilities and the decision threshold chosen at training time."""

    probabilities: tuple[float, ...]
    threshold: float

    @property
    def labels(self) -> tuple[int, ...]:
        return tuple(int(p >= self.threshold) for p in self.probabilities)


# ------------------------------------------------------------------------------------ verification


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _same_digest(actual: str, expected: str) -> bool:
    return hmac.compare_digest(actual.lower(), expected.strip().lower())


def read_manifest(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise IntegrityError(
            f"{MANIFEST_FILE} is missing from the model directory: refusing to load an unverifiable model"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{MANIFEST_FILE} is not valid JSON: refusing to load an unverifiable model") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
        raise IntegrityError(f"{MANIFEST_FILE} has no sha256 digest: refusing to load an unverifiable model")
    if manifest.get("artifact", MODEL_FILE) != MODEL_FILE:
        # The manifest must not be able to point the loader at another file (e.g. "../x").
        raise IntegrityError(f"{MANIFEST_FILE} names artifact {manifest.get('artifact')!r}, expected {MODEL_FILE!r}")
    return manifest


def save_model(
    model_dir: str | Path, pipeline: Any, *, threshold: float, schema_path: str | Path, model_type: str
) -> dict[str, Any]:
    """Write ``model.joblib``, a copy of the schema and the manifest that vouches for both.

    Writer and reader of the artifact format live side by side so they cannot drift apart. The
    pickle holds only a plain dict of scikit-learn objects and built-ins: unpickling it needs
    scikit-learn, not this project's code. Returns the manifest.
    """
    import joblib
    import sklearn

    model_dir = Path(model_dir)
    schema = load_schema(schema_path)
    model_dir.mkdir(parents=True, exist_ok=True)
    bundle = {
        "format": BUNDLE_FORMAT,
        "pipeline": pipeline,
        "threshold": float(threshold),
        "features": list(schema.feature_names),
        "model_type": model_type,
    }
    artifact = model_dir / MODEL_FILE
    joblib.dump(bundle, artifact, compress=3)
    schema_copy = model_dir / SCHEMA_FILE
    if Path(schema_path).resolve() != schema_copy.resolve():
        shutil.copyfile(schema_path, schema_copy)
    manifest = {
        "artifact": MODEL_FILE,
        "sha256": sha256_file(artifact),
        "sklearn_version": sklearn.__version__,
        "features": list(schema.feature_names),
        "format": BUNDLE_FORMAT,
        "model_type": model_type,
        "threshold": float(threshold),
        "schema_sha256": sha256_file(schema_copy),
    }
    (model_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def load_model(model_dir: str | Path, expected_sha256: str | None = None) -> LoadedModel:
    """Verify, then unpickle, the model in ``model_dir``.

    ``expected_sha256`` (the registry's digest) is checked when given; the manifest's digest is
    always checked. On any mismatch :class:`IntegrityError` is raised and nothing is unpickled.
    """
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    artifact = model_dir / MODEL_FILE
    if not artifact.is_file():
        raise IntegrityError(f"{MODEL_FILE} is missing from the model directory")
    payload = artifact.read_bytes()
    actual = sha256_bytes(payload)
    if expected_sha256 and not _same_digest(actual, expected_sha256):
        raise IntegrityError(
            f"{MODEL_FILE} sha256 {actual} does not match the registered digest {expected_sha256.strip()}: "
            "refusing to load it"
        )
    if not _same_digest(actual, manifest["sha256"]):
        raise IntegrityError(
            f"{MODEL_FILE} sha256 {actual} does not match {MANIFEST_FILE} ({manifest['sha256']}): refusing to load it"
        )
    schema_path = model_dir / SCHEMA_FILE
    if not schema_path.is_file():
        raise IntegrityError(f"{SCHEMA_FILE} is missing from the model directory")
    schema_digest = manifest.get("schema_sha256")
    if schema_digest and not _same_digest(sha256_file(schema_path), schema_digest):
        raise IntegrityError(f"{SCHEMA_FILE} does not match the digest in {MANIFEST_FILE}")
    schema = load_schema(schema_path)

    import joblib  # deferred: only needed once the bytes are trusted

    bundle = joblib.load(io.BytesIO(payload))  # the verified bytes, not a second read of the file
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise IntegrityError(f"{MODEL_FILE} is not a model bundle of format {BUNDLE_FORMAT}")
    features = list(bundle.get("features", []))
    if features != list(schema.feature_names):
        raise IntegrityError(
            f"the model was trained on features {features} but {SCHEMA_FILE} declares {list(schema.feature_names)}"
        )
    return LoadedModel(
        pipeline=bundle["pipeline"],
        threshold=float(bundle["threshold"]),
        schema=schema,
        sha256=actual,
        manifest=manifest,
    )


# ------------------------------------------------------------------------------- container hooks


def model_fn(model_dir: str) -> LoadedModel:
    """Load the verified model; ``MLOPS_MODEL_SHA256`` (if set and non-empty) must match too."""
    expected = os.environ.get(SHA256_ENV, "").strip() or None
    model = load_model(model_dir, expected)
    source = "registry digest and manifest" if expected else "manifest"
    print(f"model_fn: loaded {MODEL_FILE} sha256={model.sha256} (verified against the {source})", flush=True)
    return model


def input_fn(request_body: str | bytes, request_content_type: str | None) -> list[Record]:
    """Parse a request body into records; see the module's ``Record`` for their two shapes."""
    content_type = _media_type(request_content_type)
    text = request_body.decode("utf-8-sig") if isinstance(request_body, bytes | bytearray) else request_body
    if content_type == CSV_TYPE:
        records = _csv_records(text)
    elif content_type == JSON_TYPE:
        records = _json_records(text)
    else:
        raise ValueError(f"unsupported content type {request_content_type!r}: send {CSV_TYPE} or {JSON_TYPE}")
    if not records:
        raise ValueError("the request holds no rows")
    return records


def predict_fn(input_data: Sequence[Record] | Any, model: LoadedModel) -> Predictions:
    """Positive-class probabilities (with the model's threshold, so ``output_fn`` can label rows)."""
    frame = records_frame(input_data, model.schema)
    classes = list(model.pipeline.classes_)
    probabilities = model.pipeline.predict_proba(frame)[:, classes.index(1)]
    return Predictions(tuple(float(p) for p in probabilities), model.threshold)


def output_fn(prediction: Predictions, accept: str | None) -> tuple[str, str]:
    """Serialise predictions as ``(body, content_type)``.

    ``application/json`` (also for ``*/*`` or no Accept): ``{"predictions": [{"probability", "label"}]}``;
    ``text/csv``: one probability per line. The tuple form is what the scikit-learn container's
    transformer turns into a response with the right Content-Type; a bare string would be sent as
    text/html by one toolkit generation and sliced into characters by another.
    """
    # Duck-typed: the container may load this file under another module name than the caller's.
    if not (hasattr(prediction, "probabilities") and hasattr(prediction, "labels")):
        raise TypeError(f"output_fn expects the Predictions returned by predict_fn, got {type(prediction).__name__}")
    media = _media_type(accept, default=JSON_TYPE)
    if media in ("*/*", "application/*"):
        media = JSON_TYPE
    if media == JSON_TYPE:
        rows = [
            {"probability": p, "label": label}
            for p, label in zip(prediction.probabilities, prediction.labels, strict=True)
        ]
        return json.dumps({"predictions": rows}), JSON_TYPE
    if media == CSV_TYPE:
        return "".join(f"{p!r}\n" for p in prediction.probabilities), CSV_TYPE
    raise ValueError(f"unsupported accept type {accept!r}: ask for {JSON_TYPE} or {CSV_TYPE}")


# ----------------------------------------------------------------------------------------- parsing


def _media_type(value: str | None, default: str | None = None) -> str | None:
    if not value or not value.strip():
        return default
    # "text/csv; charset=utf-8" -> "text/csv"; an Accept list -> its first entry.
    return value.split(",")[0].split(";")[0].strip().lower()


def _csv_records(text: str) -> list[Record]:
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    return list(rows)


def _json_records(text: str) -> list[Record]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request is not valid JSON: {exc}") from exc
    if isinstance(payload, Mapping):
        if "instances" not in payload:
            raise ValueError('a JSON request must be {"instances": [...]} or a list of objects')
        payload = payload["instances"]
    if not isinstance(payload, list):
        raise ValueError('"instances" must be a list')
    for i, item in enumerate(payload):
        if not isinstance(item, Mapping | list):
            raise ValueError(f"instance {i} must be an object or an array, got {type(item).__name__}")
    return payload


def records_frame(records: Sequence[Record] | Any, schema: DatasetSchema) -> Any:
    """A DataFrame of the schema's features (float64 numeric, text categorical) from request records.

    CSV rows arrive as lists of text; the first row is a header when it names every feature (extra
    columns are then ignored). A DataFrame is accepted as-is, for in-process callers.
    """
    import pandas as pd

    features = schema.features
    names = [c.name for c in features]
    if isinstance(records, pd.DataFrame):
        missing = [n for n in names if n not in records.columns]
        if missing:
            raise ValueError(f"missing feature columns {missing}")
        records = records[names].to_dict(orient="records")
    records = list(records)
    header: list[str] | None = None
    if records and _is_header(records[0], names):
        header = [str(cell).strip() for cell in records[0]]
        records = records[1:]
        if not records:
            raise ValueError("the request holds a header but no rows")
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for i, record in enumerate(records):
        values = _row_values(record, header, names, i)
        for column, value in zip(features, values, strict=True):
            columns[column.name].append(_coerce(column, value, i))
    frame = pd.DataFrame(columns, columns=names)
    for column in features:
        if column.is_numeric:
            frame[column.name] = frame[column.name].astype("float64")
        else:
            frame[column.name] = frame[column.name].astype("object")
    return frame


def _is_header(record: Record, names: list[str]) -> bool:
    if isinstance(record, Mapping) or not all(isinstance(cell, str) for cell in record):
        return False
    return set(names) <= {cell.strip() for cell in record}


def _row_values(record: Record, header: list[str] | None, names: list[str], index: int) -> list[Any]:
    if isinstance(record, Mapping):
        missing = [n for n in names if n not in record]
        if missing:
            raise ValueError(f"row {index}: missing features {missing}")
        return [record[n] for n in names]
    record = list(record)
    if header is not None:
        if len(record) != len(header):
            raise ValueError(f"row {index}: {len(record)} values under a header of {len(header)} columns")
        by_name = dict(zip(header, record, strict=True))
        return [by_name[n] for n in names]
    if len(record) != len(names):
        raise ValueError(f"row {index}: {len(record)} values, expected {len(names)} (features in order: {names})")
    return record


def _coerce(column: Column, value: Any, index: int) -> Any:
    """One request value as the model's input type: float (NaN when missing) or text (None)."""
    if isinstance(value, bool):
        raise ValueError(f"row {index}: {column.name!r} must not be a boolean")
    if isinstance(value, str):
        try:
            value = column.parse(value)
        except ValueError as exc:
            raise ValueError(f"row {index}: {exc}") from exc
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan if column.is_numeric else None
    if column.is_numeric:
        if not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"row {index}: {column.name!r} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str | int | np.integer):
        raise ValueError(f"row {index}: {column.name!r} must be text, got {value!r}")
    return str(value)
