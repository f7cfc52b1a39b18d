"""The local cloud under bad input, faults and concurrency, on a small hand-made template.

Each test pins one promise of the local cloud through the public AWS API: a Lambda payload is
decoded once (a JSON string is an event, truncated JSON is the runtime's error, never a crash in
moto); logs survive a second local cloud in the process; asynchronous invocations are retried and
dead-lettered by Lambda's rules; the dead-letter queue's alarm sees SQS's metrics and notifies;
injected faults fail calls as the service would and the SDK and the state machine's Retry (with
its backoff) take it from there; a multipart upload can be copied and read back; a handler's
environment is its own thread's.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops.local.assembly import CloudAssembly, FileAsset, StackArtifact
from mlops.local.cloud import LocalCloud

ASSETS = "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
QUEUE = "toy-dead-letters"
TOPIC = "toy-alerts"
ALARM = "toy-dead-letters-not-empty"

HANDLER = """
import json, logging, os, sys, time
# As Powertools does: one stdlib logger per service name, given the stdout of its first import.
_log = logging.getLogger("toy-service")
if not _log.handlers:
    _log.addHandler(logging.StreamHandler(sys.stdout))
    _log.setLevel(logging.INFO)
    _log.propagate = False

def handler(event, context):
    _log.info("logged by %s", context.function_name)
    asked = event.get("detail", event) if isinstance(event, dict) else {}  # direct, or through EventBridge
    if asked.get("sleep"):
        time.sleep(asked["sleep"])
    if asked.get("fail"):
        raise RuntimeError("asked to fail")
    return {"event": event, "type": type(event).__name__, "foo": os.environ.get("FOO")}
"""


def _template() -> dict:
    def sub(text: str) -> dict:
        return {"Fn::Sub": text}

    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "@FN@", "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Retry": [
                    {
                        "ErrorEquals": ["Lambda.TooManyRequestsException"],
                        "IntervalSeconds": 1,
                        "BackoffRate": 2,
                        "MaxAttempts": 3,
                    }
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                "End": True,
            },
            "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    head, tail = json.dumps(definition).split('"@FN@"')
    # The function's ARN as the resource (CDK's LambdaInvoke with payload_response_only), and a Fail
    # state re-raising what the Catch caught, whatever its name.
    direct = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "@FN@",
                "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Reraise"}],
                "End": True,
            },
            "Reraise": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    direct_head, direct_tail = json.dumps(direct).split('"@FN@"')
    reraise = {
        "StartAt": "Caught",
        "States": {
            "Caught": {
                "Type": "Pass",
                "Result": {"Error": "States.TaskFailed", "Cause": "the training job failed"},
                "ResultPath": "$.error",
                "Next": "Reraise",
            },
            "Reraise": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    return {
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/hnb659fds/version",
            }
        },
        "Resources": {
            "Data": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"BucketName": "toy-data", "VersioningConfiguration": {"Status": "Enabled"}},
            },
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "toy-fn",
                    "Code": {"S3Bucket": sub(ASSETS), "S3Key": "code.zip"},
                    "Handler": "toy.handler.handler",
                    "Runtime": "python3.12",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Environment": {"Variables": {"FOO": "bar"}},
                },
            },
            "DeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": QUEUE}},
            "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": TOPIC}},
            "AsyncConfig": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "Qualifier": "$LATEST",
                    "MaximumRetryAttempts": 2,
                    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["DeadLetters", "Arn"]}}},
                },
            },
            "NotEmpty": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": ALARM,
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [{"Name": "QueueName", "Value": QUEUE}],
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "EvaluationPeriods": 1,
                    "Period": 300,
                    "Threshold": 1,
                    "Statistic": "Maximum",
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [{"Ref": "Alerts"}],
                },
            },
            "AsyncRule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["toy.async"]},
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "fn"}],
                },
            },
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "DefinitionString": {"Fn::Join": ["", [head, '"', {"Fn::GetAtt": ["Fn", "Arn"]}, '"', tail]]},
                },
            },
            "Direct": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "DefinitionString": {
                        "Fn::Join": ["", [direct_head, '"', {"Fn::GetAtt": ["Fn", "Arn"]}, '"', direct_tail]]
                    },
                },
            },
            "Reraise": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}, "DefinitionString": json.dumps(reraise)},
            },
        },
        "Outputs": {
            "Machine": {"Value": {"Ref": "Machine"}},
            "Direct": {"Value": {"Ref": "Direct"}},
            "Reraise": {"Value": {"Ref": "Reraise"}},
            "Topic": {"Value": {"Ref": "Alerts"}},
        },
    }


def _assembly(root) -> CloudAssembly:
    (root / "code" / "toy").mkdir(parents=True, exist_ok=True)
    (root / "code" / "toy" / "__init__.py").write_text("")
    (root / "code" / "toy" / "handler.py").write_text(textwrap.dedent(HANDLER))
    return CloudAssembly(
        directory=root,
        stacks=(StackArtifact("toy", _template(), ()),),
        assets=(FileAsset(root / "code", "zip", ASSETS, "code.zip"),),
    )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy-faults")
    # Retry waits compressed tenfold: the backoff is still computed and recorded as asked for.
    with LocalCloud(root / "work", retry_wait_scale=0.1) as local:
        local.deploy(_assembly(root))
        yield local


@pytest.fixture(autouse=True)
def _no_leftover_faults(cloud):
    yield
    cloud.clear_faults()


def _invoke(cloud, payload: bytes, invocation_type: str = "RequestResponse") -> dict:
    response = cloud.client("lambda").invoke(FunctionName="toy-fn", Payload=payload, InvocationType=invocation_type)
    return {
        "error": response.get("FunctionError"),
        "body": response["Payload"].read(),
        "status": response["StatusCode"],
    }


def _queue_bodies(cloud) -> list[dict]:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


# --- Lambda payloads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "event", "kind"),
    [
        (b'"hello"', "hello", "str"),
        (b"[1, 2]", [1, 2], "list"),
        (b"42", 42, "int"),
        (b"null", None, "NoneType"),
        (b"", {}, "dict"),
        (b'{"a": {"b": [true]}}', {"a": {"b": [True]}}, "dict"),
    ],
)
def test_any_json_payload_reaches_the_handler_decoded_once(cloud, payload, event, kind):
    answer = _invoke(cloud, payload)
    assert answer["error"] is None
    assert json.loads(answer["body"]) == {"event": event, "type": kind, "foo": "bar"}


@pytest.mark.parametrize("payload", [b'{"trunc', b"{'single': 'quotes'}", b"\xff\xfe\x00", b"{} {}"])
def test_a_payload_that_is_not_json_is_the_runtimes_unmarshal_error(cloud, payload):
    before = len(cloud.lambdas.invocations)
    answer = _invoke(cloud, payload)
    assert answer["error"] == "Unhandled" and answer["status"] == 200
    body = json.loads(answer["body"])
    assert body["errorType"] == "Runtime.UnmarshalError" and body["errorMessage"].startswith("Unable to unmarshal")
    assert cloud.lambdas.invocations[before:] == [
        {**cloud.lambdas.invocations[before], "errored": True, "errorType": "Runtime.UnmarshalError"}
    ]


def test_a_handler_error_is_unhandled_with_its_error_type(cloud):
    answer = _invoke(cloud, b'{"fail": true}')
    assert answer["error"] == "Unhandled"
    assert json.loads(answer["body"])["errorType"] == "RuntimeError"
    assert cloud.lambdas.invocations[-1]["errorType"] == "RuntimeError"


def test_a_second_local_cloud_in_the_process_keeps_the_lambda_logs(cloud, tmp_path):
    """The toy logger was bound to stdout by the module cloud's first import; the next cloud's
    invocations must still land in CloudWatch Logs (they were lost when each cloud had its sink)."""
    _invoke(cloud, b"{}")
    cloud.stop()
    try:
        for attempt in range(2):
            with LocalCloud(tmp_path / f"second-{attempt}") as second:
                second.deploy(_assembly(tmp_path / f"asm-{attempt}"))
                second.client("lambda").invoke(FunctionName="toy-fn", Payload=b"{}")
                events = second.client("logs").filter_log_events(logGroupName="/aws/lambda/toy-fn")["events"]
                assert any("logged by toy-fn" in e["message"] for e in events), attempt
    finally:
        cloud.start()
        cloud.deploy(_assembly(tmp_path / "again"))


# --- asynchronous invocations, the dead-letter queue and its alarm ----------------------------


def test_a_failing_async_invocation_is_retried_then_dead_lettered_and_the_alarm_notifies(cloud):
    _queue_bodies(cloud)
    topic = cloud.deployment.output("Topic")
    sent_before = len(cloud.notifications(topic))
    invocations_before = len(cloud.lambdas.invocations)
    cloud.client("events").put_events(
        Entries=[{"Source": "toy.async", "DetailType": "job", "Detail": json.dumps({"fail": True})}]
    )
    cloud.drain_events()

    assert len(cloud.lambdas.invocations) - invocations_before == 3  # the first attempt and 2 retries
    [record] = _queue_bodies(cloud)[-1:]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["detail"] == {"fail": True}
    assert record["responsePayload"]["errorType"] == "RuntimeError"

    # the queue is drained again above; put one back so the alarm has something to see
    sqs = cloud.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"], MessageBody=json.dumps(record))
    moves = [(t.alarm_name, t.current) for t in cloud.alarms.evaluate()]
    assert (ALARM, "ALARM") in moves
    sent = cloud.notifications(topic)[sent_before:]
    assert any(json.loads(n["message"])["AlarmName"] == ALARM for n in sent)
    _queue_bodies(cloud)  # redriven: the next period's datapoint is 0 and the alarm clears
    later = datetime.now(UTC) + timedelta(seconds=301)
    assert (ALARM, "OK") in [(t.alarm_name, t.current) for t in cloud.alarms.evaluate(later)]


def test_an_unparsable_async_payload_is_dead_lettered_with_the_raw_payload(cloud):
    _queue_bodies(cloud)
    _invoke(cloud, b'{"source": "aws.s3", "detail-ty', invocation_type="Event")
    [record] = _queue_bodies(cloud)
    assert record["requestPayload"] == '{"source": "aws.s3", "detail-ty'
    assert record["responsePayload"]["errorType"] == "Runtime.UnmarshalError"


def test_a_successful_async_invocation_runs_once(cloud):
    before = len(cloud.lambdas.invocations)
    assert _invoke(cloud, b'{"ok": 1}', invocation_type="Event")["status"] == 202
    assert len(cloud.lambdas.invocations) == before + 1


# --- faults ------------------------------------------------------------------------------------


def test_an_injected_s3_fault_is_retried_by_the_sdk_or_surfaces_with_the_services_code(cloud):
    s3 = cloud.client("s3")
    s3.put_object(Bucket="toy-data", Key="a.csv", Body=b"x")
    cloud.inject_fault("s3", "GetObject", "SlowDown", times=2)
    assert s3.get_object(Bucket="toy-data", Key="a.csv")["Body"].read() == b"x"  # the SDK retried

    fault = cloud.inject_fault("s3", "GetObject", "AccessDenied", match="toy-data")
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="toy-data", Key="a.csv")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert fault.served == 1 and fault.remaining == 0
    assert s3.get_object(Bucket="toy-data", Key="a.csv")["Body"].read() == b"x"  # only once


@pytest.mark.parametrize(
    ("service", "operation", "code", "call"),
    [
        ("sagemaker", "ListModels", "ThrottlingException", lambda c: c.list_models()),
        ("stepfunctions", "ListStateMachines", "ThrottlingException", lambda c: c.list_state_machines()),
        ("lambda", "ListFunctions", "TooManyRequestsException", lambda c: c.list_functions()),
        ("sns", "ListTopics", "Throttling", lambda c: c.list_topics()),
        ("sqs", "ListQueues", "RequestThrottled", lambda c: c.list_queues()),
    ],
)
def test_faults_speak_each_services_protocol(cloud, service, operation, code, call):
    client = boto3.client(service, region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
    cloud.inject_fault(service, operation, code)
    with pytest.raises(ClientError) as raised:
        call(client)
    assert raised.value.response["Error"]["Code"] == code
    call(client)  # the fault is spent


def test_a_fault_must_name_a_real_operation(cloud):
    with pytest.raises(ValueError, match="no operation"):
        cloud.inject_fault("s3", "GetObjects", "SlowDown")
    with pytest.raises(ValueError, match="at least 1"):
        cloud.inject_fault("s3", "GetObject", "SlowDown", times=0)


def test_the_state_machine_retries_a_throttled_invoke_with_backoff(cloud):
    sfn = cloud.client("stepfunctions")
    waits_before = len(cloud.retry_waits)
    cloud.inject_fault("lambda", "Invoke", "TooManyRequestsException", times=2, match="toy-fn")
    machine = cloud.deployment.output("Machine")
    arn = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input='{"n": 1}')["executionArn"]
    described = cloud.wait_for_execution(arn, timeout=60)

    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["event"] == {"n": 1}
    assert cloud.retry_waits[waits_before:] == [1.0, 2.0]  # IntervalSeconds, then times BackoffRate
    failed = [
        e["taskFailedEventDetails"]["error"]
        for e in sfn.get_execution_history(executionArn=arn)["events"]
        if e["type"] == "TaskFailed"
    ]
    assert failed == ["Lambda.TooManyRequestsException"] * 2


def test_retries_exhausted_end_in_the_catch_with_the_error_name(cloud):
    sfn = cloud.client("stepfunctions")
    cloud.inject_fault("lambda", "Invoke", "TooManyRequestsException", times=4, match="toy-fn")
    machine = cloud.deployment.output("Machine")
    arn = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input="{}")["executionArn"]
    described = cloud.wait_for_execution(arn, timeout=60)
    assert described["status"] == "FAILED" and described["error"] == "Lambda.TooManyRequestsException"


def _run(cloud, machine: str, execution_input: str = "{}") -> dict:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=cloud.deployment.output(machine), name=uuid.uuid4().hex, input=execution_input
    )["executionArn"]
    return cloud.wait_for_execution(arn, timeout=60)


def test_a_lambda_task_on_the_function_arn_names_invoke_failures_as_aws_does(cloud):
    cloud.inject_fault("lambda", "Invoke", "TooManyRequestsException", times=1, match="toy-fn")
    assert _run(cloud, "Direct", '{"n": 2}')["status"] == "SUCCEEDED"  # Retry matched Lambda.TooManyRequests...

    cloud.inject_fault("lambda", "Invoke", "TooManyRequestsException", times=2, match="toy-fn")
    failed = _run(cloud, "Direct")
    assert failed["status"] == "FAILED" and failed["error"] == "Lambda.TooManyRequestsException"
    assert "Status Code: 429" in failed["cause"]


def test_a_fail_state_re_raises_a_states_error_read_from_the_state(cloud):
    failed = _run(cloud, "Reraise")
    assert failed["status"] == "FAILED"
    assert (failed["error"], failed["cause"]) == ("States.TaskFailed", "the training job failed")


def test_a_training_job_name_is_unique_and_a_training_fault_fails_the_job(cloud):
    sagemaker = cloud.client("sagemaker")
    s3 = cloud.client("s3")
    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz") as archive:
        data = b"print('trained')\n"
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket="toy-data", Key="code/source.tar.gz", Body=source.getvalue())
    s3.put_object(Bucket="toy-data", Key="train/data.csv", Body=b"1\n")

    def create(name: str) -> None:
        sagemaker.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": "sklearn", "TrainingInputMode": "File"},
            HyperParameters={
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": "s3://toy-data/code/source.tar.gz",
            },
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://toy-data/train/"}},
                }
            ],
            OutputDataConfig={"S3OutputPath": "s3://toy-data/training"},
            ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
            RoleArn="arn:aws:iam::123456789012:role/sm",
            StoppingCondition={"MaxRuntimeInSeconds": 60},
        )

    cloud.inject_fault("sagemaker", "TrainingJob", "InternalServerError", message="the host went away", match="job-b")
    create("job-a")
    create("job-b")
    cloud.training.wait(timeout=60)
    assert sagemaker.describe_training_job(TrainingJobName="job-a")["TrainingJobStatus"] == "Completed"
    failed = sagemaker.describe_training_job(TrainingJobName="job-b")
    assert failed["TrainingJobStatus"] == "Failed"
    assert failed["FailureReason"] == "InternalServerError: the host went away"
    with pytest.raises(ClientError) as raised:
        create("job-a")
    assert raised.value.response["Error"]["Code"] == "ResourceInUse"


# --- S3 multipart uploads ----------------------------------------------------------------------


def test_a_multipart_upload_can_be_copied_and_read_back_with_checksums(cloud, tmp_path):
    body = b"".join(f"{n},{n * 7 % 1000}\n".encode() for n in range(900_000))  # ~7 MB: two parts
    path = tmp_path / "big.csv"
    path.write_bytes(body)
    s3 = cloud.client("s3")
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(path), "toy-data", "uploads/big.csv", Config=config)
    assert s3.head_object(Bucket="toy-data", Key="uploads/big.csv")["ETag"].endswith('-2"')

    s3.copy_object(Bucket="toy-data", Key="copies/big.csv", CopySource={"Bucket": "toy-data", "Key": "uploads/big.csv"})

    assert s3.get_object(Bucket="toy-data", Key="copies/big.csv")["Body"].read() == body
    attributes = s3.get_object_attributes(Bucket="toy-data", Key="copies/big.csv", ObjectAttributes=["ObjectParts"])
    assert "ObjectParts" not in attributes  # a copy is one part
    s3.delete_object(Bucket="toy-data", Key="uploads/big.csv")
    assert s3.get_object(Bucket="toy-data", Key="copies/big.csv")["Body"].read() == body


def test_head_object_matches_an_etag_with_or_without_its_quotes_as_s3_does(cloud):
    s3 = cloud.client("s3")
    etag = s3.put_object(Bucket="toy-data", Key="etag.csv", Body=b"x")["ETag"]
    for given in (etag, etag.strip('"')):  # S3 events carry ETags unquoted
        assert s3.head_object(Bucket="toy-data", Key="etag.csv", IfMatch=given)["ETag"] == etag
        assert s3.get_object(Bucket="toy-data", Key="etag.csv", IfMatch=given)["ETag"] == etag
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket="toy-data", Key="etag.csv", IfMatch="0" * 32)
    assert raised.value.response["Error"]["Code"] == "412"


# --- a handler's environment is its own thread's -----------------------------------------------


def test_a_running_handlers_environment_is_invisible_to_other_threads(cloud):
    assert "FOO" not in os.environ
    answer: dict = {}
    runner = threading.Thread(target=lambda: answer.update(_invoke(cloud, b'{"sleep": 0.5}')))
    runner.start()
    seen = []
    deadline = time.monotonic() + 0.4
    while time.monotonic() < deadline:
        seen.append(os.environ.get("FOO"))
        boto3.client("s3", region_name="us-east-1")  # a client built meanwhile reads the environment
    runner.join(timeout=30)
    assert json.loads(answer["body"])["foo"] == "bar"  # the handler saw its own variables
    assert set(seen) == {None}
