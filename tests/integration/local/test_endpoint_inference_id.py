"""The local endpoint records the caller's InferenceId in the capture, as SageMaker does.

The groundtruth function joins labels to captured requests on ``eventMetadata.inferenceId``
(docs/ARCHITECTURE.md, "Ground truth"), so the local endpoint must write it exactly where
SageMaker does, leave it out when no id was sent, and stamp ``inferenceTime`` with milliseconds.
Both the in-process client and server mode (the AWS CLI's path) are checked: their request
headers differ in casing.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import textwrap
from datetime import UTC, datetime

import boto3
import pytest
from endpoint_waits import in_service

from mlops.local.adapters.endpoints import capture_time
from mlops.local.cloud import LocalCloud

INFERENCE = """
import json
def model_fn(model_dir):
    return None
def input_fn(body, content_type):
    return [float(line) for line in body.split()]
def predict_fn(data, model):
    return [min(1.0, x / 10) for x in data]
def output_fn(prediction, accept):
    return json.dumps({"predictions": [{"probability": p, "label": int(p >= 0.5)} for p in prediction]}), \
        "application/json"
"""
BUCKET = "capture-bucket"


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with LocalCloud(tmp_path_factory.mktemp("endpoint-id"), server_port=0) as local:
        s3, sagemaker = local.client("s3"), local.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        code = _tar({"inference.py": textwrap.dedent(INFERENCE).encode()})
        s3.put_object(Bucket=BUCKET, Key="code.tar.gz", Body=code)
        s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=_tar({"model.txt": b"-"}))
        sagemaker.create_model(
            ModelName="id-model",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
            PrimaryContainer={
                "Image": "sklearn",
                "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz",
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{BUCKET}/code.tar.gz",
                },
            },
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="id-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "id-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
            DataCaptureConfig={
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": f"s3://{BUCKET}/datacapture",
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            },
        )
        sagemaker.create_endpoint(EndpointName="id-endpoint", EndpointConfigName="id-config")
        in_service(sagemaker, "id-endpoint")  # Creating while its model starts, as in SageMaker
        yield local


def _records(cloud: LocalCloud) -> list[dict]:
    s3 = cloud.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="datacapture/id-endpoint/AllTraffic/").get("Contents", [])
    bodies = [s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed]
    return [json.loads(line) for body in bodies for line in body.splitlines() if line.strip()]


def _new_record(cloud: LocalCloud, before: list[dict]) -> dict:
    seen = {r["eventMetadata"]["eventId"] for r in before}
    (record,) = [r for r in _records(cloud) if r["eventMetadata"]["eventId"] not in seen]
    return record


def test_inference_id_is_recorded_in_the_capture_metadata(cloud):
    before = _records(cloud)
    runtime = cloud.client("sagemaker-runtime")
    response = runtime.invoke_endpoint(
        EndpointName="id-endpoint", ContentType="text/csv", Body=b"7\n", InferenceId="order-42"
    )
    assert json.loads(response["Body"].read())["predictions"][0]["label"] == 1

    record = _new_record(cloud, before)
    metadata = record["eventMetadata"]
    assert metadata["inferenceId"] == "order-42"
    assert list(metadata) == ["eventId", "inferenceId", "inferenceTime"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", metadata["inferenceTime"])
    # the stamp is the request's own time, readable by the standard library
    moment = datetime.fromisoformat(metadata["inferenceTime"])
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60


def test_without_an_inference_id_the_key_is_absent(cloud):
    before = _records(cloud)
    cloud.client("sagemaker-runtime").invoke_endpoint(EndpointName="id-endpoint", ContentType="text/csv", Body=b"1\n")
    metadata = _new_record(cloud, before)["eventMetadata"]
    assert "inferenceId" not in metadata and set(metadata) == {"eventId", "inferenceTime"}


def test_server_mode_records_the_inference_id_too(cloud):
    before = _records(cloud)
    remote = boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=cloud.endpoint_url)
    remote.invoke_endpoint(EndpointName="id-endpoint", ContentType="text/csv", Body=b"2\n", InferenceId="via-server")
    assert _new_record(cloud, before)["eventMetadata"]["inferenceId"] == "via-server"


def test_capture_time_format():
    assert capture_time(datetime(2026, 11, 12, 17, 0, 0, 123_999, tzinfo=UTC)) == "2026-11-12T17:00:00.123Z"
    assert capture_time(datetime(2026, 11, 12, 17, 0, 0, tzinfo=UTC)) == "2026-11-12T17:00:00.000Z"
