"""The local cloud's adapters, each through the public AWS API, on a small hand-made template.

The full synthesized system is exercised by tests/e2e; these tests pin down each adapter's
contract on its own (and run in seconds): Lambda errors surface to Step Functions by name,
S3 uploads reach Lambda through EventBridge, alarms move and emit AWS's event, training jobs run
their script per the script-mode contract, endpoints serve and capture.
"""

from __future__ import annotations

import io
import json
import tarfile
import textwrap

import pytest
from endpoint_waits import in_service

from mlops.local.assembly import CloudAssembly, FileAsset, StackArtifact
from mlops.local.cloud import LocalCloud

ASSETS = "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"

HANDLER = """
import json, os
FOO_AT_IMPORT = os.environ["FOO"]  # module state, as a Powertools logger's service name is
class BadData(Exception):
    pass
def handler(event, context):
    print("log line from", context.function_name)
    if event.get("fail"):
        raise BadData("column Torque is not a number")
    return {"foo": os.environ["FOO"], "fooAtImport": FOO_AT_IMPORT, "event": event}
"""

TRAIN = """
import argparse, json, os, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--factor", type=float)
args = parser.parse_args()
rows = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"], "data.csv").read_text().split()
if args.factor < 0:
    pathlib.Path(os.environ["SM_OUTPUT_DIR"], "failure").write_text("factor must be positive")
    raise SystemExit(1)
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.json").write_text(json.dumps({"factor": args.factor}))
pathlib.Path(os.environ["SM_OUTPUT_DATA_DIR"], "metrics.json").write_text(json.dumps({"rows": len(rows)}))
"""

LIST_CHANNELS = """
import json, os, pathlib
found = {}
for name in json.loads(os.environ["SM_CHANNELS"]):
    root = pathlib.Path(os.environ["SM_CHANNEL_" + name.upper()])
    found[name] = {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.json").write_text("{}")
pathlib.Path(os.environ["SM_OUTPUT_DATA_DIR"], "channels.json").write_text(json.dumps(found))
"""

INFERENCE = """
import json, os
def model_fn(model_dir):
    assert os.environ["EXPECTED"] == "yes"
    return json.load(open(os.path.join(model_dir, "model.json")))
def input_fn(body, content_type):
    return [float(line) for line in body.split()]
def predict_fn(data, model):
    return [x * model["factor"] for x in data]
def output_fn(prediction, accept):
    return json.dumps({"predictions": prediction}), "application/json"
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
                "Catch": [{"ErrorEquals": ["BadData"], "Next": "Rejected"}],
                "Next": "Train",
            },
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {
                    "TrainingJobName.$": "$.event.job",
                    "AlgorithmSpecification": {"TrainingImage": "sklearn", "TrainingInputMode": "File"},
                    "HyperParameters": {
                        "sagemaker_program": "train.py",
                        "sagemaker_submit_directory": "s3://data-bucket/code/source.tar.gz",
                        "factor.$": "$.event.factor",
                    },
                    "InputDataConfig": [
                        {
                            "ChannelName": "train",
                            "DataSource": {
                                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data-bucket/train/"}
                            },
                        }
                    ],
                    "OutputDataConfig": {"S3OutputPath": "s3://data-bucket/training"},
                    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
                    "RoleArn": "arn:aws:iam::123456789012:role/sm",
                    "StoppingCondition": {"MaxRuntimeInSeconds": 600},
                },
                "ResultSelector": {"artifacts.$": "$.ModelArtifacts.S3ModelArtifacts"},
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "TrainFailed"}],
                "End": True,
            },
            "TrainFailed": {"Type": "Fail", "Error": "TrainFailed"},
            "Rejected": {"Type": "Fail", "Error": "Rejected"},
        },
    }
    head, tail = json.dumps(definition).split('"@FN@"')
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
                "Properties": {
                    "BucketName": "data-bucket",
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
                },
            },
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {"S3Bucket": sub(ASSETS), "S3Key": "code.zip"},
                    "Handler": "toy.handler.handler",
                    "Runtime": "python3.12",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Layers": [sub("arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:Powertools:1")],
                    "Environment": {"Variables": {"FOO": "bar"}},
                },
            },
            "Fn2": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {"S3Bucket": sub(ASSETS), "S3Key": "code.zip"},
                    "Handler": "toy.handler.handler",
                    "Runtime": "python3.12",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Environment": {"Variables": {"FOO": "baz"}},
                },
            },
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "DefinitionString": {"Fn::Join": ["", [head, '"', {"Fn::GetAtt": ["Fn", "Arn"]}, '"', tail]]},
                },
            },
            "Upload": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {
                        "source": ["aws.s3"],
                        "detail-type": ["Object Created"],
                        "detail": {"object": {"key": [{"prefix": "uploads/"}]}},
                    },
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "fn"}],
                },
            },
            "Alarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": "toy-drift",
                    "Namespace": "Toy",
                    "MetricName": "Drift",
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "EvaluationPeriods": 1,
                    "Period": 300,
                    "Threshold": 1,
                    "Statistic": "Maximum",
                    "TreatMissingData": "notBreaching",
                },
            },
            "Manual": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["toy.manual"]},
                    "Targets": [
                        {"Arn": {"Ref": "Machine"}, "Id": "machine", "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}}
                    ],
                },
            },
            "Hourly": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "rate(1 hour)",
                    "State": "ENABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "fn"}],
                },
            },
            "OnAlarm": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {
                        "source": ["aws.cloudwatch"],
                        "detail-type": ["CloudWatch Alarm State Change"],
                        "resources": [{"Fn::GetAtt": ["Alarm", "Arn"]}],
                        "detail": {"state": {"value": ["ALARM"]}},
                    },
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "fn"}],
                },
            },
        },
        "Outputs": {
            "Function2": {"Value": {"Ref": "Fn2"}},
            "Machine": {"Value": {"Ref": "Machine"}},
            "Function": {"Value": {"Ref": "Fn"}},
            "Hourly": {"Value": {"Ref": "Hourly"}},
        },
    }


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    (root / "code" / "toy").mkdir(parents=True)
    (root / "code" / "toy" / "__init__.py").write_text("")
    (root / "code" / "toy" / "handler.py").write_text(textwrap.dedent(HANDLER))
    with LocalCloud(root / "work") as local:
        assembly = CloudAssembly(
            directory=root,
            stacks=(StackArtifact("toy", _template(), ()),),
            assets=(FileAsset(root / "code", "zip", ASSETS, "code.zip"),),
        )
        local.deploy(assembly)
        s3 = local.client("s3")
        source = io.BytesIO()
        with tarfile.open(fileobj=source, mode="w:gz") as archive:
            for name, text in (("train.py", TRAIN), ("inference.py", INFERENCE), ("list_channels.py", LIST_CHANNELS)):
                data = textwrap.dedent(text).encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        s3.put_object(Bucket="data-bucket", Key="code/source.tar.gz", Body=source.getvalue())
        s3.put_object(Bucket="data-bucket", Key="train/data.csv", Body=b"1\n2\n3\n")
        yield local


def _outputs(cloud: LocalCloud) -> dict[str, str]:
    assert cloud.deployment is not None
    return cloud.deployment.outputs


def _run(cloud: LocalCloud, name: str, execution_input: dict) -> dict:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_outputs(cloud)["Machine"], name=name, input=json.dumps(execution_input))[
        "executionArn"
    ]
    return cloud.wait_for_execution(arn, timeout=120)


def test_template_resources_moto_skips_are_created(cloud):
    s3 = cloud.client("s3")
    assert s3.get_bucket_versioning(Bucket="data-bucket")["Status"] == "Enabled"
    alarm = cloud.client("cloudwatch").describe_alarms(AlarmNames=["toy-drift"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"


def test_lambda_task_runs_handler_and_trains_for_real(cloud):
    result = _run(cloud, "ok", {"job": "toy-job-1", "factor": "2.5"})
    assert result["status"] == "SUCCEEDED", result
    artifacts = json.loads(result["output"])["artifacts"]
    assert artifacts == "s3://data-bucket/training/toy-job-1/output/model.tar.gz"
    s3 = cloud.client("s3")
    body = s3.get_object(Bucket="data-bucket", Key="training/toy-job-1/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        assert json.load(archive.extractfile("model.json")) == {"factor": 2.5}
    output = s3.get_object(Bucket="data-bucket", Key="training/toy-job-1/output/output.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(output)) as archive:
        assert json.load(archive.extractfile("metrics.json")) == {"rows": 3}
    logs = cloud.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{_outputs(cloud)['Function']}")
    assert any("log line from" in e["message"] for e in logs["events"])


def test_functions_sharing_code_keep_their_own_module_state(cloud):
    lambda_client = cloud.client("lambda")
    answers = []
    for name in (_outputs(cloud)["Function"], _outputs(cloud)["Function2"], _outputs(cloud)["Function"]):
        payload = lambda_client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
        answers.append(json.loads(payload)["fooAtImport"])
    assert answers == ["bar", "baz", "bar"]


def test_handler_exception_is_caught_by_its_class_name(cloud):
    result = _run(cloud, "bad", {"fail": True})
    assert result["status"] == "FAILED"
    assert result["error"] == "Rejected"


def test_failed_training_job_fails_the_task_with_its_reason(cloud):
    result = _run(cloud, "train-fails", {"job": "toy-job-2", "factor": "-1"})
    assert result["status"] == "FAILED" and result["error"] == "TrainFailed"
    job = cloud.client("sagemaker").describe_training_job(TrainingJobName="toy-job-2")
    assert job["TrainingJobStatus"] == "Failed"
    assert "factor must be positive" in job["FailureReason"]


def _channel_job(cloud: LocalCloud, name: str, channels: dict[str, tuple[str, str]]) -> dict:
    """Run the channel-listing script with ``{channel: (S3DataType, S3Uri)}``; return the finished job."""
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "sklearn", "TrainingInputMode": "File"},
        HyperParameters={
            "sagemaker_program": "list_channels.py",
            "sagemaker_submit_directory": "s3://data-bucket/code/source.tar.gz",
        },
        InputDataConfig=[
            {"ChannelName": channel, "DataSource": {"S3DataSource": {"S3DataType": kind, "S3Uri": uri}}}
            for channel, (kind, uri) in channels.items()
        ],
        OutputDataConfig={"S3OutputPath": "s3://data-bucket/training"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
        RoleArn="arn:aws:iam::123456789012:role/sm",
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    cloud.training.wait(timeout=120)
    return sagemaker.describe_training_job(TrainingJobName=name)


def _job_output(cloud: LocalCloud, name: str, member: str) -> dict:
    body = cloud.client("s3").get_object(Bucket="data-bucket", Key=f"training/{name}/output/output.tar.gz")["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read())) as archive:
        return json.load(archive.extractfile(member))


def test_manifest_channel_downloads_exactly_the_listed_objects(cloud):
    s3 = cloud.client("s3")
    for version in ("v1", "v2", "v3"):
        s3.put_object(Bucket="data-bucket", Key=f"snapshots/ds/{version}/data.csv", Body=f"rows of {version}".encode())
        s3.put_object(Bucket="data-bucket", Key=f"snapshots/ds/{version}/validation.json", Body=b"{}")
    manifest = [{"prefix": "s3://data-bucket/snapshots/ds/"}, "v1/data.csv", "v3/data.csv"]
    s3.put_object(Bucket="data-bucket", Key="plans/run-1/train.manifest", Body=json.dumps(manifest).encode())
    s3.put_object(Bucket="data-bucket", Key="plans/run-1/plan.json", Body=b'{"batches": []}')

    job = _channel_job(
        cloud,
        "toy-manifest-1",
        {
            "train": ("ManifestFile", "s3://data-bucket/plans/run-1/train.manifest"),
            "plan": ("S3Prefix", "s3://data-bucket/plans/run-1/"),
        },
    )

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    channels = _job_output(cloud, "toy-manifest-1", "channels.json")
    # Only the listed batches, at their keys relative to the prefix; not v2, not the validation reports.
    assert channels["train"] == {"v1/data.csv": "rows of v1", "v3/data.csv": "rows of v3"}
    # An S3Prefix channel beside it keeps its behaviour: everything under the prefix.
    assert set(channels["plan"]) == {"plan.json", "train.manifest"}


@pytest.mark.parametrize(
    ("case", "manifest", "message"),
    [
        ("missing-object", [{"prefix": "s3://data-bucket/snapshots/ds/"}, "v1/data.csv", "v9/data.csv"], "v9/data.csv"),
        ("escaping-key", [{"prefix": "s3://data-bucket/snapshots/ds/"}, "../../code/source.tar.gz"], "unsafe key"),
        ("no-prefix", ["v1/data.csv"], "must start with"),
        ("no-keys", [{"prefix": "s3://data-bucket/snapshots/ds/"}], "lists no object keys"),
    ],
)
def test_a_bad_manifest_fails_the_job_with_a_client_error(cloud, case, manifest, message):
    s3 = cloud.client("s3")
    s3.put_object(Bucket="data-bucket", Key="snapshots/ds/v1/data.csv", Body=b"rows of v1")
    name = f"toy-bad-manifest-{case}"
    s3.put_object(Bucket="data-bucket", Key=f"plans/{name}.manifest", Body=json.dumps(manifest).encode())

    job = _channel_job(cloud, name, {"train": ("ManifestFile", f"s3://data-bucket/plans/{name}.manifest")})

    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError:") and message in job["FailureReason"]


def test_a_missing_manifest_object_fails_the_job(cloud):
    job = _channel_job(cloud, "toy-no-manifest", {"train": ("ManifestFile", "s3://data-bucket/plans/none.manifest")})
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert "ClientError: cannot read the channel's manifest s3://data-bucket/plans/none.manifest" in reason


def test_upload_reaches_lambda_through_eventbridge(cloud):
    before = len(cloud.lambdas.invocations)
    cloud.client("s3").put_object(Bucket="data-bucket", Key="uploads/new.csv", Body=b"x\n")
    cloud.client("s3").put_object(Bucket="data-bucket", Key="elsewhere/other.csv", Body=b"x\n")
    cloud.drain_events()
    assert len(cloud.lambdas.invocations) == before + 1


def test_rule_with_a_state_machine_target_starts_executions(cloud):
    sfn = cloud.client("stepfunctions")
    machine = _outputs(cloud)["Machine"]
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    for _ in range(2):
        cloud.client("events").put_events(Entries=[{"Source": "toy.manual", "DetailType": "run", "Detail": "{}"}])
    cloud.drain_events()
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == before + 2
    assert cloud.events.failed == []
    for execution in executions:  # let them finish: their Lambda calls must not land in later tests
        cloud.wait_for_execution(execution["executionArn"], timeout=60)


def test_schedule_fires_on_demand_and_matches_no_events(cloud):
    before = len(cloud.lambdas.invocations)
    cloud.fire_schedule(_outputs(cloud)["Hourly"])
    assert len(cloud.lambdas.invocations) == before + 1
    cloud.client("events").put_events(Entries=[{"Source": "custom", "DetailType": "x", "Detail": "{}"}])
    cloud.drain_events()
    assert len(cloud.lambdas.invocations) == before + 1  # a schedule rule matches no event


def test_alarm_moves_and_emits_state_change_event(cloud):
    cloudwatch = cloud.client("cloudwatch")
    cloudwatch.put_metric_data(Namespace="Toy", MetricData=[{"MetricName": "Drift", "Value": 0.0}])
    assert [(t.previous, t.current) for t in cloud.alarms.evaluate()] == [("INSUFFICIENT_DATA", "OK")]
    before = len(cloud.lambdas.invocations)
    cloud.drain_events()
    assert len(cloud.lambdas.invocations) == before  # the rule matches ALARM only
    cloudwatch.put_metric_data(Namespace="Toy", MetricData=[{"MetricName": "Drift", "Value": 1.0}])
    assert [(t.previous, t.current) for t in cloud.alarms.evaluate()] == [("OK", "ALARM")]
    cloud.drain_events()
    assert len(cloud.lambdas.invocations) == before + 1
    assert cloud.alarms.evaluate() == []  # no change, no second event


def test_endpoint_serves_model_and_captures(cloud):
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model(
        ModelName="toy-model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
        PrimaryContainer={
            "Image": "sklearn",
            "ModelDataUrl": "s3://data-bucket/training/toy-job-1/output/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "EXPECTED": "yes",
                "SAGEMAKER_SUBMIT_DIRECTORY": "s3://data-bucket/code/source.tar.gz",
            },
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="toy-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "toy-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://data-bucket/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sagemaker.create_endpoint(EndpointName="toy", EndpointConfigName="toy-config")
    # As in SageMaker, the endpoint is Creating while its model starts, then InService.
    in_service(sagemaker, "toy")
    response = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="toy", ContentType="text/csv", Body=b"1\n4\n"
    )
    assert json.loads(response["Body"].read()) == {"predictions": [2.5, 10.0]}
    captured = cloud.client("s3").list_objects_v2(Bucket="data-bucket", Prefix="capture/toy/AllTraffic/")
    assert captured["KeyCount"] == 1
    record = json.loads(
        cloud.client("s3").get_object(Bucket="data-bucket", Key=captured["Contents"][0]["Key"])["Body"].read()
    )
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "1\n4\n",
        "encoding": "CSV",
    }
    assert record["captureData"]["endpointOutput"]["encoding"] == "JSON"

    sagemaker.update_endpoint(EndpointName="toy", EndpointConfigName="toy-config")
    in_service(sagemaker, "toy")
    assert sagemaker.describe_endpoint(EndpointName="toy")["EndpointStatus"] == "InService"
    with pytest.raises(sagemaker.exceptions.ClientError):
        cloud.client("sagemaker-runtime").invoke_endpoint(EndpointName="missing", ContentType="text/csv", Body=b"1")


def test_server_mode_serves_the_same_backends(tmp_path):
    boto3 = pytest.importorskip("boto3")
    with LocalCloud(tmp_path, server_port=0) as local:
        local.client("s3").create_bucket(Bucket="seen-by-server")
        remote = boto3.client("s3", region_name="us-east-1", endpoint_url=local.endpoint_url)
        assert "seen-by-server" in [b["Name"] for b in remote.list_buckets()["Buckets"]]
