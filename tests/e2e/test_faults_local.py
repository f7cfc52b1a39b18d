"""Faults injected into the local cloud, through the real synthesized state machine and handlers.

Transient faults (throttling, 5xx) from S3, Lambda, Step Functions and SageMaker are retried with
backoff: by the SDK first, then by the state machine's Retry (``TRANSIENT_ERRORS``, never a
hand-written loop) or, for the asynchronously invoked trigger, by Lambda. A retried training state
creates its job under a new name (``train-<execution>-<attempt>``), never "name in use". A failing
training job, registration or deployment ends the execution in a named failure with its cause and
a notification, and the champion keeps serving.
"""

from __future__ import annotations

import json

import pytest
from corpus.cases import good, header, sample, to_csv  # the corpus package beside this module
from corpus.runner import Corpus

from mlops.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e

RETRY_INTERVAL = 5  # infra.constructs.retries: IntervalSeconds 5, BackoffRate 2, full jitter
SCALE = 0.2  # the waits are recorded as asked for and slept a fifth as long


@pytest.fixture(scope="module")
def pipeline(fixed_threshold_assembly, tmp_path_factory):
    work = tmp_path_factory.mktemp("faults")
    with LocalCloud(work / "cloud", retry_wait_scale=SCALE) as cloud:
        deployment = cloud.deploy(fixed_threshold_assembly)
        corpus = Corpus(cloud, deployment.outputs, work)
        corpus.seed()
        assert corpus._serving_package(), "the seed upload must leave a champion serving"
        yield corpus


@pytest.fixture(autouse=True)
def _clean_faults(pipeline):
    yield
    pipeline.cloud.clear_faults()


def _run(pipeline: Corpus, key: str, body: bytes) -> dict:
    """Upload, let everything settle, and return the upload's one execution (described)."""
    upload = pipeline.upload(key, body)
    pipeline.settle()
    [execution] = pipeline.observer.execution_of(upload)
    return execution


def _failures(pipeline: Corpus, execution: dict) -> list[tuple[str, str]]:
    """(state, error) of every failed attempt in the execution's history."""
    events = pipeline.observer.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
    state, found = "?", []
    for event in events["events"]:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        for field in ("lambdaFunctionFailedEventDetails", "taskFailedEventDetails"):
            if field in event:
                found.append((state, event[field].get("error", "")))
    return found


def _training_job(execution: dict) -> str:
    return json.loads(execution.get("output") or "{}").get("training", {}).get("jobName", "")


def _backoff_respected(waits: list[float]) -> bool:
    """Full jitter: attempt n waits a random time in [0, interval * 2**n]."""
    return all(0 <= wait <= RETRY_INTERVAL * 2**n for n, wait in enumerate(waits))


def test_s3_throttling_past_the_sdk_is_retried_by_the_state_machine(pipeline):
    waits = len(pipeline.cloud.retry_waits)
    pipeline.cloud.inject_fault("s3", "GetObject", "SlowDown", times=6, match="faults/s3-throttled.csv")

    execution = _run(pipeline, "uploads/faults/s3-throttled.csv", good(300, 200))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert ("Validate", "TransientServiceError") in _failures(pipeline, execution)
    retried = pipeline.cloud.retry_waits[waits:]
    assert len(retried) == 1 and _backoff_respected(retried)


def test_lambda_throttling_is_retried_with_backoff(pipeline):
    waits = len(pipeline.cloud.retry_waits)
    pipeline.cloud.inject_fault("lambda", "Invoke", "TooManyRequestsException", times=2, match="mlops-validate")

    execution = _run(pipeline, "uploads/faults/lambda-throttled.csv", good(300, 201))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert _failures(pipeline, execution)[:2] == [("Validate", "Lambda.TooManyRequestsException")] * 2
    retried = pipeline.cloud.retry_waits[waits:]
    assert len(retried) == 2 and _backoff_respected(retried)


def test_step_functions_throttling_in_the_trigger_is_retried_by_lambda(pipeline):
    invocations = len(pipeline.cloud.lambdas.invocations)
    fault = pipeline.cloud.inject_fault("stepfunctions", "StartExecution", "ThrottlingException", times=6)

    execution = _run(pipeline, "uploads/faults/sfn-throttled.csv", good(300, 202))

    assert fault.served == 6  # the trigger's first attempt: 1 call and the SDK's 5 retries
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    trigger = [i for i in pipeline.cloud.lambdas.invocations[invocations:] if i["function"] == pipeline.r.trigger]
    assert [i["errorType"] for i in trigger[:2]] == ["TransientServiceError", None]  # Lambda's async retry
    assert not [f for f in pipeline.cloud.lambdas.async_failures if f["function"] == pipeline.r.trigger]


def test_sagemaker_throttling_on_create_retries_under_a_new_job_name(pipeline):
    pipeline.cloud.inject_fault("sagemaker", "CreateTrainingJob", "ThrottlingException")

    execution = _run(pipeline, "uploads/faults/sagemaker-create.csv", good(300, 203))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    [(_, error)] = [f for f in _failures(pipeline, execution) if f[0].startswith("Train")]
    assert error == "SageMaker.ThrottlingException"
    assert _training_job(execution) == f"train-{execution['name']}-1"


def test_a_throttled_job_poll_retries_under_a_new_job_name_not_name_in_use(pipeline):
    """The first attempt's job exists when its poll fails: the retry must not create it again."""
    pipeline.cloud.inject_fault("sagemaker", "DescribeTrainingJob", "ThrottlingException")

    execution = _run(pipeline, "uploads/faults/sagemaker-poll.csv", good(300, 204))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    errors = [error for state, error in _failures(pipeline, execution) if state.startswith("Train")]
    assert errors == ["SageMaker.ThrottlingException"]  # and no SageMaker.ResourceInUse
    assert _training_job(execution) == f"train-{execution['name']}-1"
    sagemaker = pipeline.cloud.client("sagemaker")
    first = sagemaker.describe_training_job(TrainingJobName=f"train-{execution['name']}-0")
    assert first["TrainingJobStatus"] == "Completed"  # the first attempt's job ran on, under its own name


def _assert_failed_and_told(pipeline: Corpus, execution: dict, error: str, champion: str | None) -> None:
    assert execution["status"] == "FAILED"
    assert execution["error"] == error, execution.get("cause")
    assert execution.get("cause")
    assert pipeline.observer.notified(execution["executionArn"]), "nobody was told"
    assert pipeline._serving_package() == champion, "the champion must keep serving"


def test_a_failing_training_job_fails_the_run_by_name_and_the_champion_serves(pipeline):
    champion = pipeline._serving_package()
    pipeline.cloud.inject_fault("sagemaker", "TrainingJob", "AlgorithmError", message="the script crashed")

    execution = _run(pipeline, "uploads/faults/training-fails.csv", good(300, 205))

    _assert_failed_and_told(pipeline, execution, "States.TaskFailed", champion)
    assert "AlgorithmError: the script crashed" in execution["cause"]


def test_a_failing_registration_fails_the_run_by_name_and_the_champion_serves(pipeline):
    champion = pipeline._serving_package()
    pipeline.cloud.inject_fault("sagemaker", "CreateModelPackage", "ValidationException", message="bad metrics")

    execution = _run(pipeline, "uploads/faults/registration-fails.csv", good(300, 206))

    _assert_failed_and_told(pipeline, execution, "RegistryError", champion)
    assert "CreateModelPackage" in execution["cause"] and "bad metrics" in execution["cause"]


def _changed_concept(rows: int = 3000, seed: int = 207) -> bytes:
    """Labels by a rule the champion never saw (air temperature above its 95th percentile), so a
    challenger trained on them beats the champion on them and is approved for deployment."""
    body = sample(rows, seed)
    column = header().index("Air temperature [K]")
    cut = sorted(float(row[column]) for row in body)[int(rows * 0.95)]
    for number, row in enumerate(body):
        row[0] = str(900_000 + number)  # fresh ids: these rows are new
        row[8] = "1" if float(row[column]) > cut else "0"
    return to_csv(header(), body).encode()


def test_a_failing_deployment_fails_the_run_by_name_and_the_champion_serves(pipeline):
    """Only the end state (the deployment phase is being rebuilt): named, notified, champion serving."""
    champion = pipeline._serving_package()
    pipeline.cloud.inject_fault("sagemaker", "CreateEndpointConfig", "ValidationException", times=10)

    execution = _run(pipeline, "uploads/faults/deployment-fails.csv", _changed_concept())

    states = [state for state, _ in _failures(pipeline, execution)]
    assert execution["status"] == "FAILED", f"the challenger was not deployed: {execution.get('output', '')[:500]}"
    assert execution["error"] and execution["error"] != "States.Runtime", execution.get("cause")
    assert pipeline.observer.notified(execution["executionArn"]), "nobody was told"
    assert pipeline._serving_package() == champion, f"the champion must keep serving (failed in {states})"
