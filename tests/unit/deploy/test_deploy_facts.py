"""Facts read off templates: a small hand-made two-stack assembly, and the intrinsics behind it.

The assembly is written out here (no synthesis) so that each rule can be seen with its input: paths
through the state machine with its wait loop, schedules, rules that reach a function through a
cross-stack export, alarms with metric math, the schema inside the code asset, the bootstrap
requirement in manifest.json, layers, images and the OIDC role.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops.deploy.facts import (
    QUALITY_METRICS_PER_LABEL_FILE,
    FactsError,
    drift_metrics_per_run,
    extract_facts,
    schedule_minutes,
)
from mlops.deploy.template import Placement, Unresolvable, partition_of, render, resolve, token_target
from mlops.local.assembly import CloudAssembly, FileAsset, StackArtifact
from pipelines.schema import load_schema, parse_schema

ROOT = Path(__file__).resolve().parents[3]


def join(*parts):
    return {"Fn::Join": ["", list(parts)]}


REGION, PARTITION = {"Ref": "AWS::Region"}, {"Ref": "AWS::Partition"}

SCHEMA = {
    "name": "tiny",
    "problemType": "binary_classification",
    "target": "y",
    "positiveLabel": 1,
    "columns": [
        {"name": "id", "type": "integer", "role": "id"},
        {"name": "a", "type": "float"},
        {"name": "b", "type": "integer"},
        {"name": "c", "type": "categorical", "categories": ["x", "z"]},
        {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
    ],
}

DEFINITION = {
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Task",
            "Resource": "@Validate",
            "Next": "Train?",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify"}],
        },
        "Train?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.train", "BooleanEquals": True, "Next": "Train"}],
            "Default": "Skipped",
        },
        "Skipped": {"Type": "Succeed"},
        "Train": {
            "Type": "Task",
            "Resource": "arn:@Partition:states:::sagemaker:createTrainingJob.sync",
            "Parameters": {
                "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 20}
            },
            "Next": "Evaluate",
        },
        "Evaluate": {
            "Type": "Task",
            "Resource": "arn:@Partition:states:::lambda:invoke",
            "Parameters": {"FunctionName": "@Validate"},
            "Next": "Config",
        },
        "Config": {
            "Type": "Task",
            "Resource": "arn:@Partition:states:::sagemaker:createEndpointConfig",
            "Parameters": {
                "ProductionVariants": [{"InstanceType": "ml.m5.large", "InitialInstanceCount": 3}],
                "DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 50},
            },
            "Next": "Create",
        },
        "Create": {"Type": "Task", "Resource": "arn:@Partition:states:::sagemaker:createEndpoint", "Next": "Describe"},
        "Describe": {
            "Type": "Task",
            "Resource": "arn:@Partition:states:::aws-sdk:sagemaker:describeEndpoint",
            "Next": "Ready?",
        },
        "Ready?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.s", "StringEquals": "InService", "Next": "Done"},
                {"Variable": "$.s", "StringEquals": "Failed", "Next": "Broken"},
            ],
            "Default": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": 20, "Next": "Describe"},
        "Done": {"Type": "Succeed"},
        "Broken": {"Type": "Fail"},
        "Notify": {"Type": "Task", "Resource": "arn:@Partition:states:::sns:publish", "Next": "Broken"},
    },
}


def definition_string() -> dict:
    """The definition as the CDK writes it: a Fn::Join around GetAtt and Ref tokens."""
    text = json.dumps(DEFINITION)
    parts: list = []
    for piece in text.split("@"):
        if piece.startswith("Validate"):
            parts += [{"Fn::GetAtt": ["ValidateFn", "Arn"]}, piece[len("Validate") :]]
        elif piece.startswith("Partition"):
            parts += [PARTITION, piece[len("Partition") :]]
        else:
            parts.append(piece)
    return join(*parts)


def function(name: str, env: dict, **extra) -> dict:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": name,
            "Code": {"S3Bucket": "assets", "S3Key": "code.zip"},
            "Environment": {"Variables": env},
            **extra,
        },
    }


PIPELINE = {
    "Mappings": {
        "Images": {
            "us-east-1": {
                "trainingImage": "111.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                "inferenceImage": "111.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            },
            "eu-west-1": {
                "trainingImage": "222.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                "inferenceImage": "222.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            },
        },
        "Layers": {"us-east-1": {"arn": "arn:aws:lambda:us-east-1:333:layer:Mapped:4"}},
    },
    "Resources": {
        "ValidateFn": function(
            "s-validate",
            {"RETRAIN_ON_UPLOAD": "false"},
            MemorySize=1024,
            TracingConfig={"Mode": "Active"},
            Layers=[
                join("arn:", PARTITION, ":lambda:", REGION, ":444:layer:Shared:7"),
                {"Fn::FindInMap": ["Layers", REGION, "arn"]},
            ],
        ),
        "TriggerFn": function(
            "s-trigger",
            {},
            Architectures=["arm64"],
            Layers=[join("arn:", PARTITION, ":lambda:", REGION, ":444:layer:Shared:7")],
        ),
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "s-pipeline",
                "DefinitionString": definition_string(),
                "LoggingConfiguration": {"Level": "ALL", "Destinations": [{"CloudWatchLogsLogGroup": {}}]},
                "TracingConfiguration": {"Enabled": True},
            },
        },
        "UploadRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "in/"}]}}},
                "Targets": [{"Arn": {"Fn::GetAtt": ["TriggerFn", "Arn"]}, "Id": "t"}],
            },
        },
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
    },
    "Outputs": {
        "TriggerArn": {"Value": {"Fn::GetAtt": ["TriggerFn", "Arn"]}, "Export": {"Name": "s-pipeline:TriggerArn"}},
        "TopicArn": {"Value": {"Ref": "Topic"}, "Export": {"Name": "s-pipeline:Topic"}},
    },
}

MONITORING = {
    "Resources": {
        "DriftFn": function("s-drift", {"DRIFT_WINDOW_MINUTES": "30"}),
        "LabelsFn": function("s-labels", {"GROUND_TRUTH_LOOKBACK_HOURS": "48"}),
        "DriftSchedule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": "rate(15 minutes)",
                "Targets": [{"Arn": {"Fn::GetAtt": ["DriftFn", "Arn"]}, "Id": "t"}],
            },
        },
        "Recheck": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": "rate(2 hours)",
                "Targets": [{"Arn": {"Fn::ImportValue": "s-pipeline:TriggerArn"}, "Id": "t"}],
            },
        },
        "Disabled": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "State": "DISABLED",
                "ScheduleExpression": "rate(1 minute)",
                "Targets": [{"Arn": {"Fn::GetAtt": ["DriftFn", "Arn"]}, "Id": "t"}],
            },
        },
        "OnAlarm": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]},
                "Targets": [{"Arn": {"Fn::ImportValue": "s-pipeline:TriggerArn"}, "Id": "t"}],
            },
        },
        "OnLabels": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "labels/"}]}}},
                "Targets": [{"Arn": {"Fn::GetAtt": ["LabelsFn", "Arn"]}, "Id": "t"}],
            },
        },
        "Simple": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": "s-drift",
                "Period": 300,
                "AlarmActions": [{"Fn::ImportValue": "s-pipeline:Topic"}],
            },
        },
        "Math": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Metrics": [
                    {"Id": "a", "MetricStat": {"Period": 10}},
                    {"Id": "b", "MetricStat": {"Period": 10}},
                    {"Id": "e", "Expression": "a+b"},
                ]
            },
        },
        "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}},
        "DeployRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": join("deploy-", REGION),
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRoleWithWebIdentity",
                            "Principal": {"Federated": "arn"},
                        }
                    ]
                },
            },
        },
        "OtherRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {"AssumeRolePolicyDocument": {"Statement": [{"Action": ["sts:AssumeRole"]}]}},
        },
    },
}


@pytest.fixture
def assembly(tmp_path: Path) -> CloudAssembly:
    code = tmp_path / "asset.code"
    code.mkdir()
    (code / "schema.json").write_text(json.dumps(SCHEMA))
    manifest = {
        "artifacts": {
            "Pipeline": {
                "type": "aws:cloudformation:stack",
                "properties": {
                    "requiresBootstrapStackVersion": 6,
                    "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/q/version",
                    "lookupRole": {"requiresBootstrapStackVersion": 8},
                },
            },
            "Pipeline.assets": {"type": "cdk:asset-manifest", "properties": {"requiresBootstrapStackVersion": 21}},
            "Tree": {"type": "cdk:tree", "properties": {"requiresBootstrapStackVersion": 99}},
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return CloudAssembly(
        directory=tmp_path,
        stacks=(StackArtifact("s-pipeline", PIPELINE, ()), StackArtifact("s-monitoring", MONITORING, ("s-pipeline",))),
        assets=(FileAsset(source=code, packaging="zip", bucket="assets", key="code.zip"),),
    )


@pytest.fixture
def facts(assembly):
    return extract_facts(assembly, upload_prefix="in/", labels_prefix="labels/")


def test_functions_know_their_memory_architecture_and_what_invokes_them(facts):
    by_name = {f.name: f for f in facts.functions}
    assert by_name["s-validate"].memory_mb == 1024 and by_name["s-validate"].traced
    assert by_name["s-drift"].memory_mb == 128  # CloudFormation's default when MemorySize is absent
    trigger = by_name["s-trigger"]
    assert trigger.architecture == "arm64"
    # the recheck schedule and the alarm rule reach it through the pipeline stack's export
    assert (trigger.schedule_minutes, trigger.upload_rules, trigger.alarm_rules) == ((120.0,), 1, 1)
    assert by_name["s-drift"].schedule_minutes == (15.0,)  # the disabled rule does not count
    assert by_name["s-labels"].label_rules == 1
    assert facts.drift_function == "s-monitoring/DriftFn"
    assert (facts.drift_window_minutes, facts.ground_truth_lookback_hours, facts.retrain_on_upload) == (30, 48, False)


def test_the_state_machine_s_deploy_and_skip_paths_and_its_wait_loop(facts):
    pipeline = facts.pipeline
    assert pipeline.deploy.states == (
        "Validate",
        "Train?",
        "Train",
        "Evaluate",
        "Config",
        "Create",
        "Describe",
        "Ready?",
        "Done",
    )
    # a Lambda task by ARN and one through lambda:invoke both count; Catch edges are not a path
    assert dict(pipeline.deploy.lambda_calls) == {"s-pipeline/ValidateFn": 2}
    assert pipeline.deploy.sns_publishes == 0 and pipeline.deploy.trains and pipeline.deploy.deploys
    assert pipeline.skip is not None and pipeline.skip.states == ("Validate", "Train?", "Skipped")
    assert [(loop.wait_seconds, loop.states_per_poll) for loop in pipeline.wait_loops] == [(20, 3)]
    assert (pipeline.training.instance_type, pipeline.training.count, pipeline.training_volume_gb) == (
        "ml.m5.xlarge",
        2,
        20,
    )
    assert [(v.instance_type, v.count) for v in pipeline.endpoint] == [("ml.m5.large", 3)]
    assert pipeline.capture_percent == 50 and pipeline.logs_every_transition and pipeline.traced


def test_alarms_dashboards_keys_and_metrics(facts):
    alarms = {a.name: a for a in facts.alarms}
    drift = alarms["s-drift"]
    assert (drift.metrics, drift.notifies, drift.high_resolution) == (1, True, False)
    math = alarms["Math"]  # no AlarmName: the logical ID; billed per metric, the expression is free
    assert (math.metrics, math.period_seconds, math.high_resolution, math.notifies) == (2, 10, True, False)
    assert (facts.dashboards, facts.kms_keys, facts.topics) == (1, 1, 1)
    # the packaged schema: 5 model-level + PSI of a, b, c + KS of a, b
    assert facts.metrics.drift_per_run == 10 and facts.metrics.drift_calls_per_run == 1


def test_preflight_facts_bootstrap_layers_images_and_the_oidc_role(facts):
    # the stack and the asset manifest count; lookups and the tree do not
    assert (facts.bootstrap.version, facts.bootstrap.parameter) == (21, "/cdk-bootstrap/q/version")
    layers = {json.dumps(layer.value, sort_keys=True): layer for layer in facts.layers}
    assert len(layers) == 2  # the shared layer once per stack, with both functions
    shared = next(layer for layer in facts.layers if "Fn::Join" in layer.value)
    assert shared.functions == ("s-validate", "s-trigger")
    assert resolve(shared.value, Placement("eu-west-1")) == "arn:aws:lambda:eu-west-1:444:layer:Shared:7"
    assert set(facts.images) == {"us-east-1", "eu-west-1"} and facts.image_tag == "1.2-1-cpu-py3"
    (role,) = facts.deploy_roles
    assert (role.stack, role.logical_id) == ("s-monitoring", "DeployRole")
    assert resolve(role.role_name, Placement("us-west-2")) == "deploy-us-west-2"


def test_a_missing_code_asset_or_an_unmodelled_schedule_is_a_clear_error(assembly):
    broken = CloudAssembly(directory=assembly.directory, stacks=assembly.stacks, assets=())
    with pytest.raises(FactsError, match=r"code asset 'code\.zip'"):
        extract_facts(broken, upload_prefix="in/", labels_prefix="labels/")
    assert schedule_minutes("rate(1 day)") == 1440
    with pytest.raises(FactsError, match="only rate"):
        schedule_minutes("cron(0 12 * * ? *)")


# -- the handlers' metric contract ---------------------------------------------------------------------
def test_the_drift_count_is_what_the_drift_function_publishes():
    from functions.drift.publish import drift_metrics

    schema = load_schema(ROOT / "schemas" / "ai4i2020.schema.json")
    features = [
        {"name": c.name, "psi": 0.1, "ksStatistic": 0.2 if c.is_numeric else None}
        for c in (*schema.numeric_features, *schema.categorical_features)
    ]
    report = {
        "records": 500,
        "verdict": "drift",
        "driftDetected": True,
        "driftShare": 0.5,
        "predictionPsi": 0.2,
        "features": features,
    }
    published = drift_metrics(report, "model", datetime(2026, 1, 1, tzinfo=UTC))
    assert len({(d["MetricName"], json.dumps(d["Dimensions"])) for d in published}) == drift_metrics_per_run(schema)
    assert drift_metrics_per_run(schema) == 16
    assert drift_metrics_per_run(parse_schema(SCHEMA)) == 10


def test_the_quality_count_is_what_the_ground_truth_function_publishes():
    logic = pytest.importorskip("functions.groundtruth.logic")
    assert len(logic.METRICS) + 1 == QUALITY_METRICS_PER_LABEL_FILE  # + QualityDrop


# -- intrinsics ----------------------------------------------------------------------------------------
def test_resolve_evaluates_the_intrinsics_the_templates_use():
    here = Placement("cn-north-1", account="123456789012")
    assert here.partition == "aws-cn" and partition_of("us-gov-west-1") == "aws-us-gov"
    mappings = {"M": {"cn-north-1": {"k": "v"}}}
    assert resolve(join("a:", PARTITION, ":", {"Ref": "AWS::AccountId"}), here) == "a:aws-cn:123456789012"
    assert resolve({"Fn::FindInMap": ["M", REGION, "k"]}, here, mappings) == "v"
    assert resolve({"Fn::Sub": "x-${AWS::Region}"}, here) == "x-cn-north-1"
    assert resolve({"Fn::Sub": ["x-${AWS::Region}-${Name}", {"Name": "n"}]}, here) == "x-cn-north-1-n"
    assert resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}, here) == "b"
    assert resolve({"Key": [REGION]}, here) == {"Key": ["cn-north-1"]}
    for unresolvable in (
        {"Ref": "SomeBucket"},
        {"Fn::GetAtt": ["Fn", "Arn"]},
        {"Fn::FindInMap": ["M", "eu-west-1", "k"]},
        {"Fn::Sub": "${Bucket}"},
    ):
        with pytest.raises(Unresolvable):
            resolve(unresolvable, here, mappings)
    with pytest.raises(Unresolvable, match="needs the account"):
        resolve({"Ref": "AWS::AccountId"}, Placement("us-east-1"))


def test_render_leaves_tokens_that_name_their_resource():
    text = render(
        join(
            '{"R":"',
            {"Fn::GetAtt": ["Fn", "Arn"]},
            '","T":"',
            {"Ref": "Topic"},
            '","I":"',
            {"Fn::FindInMap": ["M", REGION, "k"]},
            '"}',
        )
    )
    parsed = json.loads(text)
    assert token_target(parsed["R"]) == "Fn" and token_target(parsed["T"]) == "Topic"
    assert parsed["I"] == "{{Fn::FindInMap}}" and token_target(parsed["I"]) is None
    assert token_target("arn:aws:states:::sns:publish") is None
