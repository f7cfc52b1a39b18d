"""CDK assertions on the synthesized stacks: what docs/ARCHITECTURE.md promises is in the templates."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra_helpers import PROJECT_ROOT, Synthesized, render

from infra.dataset import read_dataset_facts

# docs/ARCHITECTURE.md "Lambda functions": the environment each handler reads.
CONTRACT_ENV = {
    "trigger": {
        "STATE_MACHINE_ARN",
        "UPLOAD_PREFIX",
        "INCOMING_BUCKET",
        "CURATED_BUCKET",
        "ARTIFACTS_BUCKET",
        "DATASET_NAME",
        "RETRAIN_COOLDOWN_SECONDS",
        "DRIFT_ALARM_NAME",
        "QUALITY_ALARM_NAME",
        "RETRAIN_ON_ALARM",
    },
    "validate": {
        "SCHEMA_PATH",
        "CURATED_BUCKET",
        "QUARANTINE_BUCKET",
        "DATASET_NAME",
        "VALIDATION_MAP_THRESHOLD_BYTES",
        "VALIDATION_PART_BYTES",
        "VALIDATION_PARTS_PREFIX",
    },
    "champion": {"MODEL_PACKAGE_GROUP", "ENDPOINT_NAME"},
    "plan": {
        "CURATED_BUCKET",
        "ARTIFACTS_BUCKET",
        "DATASET_NAME",
        "TRAINING_WINDOW_MODE",
        "TRAINING_WINDOW_VALUE",
        "RETRAIN_ON_UPLOAD",
    },
    "evaluate": {"ARTIFACTS_BUCKET", "GATE_PRIMARY_METRIC", "GATE_THRESHOLDS", "GATE_MIN_IMPROVEMENT"},
    "register": {
        "MODEL_PACKAGE_GROUP",
        "INFERENCE_IMAGE_URI",
        "CODE_VERSION",
        "APPROVAL_MODE",
        "INFERENCE_PROGRAM",
        "STAGE",
    },
    "deploy": {"MODEL_PACKAGE_GROUP", "ENDPOINT_NAME", "INFERENCE_PROGRAM", "SOURCE_ARCHIVE_URL"},
    "drift": {
        "ENDPOINT_NAME",
        "ARTIFACTS_BUCKET",
        "CAPTURE_PREFIX",
        "METRIC_NAMESPACE",
        "MODEL_NAME",
        "DRIFT_WINDOW_MINUTES",
        "DRIFT_MIN_RECORDS",
        "DRIFT_ALPHA",
        "DRIFT_MIN_PSI",
        "DRIFT_MIN_KS",
    },
    "groundtruth": {
        "ARTIFACTS_BUCKET",
        "CAPTURE_PREFIX",
        "ENDPOINT_NAME",
        "INCOMING_BUCKET",
        "FEEDBACK_PREFIX",
        "CURATED_BUCKET",
        "QUARANTINE_BUCKET",
        "DATASET_NAME",
        "GROUND_TRUTH_LOOKBACK_HOURS",
        "QUALITY_METRIC",
        "QUALITY_MIN_LABELS",
        "QUALITY_METRIC_NAMESPACE",
        "MODEL_NAME",
    },
}
COMMON_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL", "SCHEMA_PATH"}
FLAT_PATH = re.compile(r"^\$(\.[A-Za-z][A-Za-z0-9_]*)+$")


def _env(synthesized: Synthesized, name: str) -> dict[str, str]:
    return {k: render(v) for k, v in synthesized.functions()[name]["Environment"]["Variables"].items()}


def _statements(synthesized: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for unit, logical_id, resource in synthesized.all_resources():
        properties = resource.get("Properties", {})
        documents = [properties.get("PolicyDocument")]
        documents += [p["PolicyDocument"] for p in properties.get("Policies", [])]
        for document in filter(None, documents):
            found.extend((f"{unit}/{logical_id}", statement) for statement in document["Statement"])
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _key_id(synthesized: Synthesized, unit: str, construct_prefix: str) -> str:
    """The logical ID of the stack's one KMS key whose construct ID starts with ``construct_prefix``."""
    (key_id,) = [k for k in synthesized.resources(unit, "AWS::KMS::Key") if k.startswith(construct_prefix)]
    return key_id


# --- Lambda -----------------------------------------------------------------------------------


def test_every_contract_function_exists_with_its_handler(synthesized: Synthesized) -> None:
    functions = synthesized.functions()
    assert len(functions) >= 4
    assert set(functions) == set(CONTRACT_ENV)
    runtime = synthesized.config.lambda_.runtime
    for name, properties in functions.items():
        assert properties["Handler"] == f"functions.{name}.handler.lambda_handler"
        assert properties["Runtime"] == runtime
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["MemorySize"] == synthesized.config.lambda_.memory_mb
        assert properties["Timeout"] == synthesized.config.lambda_.timeout_seconds
        assert "LogGroup" in properties["LoggingConfig"]


def test_functions_share_one_code_asset(synthesized: Synthesized) -> None:
    keys = {render(p["Code"]["S3Key"]) for p in synthesized.functions().values()}
    assert len(keys) == 1, keys


def test_layers_are_the_public_managed_layers(synthesized: Synthesized) -> None:
    # Layer ARNs differ per region (infra/data/lambda_layers.json): each stack holds them as a
    # mapping and every function picks its region's row, Powertools and (drift, groundtruth) the
    # AWS SDK for pandas, at the versions cdk.json pins.
    from infra.constructs.lambda_functions import layer_table

    config = synthesized.config.lambda_
    tag = config.python_tag
    table = layer_table(config)
    assert table.powertools["us-east-1"] == (
        f"arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-{tag}-x86_64:"
        f"{config.powertools_layer_version}"
    )
    assert table.sdk_pandas["us-east-1"] == (
        f"arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python{tag.removeprefix('python')}:"
        f"{config.pandas_layer_version}"
    )
    names = set()
    for unit in ("pipeline", "monitoring"):
        (name,) = [key for key, rows in synthesized.json[unit]["Mappings"].items() if "powertools" in rows["us-east-1"]]
        assert synthesized.json[unit]["Mappings"][name] == table.rows(), unit
        names.add(name)
    (mapping,) = names
    powertools = f"<FindInMap:{mapping}.<AWS::Region>.powertools>"
    pandas = f"<FindInMap:{mapping}.<AWS::Region>.sdkPandas>"
    for name, properties in synthesized.functions().items():
        layers = [render(layer) for layer in properties["Layers"]]
        assert layers == ([powertools, pandas] if name in {"drift", "groundtruth", "validate"} else [powertools]), name


def test_validate_has_ephemeral_storage_for_its_spilled_keys(synthesized: Synthesized) -> None:
    from infra.stacks.pipeline_stack import VALIDATE_EPHEMERAL_STORAGE_MIB

    for name, properties in synthesized.functions().items():
        size = properties.get("EphemeralStorage", {}).get("Size")
        assert size == (VALIDATE_EPHEMERAL_STORAGE_MIB if name == "validate" else None), name
    assert VALIDATE_EPHEMERAL_STORAGE_MIB > 512  # more than the default, within Lambda's 10 GiB


def test_environment_follows_the_contract(synthesized: Synthesized) -> None:
    for name, keys in CONTRACT_ENV.items():
        env = _env(synthesized, name)
        assert keys | COMMON_ENV <= set(env), (name, sorted(keys | COMMON_ENV - set(env)))
        assert env["SCHEMA_PATH"] == "schema.json"
        assert env["POWERTOOLS_SERVICE_NAME"] == name
    config = synthesized.config
    evaluate = _env(synthesized, "evaluate")
    assert json.loads(evaluate["GATE_THRESHOLDS"]) == dict(config.gate.thresholds)
    assert evaluate["GATE_PRIMARY_METRIC"] == config.gate.primary_metric
    assert float(evaluate["GATE_MIN_IMPROVEMENT"]) == config.gate.min_improvement > 0
    assert evaluate["ARTIFACTS_BUCKET"] == "mlops-artifacts-<AWS::AccountId>-<AWS::Region>"
    trigger = _env(synthesized, "trigger")
    assert trigger["RETRAIN_COOLDOWN_SECONDS"] == "3600"
    assert trigger["DRIFT_ALARM_NAME"] == config.alarm_name == "mlops-ai4i-failure-drift"
    assert trigger["QUALITY_ALARM_NAME"] == config.quality_alarm_name == "mlops-ai4i-failure-quality"
    assert trigger["RETRAIN_ON_ALARM"] == "true"
    plan = _env(synthesized, "plan")
    assert (plan["TRAINING_WINDOW_MODE"], int(plan["TRAINING_WINDOW_VALUE"])) == (
        config.training.window.mode,
        config.training.window.value,
    )
    assert plan["RETRAIN_ON_UPLOAD"] == "true"
    ground_truth = _env(synthesized, "groundtruth")
    assert ground_truth["QUALITY_METRIC_NAMESPACE"] == ground_truth["POWERTOOLS_METRICS_NAMESPACE"] == "MLOps/Quality"
    assert ground_truth["QUALITY_METRIC"] == config.quality.metric
    assert ground_truth["INCOMING_BUCKET"] == "mlops-incoming-<AWS::AccountId>-<AWS::Region>"
    assert trigger["UPLOAD_PREFIX"] == config.upload_prefix
    assert trigger["INCOMING_BUCKET"] == "mlops-incoming-<AWS::AccountId>-<AWS::Region>"
    assert trigger["DATASET_NAME"] == "ai4i2020"
    assert trigger["STATE_MACHINE_ARN"].startswith("<PipelineStateMachine")
    drift = _env(synthesized, "drift")
    assert drift["CAPTURE_PREFIX"] == "datacapture/"
    assert drift["METRIC_NAMESPACE"] == drift["POWERTOOLS_METRICS_NAMESPACE"] == "MLOps/Drift"
    assert float(drift["DRIFT_ALPHA"]) == config.drift.alpha
    assert int(drift["DRIFT_MIN_RECORDS"]) == config.drift.min_records
    assert int(drift["DRIFT_WINDOW_MINUTES"]) == config.drift.window_minutes
    assert _env(synthesized, "validate")["POWERTOOLS_METRICS_NAMESPACE"] == "MLOps/Pipeline"
    assert _env(synthesized, "register")["INFERENCE_IMAGE_URI"].startswith("<FindInMap:")


def test_log_groups_have_retention(synthesized: Synthesized) -> None:
    for unit in ("pipeline", "monitoring"):
        for resource in synthesized.resources(unit, "AWS::Logs::LogGroup").values():
            assert resource["Properties"]["RetentionInDays"] > 0


def test_log_groups_are_encrypted_with_the_stack_log_key(synthesized: Synthesized) -> None:
    """One rotating customer-managed key per stack; CloudWatch Logs may use it for this account's groups only."""
    for unit in ("pipeline", "monitoring"):
        key_id = _key_id(synthesized, unit, "LogEncryptionKey")
        key = synthesized.resources(unit, "AWS::KMS::Key")[key_id]
        assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
        groups = synthesized.resources(unit, "AWS::Logs::LogGroup").values()
        assert groups and all(g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]} for g in groups)
        (logs,) = [
            s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid", "").startswith("AllowCloudWatchLogs")
        ]
        assert render(logs["Principal"]["Service"]) == "logs.<AWS::Region>.amazonaws.com"
        assert logs["Condition"] == {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":logs:",
                            {"Ref": "AWS::Region"},
                            ":",
                            {"Ref": "AWS::AccountId"},
                            ":log-group:*",
                        ],
                    ]
                }
            }
        }
        assert not any("*" in action for action in _as_list(logs["Action"]))


# --- state machine ----------------------------------------------------------------------------


def test_state_machine_has_the_contract_states(definition: dict[str, Any]) -> None:
    states = definition["States"]
    # A run started with {"deploy": {"modelPackageArn"}} (an approval, a rollback) only deploys.
    assert definition["StartAt"] == "DeployOnly?"
    (deploy_only,) = states["DeployOnly?"]["Choices"]
    assert deploy_only == {"Variable": "$.deploy.modelPackageArn", "IsPresent": True, "Next": "AcquireDeploymentLock"}
    assert states["DeployOnly?"]["Default"] == "Validate"
    expected = {
        "Validate",
        "ResolveChampion",
        "PlanTraining",
        "Train?",
        "NotRetrained",
        "HasChampion?",
        "TrainWithChampion",
        "Train",
        "Evaluate",
        "Register",
        "Approved?",
        "NotifyRejected",
        "ModelRejected",
        "DeployChallenger",
        "AcquireDeploymentLock",
        "DecideDeployment",
        "CreateModel",
        "CreateEndpointConfig",
        "UpdateEndpoint",
        "CreateEndpoint",
        "DeleteFailedEndpoint",
        "DescribeEndpoint",
        "EndpointInService?",
        "WaitForEndpoint",
        "MarkServing",
        "ReleaseDeploymentLock",
        "Deployed",
        "Superseded",
        "AlreadyServing",
        "ModelNotApproved",
        "DeploymentFailed",
        "NotifyFailure",
        "PipelineFailed",
    }
    assert expected <= set(states)
    assert states["ModelRejected"]["Type"] == "Succeed"
    assert states["ResolveChampion"]["Next"] == "PlanTraining"
    assert states["PlanTraining"]["Next"] == "Train?" and states["PlanTraining"]["ResultPath"] == "$.plan"
    assert states["NotRetrained"]["Type"] == "Succeed"
    (train_when,) = states["Train?"]["Choices"]
    assert train_when == {"Variable": "$.plan.train", "BooleanEquals": True, "Next": "PublishSourceArchive"}
    assert states["Train?"]["Default"] == "NotRetrained"
    for name in ("Deployed", "Superseded", "AlreadyServing"):
        assert states[name]["Type"] == "Succeed"
    assert states["PipelineFailed"]["Type"] == states["DeploymentFailed"]["Type"] == "Fail"
    # The execution fails with the original error, e.g. DataValidationError and its message.
    assert states["PipelineFailed"]["ErrorPath"] == "$.error.Error"
    assert states["PipelineFailed"]["CausePath"] == "$.error.Cause"
    # ... and a deployment with what it came to: DeploymentRolledBack, EndpointFailed.
    assert states["DeploymentFailed"]["ErrorPath"] == "$.result.error"
    assert states["RecordRolledBack"]["Parameters"]["error"] == "DeploymentRolledBack"
    assert states["RecordEndpointFailed"]["Parameters"]["error"] == "EndpointFailed"
    assert states["NotifyFailure"]["Next"] == "PipelineFailed"
    assert states["NotifyFailure"]["Resource"].endswith(":states:::sns:publish")


# Tasks that run while the deployment lock is held release it before the failure path.
LOCK_HELD_CATCH = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReleaseDeploymentLockAfterError"}
FAILURE_CATCH = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}


def _reachable(states: dict[str, Any], start: str) -> set[str]:
    """States reachable from ``start`` through Next, Choices and Default (Catch edges excluded)."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        todo.extend(c["Next"] for c in state.get("Choices", []))
        todo.extend(state[k] for k in ("Next", "Default") if k in state)
    return seen


def test_every_task_retries_transient_errors_and_ends_in_a_named_failure(definition: dict[str, Any]) -> None:
    states = definition["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert len(tasks) >= 20
    held = _reachable(states, "DeploymentLockHeld") - {
        "ReleaseDeploymentLock",
        "NotifyDeployed",
        "NotifyDeploymentFailed",
    }
    for name, state in tasks.items():
        assert state.get("Retry"), f"{name} has no Retry"
        if name == "NotifyFailure":
            assert "Catch" not in state  # the failure path cannot catch into itself
            continue
        retried = {error for retry in state["Retry"] for error in retry["ErrorEquals"]}
        assert "Lambda.TooManyRequestsException" in retried and "ThrottlingException" in retried
        assert "TransientServiceError" in retried  # a function's own AWS call throttled past the SDK
        backoff = next(r for r in state["Retry"] if "TransientServiceError" in r["ErrorEquals"])
        assert backoff["BackoffRate"] > 1 and backoff["IntervalSeconds"] >= 1 and backoff["MaxAttempts"] >= 2
        assert not retried & {"States.ALL", "States.TaskFailed", "DataValidationError"}, name
        last = state["Catch"][-1]
        if name in held:
            assert state["Catch"] == [LOCK_HELD_CATCH], name
        elif name == "ReleaseDeploymentLockAfterError":
            assert last == {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "NotifyFailure"}
        elif name in {"ReleaseDeploymentLock", "NotifyDeployed", "NotifyDeploymentFailed"}:
            # A release or a notice that fails must not change the outcome it reports.
            assert last["ErrorEquals"] == ["States.ALL"] and last["Next"] == state["Next"], name
        else:
            assert last == FAILURE_CATCH, name
    # The lock's own loop: a held lock is read, its holder asked, waited for or taken over.
    assert states["AcquireDeploymentLock"]["Catch"][0] == {
        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
        "ResultPath": None,
        "Next": "ReadDeploymentLock",
    }
    assert states["ReleaseDeploymentLockAfterError"]["Next"] == "NotifyFailure"


def test_choices_read_flat_paths_only(definition: dict[str, Any]) -> None:
    choices = {name: state for name, state in definition["States"].items() if state["Type"] == "Choice"}
    assert set(choices) >= {
        "DeployOnly?",
        "ValidationMap?",
        "Train?",
        "HasChampion?",
        "Approved?",
        "DeploymentLockHeld?",
        "LockHolderRunning?",
        "DeploymentAction?",
        "CreateOrUpdate?",
        "EndpointInService?",
        "ReplacedAnother?",
        "DeploymentOutcome?",
    }

    def variables(rule: dict[str, Any]) -> list[str]:
        nested = [v for key in ("And", "Or") for sub in rule.get(key, []) for v in variables(sub)]
        found = [rule["Variable"]] if "Variable" in rule else []
        found += [rule[k] for k in rule if k.endswith("Path") and isinstance(rule[k], str)]
        return found + nested + (variables(rule["Not"]) if "Not" in rule else [])

    paths = {path for state in choices.values() for rule in state["Choices"] for path in variables(rule)}
    contract = {
        "$.validation.mode",
        "$.plan.train",
        "$.champion.found",
        "$.evaluation.approved",
        "$.decision.action",
        "$.endpoint.EndpointStatus",
        "$.result.outcome",
    }
    assert contract <= paths
    assert all(FLAT_PATH.match(path) for path in paths), paths
    assert choices["HasChampion?"]["Default"] == "Train"
    assert choices["HasChampion?"]["Choices"][0]["Next"] == "TrainWithChampion"
    assert choices["Approved?"]["Default"] == "NotifyRejected"
    assert choices["Approved?"]["Choices"][0]["Next"] == "DeployChallenger"  # this stage approves automatically
    assert choices["EndpointInService?"]["Default"] == "WaitForEndpoint"
    assert choices["ValidationMap?"]["Default"] == "ResolveChampion"
    assert choices["ValidationMap?"]["Choices"][0]["Next"] == "ValidateParts"
    actions = {c["StringEquals"]: c["Next"] for c in choices["DeploymentAction?"]["Choices"]}
    assert actions == {"wait": "WaitForEndpointChange", "delete": "DeleteFailedEndpoint", "skip": "RecordSkipped"}
    assert choices["DeploymentAction?"]["Default"] == "CreateModel"


@pytest.mark.parametrize("state_name", ["Train", "TrainWithChampion"])
def test_training_jobs_run_synchronously_in_script_mode(
    definition: dict[str, Any], synthesized: Synthesized, state_name: str
) -> None:
    state = definition["States"][state_name]
    assert state["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    assert state["ResultPath"] == "$.training"
    assert state["ResultSelector"] == {
        "jobName.$": "$.TrainingJobName",
        "modelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
    }
    assert state["Next"] == "Evaluate"
    parameters = state["Parameters"]
    # one job per attempt: a retried .sync state creates its job again, and a job name is unique
    assert parameters["TrainingJobName.$"] == "States.Format('train-{}-{}', $$.Execution.Name, $$.State.RetryCount)"
    assert parameters["AlgorithmSpecification"]["TrainingImage"].endswith(".trainingImage>")
    assert (
        parameters["OutputDataConfig"]["S3OutputPath"]
        == "s3://mlops-artifacts-<AWS::AccountId>-<AWS::Region>/training/"
    )
    hyperparameters = parameters["HyperParameters"]
    assert json.loads(hyperparameters["sagemaker_program"]) == "pipelines/train.py"
    # The artifacts bucket's copy of the source archive, which no `cdk gc` removes.
    assert re.fullmatch(
        r"s3://mlops-artifacts-<AWS::AccountId>-<AWS::Region>/code/[0-9a-f]{64}/sourcedir.tar.gz",
        hyperparameters["sagemaker_submit_directory"],
    )
    assert hyperparameters["sagemaker_region"] == "<AWS::Region>"
    for key, value in synthesized.config.training.hyperparameters.items():
        assert hyperparameters[key] == value
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in parameters["InputDataConfig"]}
    # Exactly the window's batches (a SageMaker manifest), and the plan that says which the champion saw.
    assert channels["train"]["S3Uri.$"] == "$.plan.manifestUri"
    assert channels["train"]["S3DataType"] == "ManifestFile"
    assert channels["plan"]["S3Uri.$"] == "$.plan.planPrefixUri"
    assert channels["plan"]["S3DataType"] == "S3Prefix"
    if state_name == "TrainWithChampion":
        assert channels["champion"]["S3Uri.$"] == "$.champion.modelDataUrl"
    else:
        assert set(channels) == {"train", "plan"}
    assert parameters["ResourceConfig"]["InstanceType"] == synthesized.config.training.instance_type
    assert parameters["StoppingCondition"]["MaxRuntimeInSeconds"] == synthesized.config.training.max_runtime_seconds


def test_each_training_run_first_copies_the_source_archive_out_of_the_asset_bucket(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]
    assert states["Train?"]["Choices"][0]["Next"] == "PublishSourceArchive"
    publish = states["PublishSourceArchive"]
    assert publish["Resource"].endswith(":states:::aws-sdk:s3:copyObject") and publish["Next"] == "HasChampion?"
    parameters = publish["Parameters"]
    assert parameters["CopySource"].startswith("cdk-") and parameters["CopySource"].endswith(".gz")  # the asset
    assert parameters["Bucket"] == "mlops-artifacts-<AWS::AccountId>-<AWS::Region>"
    copy = f"s3://{parameters['Bucket']}/{parameters['Key']}"
    assert copy == states["Train"]["Parameters"]["HyperParameters"]["sagemaker_submit_directory"]


def test_lambda_tasks_pass_plain_payloads(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name, result_path in {
        "Validate": "$.validation",
        "ResolveChampion": "$.champion",
        "Evaluate": "$.evaluation",
        "Register": "$.registration",
    }.items():
        # payload_response_only: the function ARN itself is the resource, the result is the plain dict.
        assert re.match(r"^<\w+Function\w+\.Arn>$", states[name]["Resource"]), states[name]["Resource"]
        assert states[name]["ResultPath"] == result_path
    assert states["Evaluate"]["InputPath"] == "$.training" and "Parameters" not in states["Evaluate"]
    # Parameters, when present, are payload templates (objects), never bare paths.
    assert all(isinstance(state.get("Parameters", {}), dict) for state in states.values())
    register = states["Register"]["Parameters"]
    assert register["executionArn.$"] == "$$.Execution.Id"
    assert {"reason.$", "data.$", "validation.$", "training.$", "evaluation.$"} <= set(register)


def test_deployment_creates_a_captured_endpoint_from_the_registry(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    states = definition["States"]
    assert states["DeployChallenger"]["Parameters"] == {"modelPackageArn.$": "$.registration.modelPackageArn"}
    decide = states["DecideDeployment"]
    assert decide["Parameters"] == {"modelPackageArn.$": "$.deploy.modelPackageArn", "reason.$": "$.reason"}
    # The model comes from the package's registry entry, whichever run or person chose it.
    model = states["CreateModel"]["Parameters"]
    assert model["ModelName.$"] == "States.Format('model-{}', $$.Execution.Name)"
    assert model["PrimaryContainer"] == {
        "Image.$": "$.decision.challenger.image",
        "ModelDataUrl.$": "$.decision.challenger.modelDataUrl",
        "Environment.$": "$.decision.challenger.environment",
    }

    config_state = states["CreateEndpointConfig"]
    assert config_state["Resource"] == "arn:<AWS::Partition>:states:::sagemaker:createEndpointConfig"
    parameters = config_state["Parameters"]
    (variant,) = parameters["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["InstanceType"] == synthesized.config.serving.instance_type
    assert variant["InitialInstanceCount"] == synthesized.config.serving.initial_instance_count
    capture = parameters["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == synthesized.config.serving.capture_sampling_percentage
    assert capture["DestinationS3Uri"] == "s3://mlops-artifacts-<AWS::AccountId>-<AWS::Region>/datacapture"
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert capture["CaptureContentTypeHeader"] == {
        "CsvContentTypes": ["text/csv"],
        "JsonContentTypes": ["application/json"],
    }
    for name in ("UpdateEndpoint", "CreateEndpoint"):
        assert states[name]["Parameters"]["EndpointName"] == synthesized.config.endpoint_name
        assert states[name]["Next"] == "DescribeEndpoint"
    assert states["DescribeEndpoint"]["Resource"].endswith(":states:::aws-sdk:sagemaker:describeEndpoint")
    assert states["DeleteFailedEndpoint"]["Resource"].endswith(":states:::aws-sdk:sagemaker:deleteEndpoint")
    assert states["DeleteFailedEndpoint"]["Next"] == "WaitForEndpointChange"
    assert states["WaitForEndpoint"] == {
        "Type": "Wait",
        "Seconds": synthesized.config.serving.endpoint_poll_seconds,
        "Next": "DescribeEndpoint",
    }


def test_update_endpoint_is_blue_green_with_rollback_alarms(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    deployment = synthesized.config.serving.deployment
    config = definition["States"]["UpdateEndpoint"]["Parameters"]["DeploymentConfig"]
    policy = config["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == deployment.mode
    assert policy["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"] == deployment.wait_seconds
    assert policy["TerminationWaitInSeconds"] == deployment.termination_wait_seconds
    assert policy["MaximumExecutionTimeoutInSeconds"] == deployment.maximum_execution_timeout_seconds
    names = [alarm["AlarmName"] for alarm in config["AutoRollbackConfiguration"]["Alarms"]]
    prefix = f"{synthesized.config.prefix}-{synthesized.config.model_name}"
    assert names == [f"{prefix}-5xx", f"{prefix}-model-errors", f"{prefix}-latency"]
    # ... each a CloudWatch alarm in this stack on this endpoint's variant.
    alarms = {
        r["Properties"].get("AlarmName"): r["Properties"]
        for r in synthesized.resources("pipeline", "AWS::CloudWatch::Alarm").values()
    }
    metrics = {}
    for name in names:
        alarm = alarms[name]
        assert alarm["Namespace"] == "AWS/SageMaker"
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            "EndpointName": synthesized.config.endpoint_name,
            "VariantName": "AllTraffic",
        }
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["TreatMissingData"] == "notBreaching"
        metrics[alarm["MetricName"]] = alarm["Threshold"]
    assert metrics == {
        "Invocation5XXErrors": 0,
        "InvocationModelErrors": 0,
        "ModelLatency": deployment.rollback_alarms.max_model_latency_ms * 1000,
    }


def test_the_deployment_lock_is_a_dynamodb_item_taken_natively(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    states = definition["States"]
    (table_id,) = synthesized.resources("pipeline", "AWS::DynamoDB::Table")
    acquire = states["AcquireDeploymentLock"]
    assert acquire["Resource"] == "arn:<AWS::Partition>:states:::dynamodb:putItem"
    assert acquire["Parameters"]["TableName"] == f"<{table_id}>"
    assert acquire["Parameters"]["ConditionExpression"] == "attribute_not_exists(pk) OR #owner = :me"
    assert acquire["Parameters"]["Item"]["owner"] == {"S.$": "$$.Execution.Id"}
    assert acquire["Parameters"]["Item"]["pk"] == {"S": synthesized.config.endpoint_name}
    # Held by a live execution: wait and try again; by an ended one: take it over.
    assert states["DescribeLockHolder"]["Resource"].endswith(":states:::aws-sdk:sfn:describeExecution")
    running = states["LockHolderRunning?"]
    assert running["Choices"][0]["Next"] == "WaitForDeploymentLock"
    assert running["Default"] == "TakeOverDeploymentLock"
    assert states["TakeOverDeploymentLock"]["Parameters"]["ConditionExpression"] == "#owner = :stale"
    assert states["WaitForDeploymentLock"]["Next"] == "AcquireDeploymentLock"
    for release in ("ReleaseDeploymentLock", "ReleaseDeploymentLockAfterError"):
        assert states[release]["Resource"] == "arn:<AWS::Partition>:states:::dynamodb:deleteItem"
        assert states[release]["Parameters"]["ConditionExpression"] == "#owner = :me"
    # Every way out of the held section passes a release.
    held = _reachable(states, "DeploymentLockHeld")
    terminal = {name for name in held if states[name]["Type"] in {"Succeed", "Fail"}}
    assert terminal == {"Deployed", "Superseded", "AlreadyServing", "ModelNotApproved", "DeploymentFailed"}
    assert "ReleaseDeploymentLock" in held and _reachable(states, "ReleaseDeploymentLock") >= terminal


def test_the_registry_marks_the_serving_version(definition: dict[str, Any]) -> None:
    states = definition["States"]
    mark = states["MarkServing"]["Parameters"]
    assert mark["ModelPackageArn.$"] == "$.decision.challenger.modelPackageArn"
    assert mark["CustomerMetadataProperties"]["serving"] == "true"
    unmark = states["UnmarkReplaced"]["Parameters"]
    assert unmark["ModelPackageArn.$"] == "$.decision.serving.modelPackageArn"
    assert unmark["CustomerMetadataProperties"]["serving"] == "false"


def test_state_machine_logs_and_traces(synthesized: Synthesized) -> None:
    synthesized.templates["pipeline"].has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "mlops-pipeline",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": False}),
        },
    )


# --- events -----------------------------------------------------------------------------------


def _rules(synthesized: Synthesized, unit: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in synthesized.resources(unit, "AWS::Events::Rule").values()]


def test_upload_rule_matches_object_created_under_the_prefix(synthesized: Synthesized) -> None:
    (rule,) = _rules(synthesized, "pipeline")
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert [render(n) for n in pattern["detail"]["bucket"]["name"]] == ["mlops-incoming-<AWS::AccountId>-<AWS::Region>"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": synthesized.config.upload_prefix}]
    (target,) = rule["Targets"]
    assert render(target["Arn"]).startswith("<TriggerFunction")
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] > 0


@pytest.mark.parametrize("alarm", ["drift", "quality"])
def test_alarm_state_change_starts_a_retraining(synthesized: Synthesized, alarm: str) -> None:
    name = synthesized.config.alarm_name if alarm == "drift" else synthesized.config.quality_alarm_name
    (alarm_id,) = [
        logical_id
        for logical_id, resource in synthesized.resources("monitoring", "AWS::CloudWatch::Alarm").items()
        if resource["Properties"].get("AlarmName") == name
    ]
    alarm_rules = [
        r
        for r in _rules(synthesized, "monitoring")
        if r.get("EventPattern", {}).get("resources") == [{"Fn::GetAtt": [alarm_id, "Arn"]}]
    ]
    (alarm_rule,) = alarm_rules
    pattern = alarm_rule["EventPattern"]
    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    (target,) = alarm_rule["Targets"]
    assert "TriggerFunction" in render(target["Arn"]) and "DeadLetterConfig" in target


def _schedule_minutes(rule: dict[str, Any]) -> int:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", rule["ScheduleExpression"])
    assert match, rule["ScheduleExpression"]
    return int(match[1]) * {"minute": 1, "hour": 60, "day": 1440}[match[2].removesuffix("s")]


def test_drift_check_and_recheck_run_on_their_configured_schedules(synthesized: Synthesized) -> None:
    schedules = {
        render(rule["Targets"][0]["Arn"]).split(".")[0]: rule
        for rule in _rules(synthesized, "monitoring")
        if "ScheduleExpression" in rule
    }
    (drift,) = [rule for target, rule in schedules.items() if "DriftFunction" in target]
    assert _schedule_minutes(drift) == synthesized.config.drift.schedule_minutes
    (recheck,) = [rule for target, rule in schedules.items() if "TriggerFunction" in target]
    assert _schedule_minutes(recheck) == synthesized.config.retraining.recheck_minutes
    (target,) = recheck["Targets"]
    assert json.loads(target["Input"]) == {"reason": "recheck"} and "DeadLetterConfig" in target


def test_ground_truth_files_wake_the_ground_truth_function(synthesized: Synthesized) -> None:
    (rule,) = [r for r in _rules(synthesized, "monitoring") if r.get("EventPattern", {}).get("source") == ["aws.s3"]]
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert [render(n) for n in pattern["detail"]["bucket"]["name"]] == ["mlops-incoming-<AWS::AccountId>-<AWS::Region>"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": synthesized.config.ground_truth.prefix}]
    (target,) = rule["Targets"]
    assert "GroundTruthFunction" in render(target["Arn"]) and "DeadLetterConfig" in target


def test_no_custom_resource_for_bucket_notifications(synthesized: Synthesized) -> None:
    types = {resource["Type"] for _, _, resource in synthesized.all_resources()}
    assert not [t for t in types if t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource"]


# --- buckets, topic, queues -------------------------------------------------------------------


def test_buckets_are_private_encrypted_versioned_logged_and_retained(synthesized: Synthesized) -> None:
    buckets = synthesized.resources("data", "AWS::S3::Bucket")
    names = {render(b["Properties"]["BucketName"]): logical_id for logical_id, b in buckets.items()}
    kinds = ("incoming", "curated", "quarantine", "artifacts", "access-logs")
    assert set(names) == {f"mlops-{kind}-<AWS::AccountId>-<AWS::Region>" for kind in kinds}
    logs_id = names["mlops-access-logs-<AWS::AccountId>-<AWS::Region>"]
    for logical_id, bucket in buckets.items():
        properties = bucket["Properties"]
        assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        if logical_id != logs_id:
            assert properties["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    incoming = buckets[names["mlops-incoming-<AWS::AccountId>-<AWS::Region>"]]["Properties"]
    assert incoming["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_every_bucket_and_queue_denies_plain_http(synthesized: Synthesized) -> None:
    tls_only = {
        "Effect": "Deny",
        "Action": Match.any_value(),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Principal": Match.any_value(),
        "Resource": Match.any_value(),
    }
    for unit, resource_type, policy_type, key in (
        ("data", "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "Bucket"),
        ("pipeline", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues"),
        ("monitoring", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues"),
    ):
        owners = set(synthesized.resources(unit, resource_type))
        protected = set()
        for policy in synthesized.resources(unit, policy_type).values():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            if any(s["Effect"] == "Deny" and s.get("Condition") == tls_only["Condition"] for s in statements):
                targets = _as_list(policy["Properties"][key])
                protected |= {t["Ref"] for t in targets}
        assert owners == protected, (unit, owners - protected)
        synthesized.templates[unit].has_resource_properties(
            policy_type, {"PolicyDocument": {"Statement": Match.array_with([Match.object_like(tls_only)])}}
        )


def test_dead_letter_queues_are_encrypted_and_alarmed(synthesized: Synthesized) -> None:
    for unit in ("pipeline", "monitoring"):
        queues = synthesized.resources(unit, "AWS::SQS::Queue")
        assert queues
        for queue in queues.values():
            assert queue["Properties"]["SqsManagedSseEnabled"] is True
        watched = {
            d["Value"]["Fn::GetAtt"][0]
            for alarm in synthesized.resources(unit, "AWS::CloudWatch::Alarm").values()
            if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
            for d in alarm["Properties"]["Dimensions"]
        }
        assert watched == set(queues), unit


def test_failed_async_invocations_are_parked_not_dropped(synthesized: Synthesized) -> None:
    configs = {}
    for unit in ("pipeline", "monitoring"):
        for config in synthesized.resources(unit, "AWS::Lambda::EventInvokeConfig").values():
            properties = config["Properties"]
            name = render(properties["FunctionName"])
            configs[name] = properties["DestinationConfig"]["OnFailure"]["Destination"]
    # trigger (uploads, alarms, rechecks), drift (schedule) and groundtruth (label files)
    assert len(configs) == 3
    assert all(destination["Fn::GetAtt"][1] == "Arn" for destination in configs.values())


def test_topic_is_encrypted_with_a_rotating_customer_key(synthesized: Synthesized) -> None:
    template = synthesized.templates["pipeline"]
    key_id = _key_id(synthesized, "pipeline", "NotificationsKey")
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::Topic", {"TopicName": "mlops-notifications", "KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                        Match.object_like(
                            {"Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish"}
                        ),
                    ]
                )
            }
        },
    )


def test_model_package_group_is_named_after_the_model(synthesized: Synthesized) -> None:
    synthesized.templates["pipeline"].has_resource_properties(
        "AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": synthesized.config.model_name}
    )


# --- IAM --------------------------------------------------------------------------------------


def test_no_allow_statement_grants_every_action(synthesized: Synthesized) -> None:
    for where, statement in _statements(synthesized):
        if statement["Effect"] != "Allow":
            continue
        for action in _as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), (where, action)


def test_roles_use_no_aws_managed_policies(synthesized: Synthesized) -> None:
    for unit, logical_id, resource in synthesized.all_resources():
        if resource["Type"] == "AWS::IAM::Role":
            assert "ManagedPolicyArns" not in resource["Properties"], f"{unit}/{logical_id}"


def test_pass_role_is_scoped_to_the_sagemaker_role(synthesized: Synthesized) -> None:
    (role_id,) = [
        logical_id
        for logical_id, role in synthesized.resources("pipeline", "AWS::IAM::Role").items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "sagemaker.amazonaws.com"}
    ]
    pass_role = [s for _, s in _statements(synthesized) if "iam:PassRole" in _as_list(s["Action"])]
    assert pass_role
    for statement in pass_role:
        assert statement["Action"] == "iam:PassRole"
        assert statement["Resource"] == {"Fn::GetAtt": [role_id, "Arn"]}
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_sagemaker_role_reads_and_writes_only_its_prefixes(synthesized: Synthesized) -> None:
    (policy,) = [
        p
        for logical_id, p in synthesized.resources("pipeline", "AWS::IAM::Policy").items()
        if logical_id.startswith("SageMakerExecution")
    ]
    grants: dict[str, set[str]] = {}
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, set()).update(render(r) for r in _as_list(statement["Resource"]))
    artifacts = "arn:<AWS::Partition>:s3:::mlops-artifacts-<AWS::AccountId>-<AWS::Region>"
    assert grants["s3:PutObject"] == {f"{artifacts}/training/*", f"{artifacts}/datacapture/*"}
    curated = "arn:<AWS::Partition>:s3:::mlops-curated-<AWS::AccountId>-<AWS::Region>"
    assert f"{curated}/snapshots/*" in grants["s3:GetObject"]
    assert all("repository/sagemaker-scikit-learn" in r for r in grants["ecr:BatchGetImage"])
    assert "s3:DeleteObject" not in grants


def test_custom_endpoint_config_state_has_its_own_grant(synthesized: Synthesized) -> None:
    """CDK adds no policy for a CustomState: the CreateEndpointConfig permission is explicit."""
    statements = [
        s for where, s in _statements(synthesized) if where.startswith("pipeline/PipelineStateMachineRoleDefaultPolicy")
    ]
    granted = [render(s["Resource"]) for s in statements if "sagemaker:CreateEndpointConfig" in _as_list(s["Action"])]
    assert granted == ["arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint-config/config-*"]


def test_state_machine_can_encrypt_for_the_topic(synthesized: Synthesized) -> None:
    key_id = _key_id(synthesized, "pipeline", "NotificationsKey")
    statements = [
        s for where, s in _statements(synthesized) if where.startswith("pipeline/PipelineStateMachineRoleDefaultPolicy")
    ]
    assert any(
        set(_as_list(s["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
        and s["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
        for s in statements
    )


# --- monitoring -------------------------------------------------------------------------------


def test_drift_alarm_follows_the_config(synthesized: Synthesized) -> None:
    alarm = synthesized.config.drift.alarm
    outputs = synthesized.json["pipeline"]["Outputs"].values()
    (topic_import,) = [v for v in outputs if v.get("Export") and "Notifications" in json.dumps(v)]
    synthesized.templates["monitoring"].has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "mlops-ai4i-failure-drift",
            "Namespace": "MLOps/Drift",
            "MetricName": "DriftDetected",
            "Dimensions": [{"Name": "Model", "Value": "ai4i-failure"}],
            "Statistic": "Maximum",
            "Period": alarm.period_seconds,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm,
            "Threshold": alarm.threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Fn::ImportValue": topic_import["Export"]["Name"]}],
        },
    )


def test_quality_alarm_watches_the_drop_below_the_champion(synthesized: Synthesized) -> None:
    quality = synthesized.config.quality
    synthesized.templates["monitoring"].has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "mlops-ai4i-failure-quality",
            "Namespace": quality.metric_namespace,
            "MetricName": "QualityDrop",
            "Dimensions": [{"Name": "Model", "Value": "ai4i-failure"}],
            "Statistic": "Maximum",
            "Period": quality.alarm.period_seconds,
            "EvaluationPeriods": quality.alarm.evaluation_periods,
            "DatapointsToAlarm": quality.alarm.datapoints_to_alarm,
            "Threshold": quality.tolerance,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": Match.any_value(),
        },
    )


def test_ground_truth_function_may_publish_only_quality_metrics(synthesized: Synthesized) -> None:
    namespaces = [
        statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
        for where, statement in _statements(synthesized)
        if "GroundTruth" in where and "cloudwatch:PutMetricData" in _as_list(statement["Action"])
    ]
    assert namespaces == [synthesized.config.quality.metric_namespace]


def test_dashboard_shows_drift_per_feature_runs_and_serving(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.resources("monitoring", "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "mlops-ai4i-failure"
    body = render(dashboard["Properties"]["DashboardBody"])
    for feature in read_dataset_facts(synthesized.config.schema_path(PROJECT_ROOT)).features:
        assert json.dumps(feature)[1:-1] in body, feature
    for needle in (
        "FeaturePSI",
        "DriftDetected",
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "Invocations",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
        "AllTraffic",
        "AWS/SageMaker",
        "AWS/States",
    ):
        assert needle in body, needle


# --- images and outputs -----------------------------------------------------------------------


def test_images_are_mapped_per_region(synthesized: Synthesized) -> None:
    # The pipeline stack also maps the Lambda layers per region (test_layers_are_the_public_managed_layers).
    (mapping,) = [m for m in synthesized.json["pipeline"]["Mappings"].values() if "trainingImage" in m["us-east-1"]]
    assert len(mapping) >= 20
    row = mapping["us-east-1"]
    version = synthesized.config.training.framework_version
    registry = "683313688378.dkr.ecr.us-east-1.amazonaws.com"
    assert row["trainingImage"] == f"{registry}/sagemaker-scikit-learn:{version}-cpu-py3"
    assert row["inferenceImage"].endswith(f"sagemaker-scikit-learn:{version}-cpu-py3")


@pytest.mark.parametrize(
    ("unit", "names"),
    [
        ("data", {"IncomingBucketName", "CuratedBucketName", "QuarantineBucketName", "ArtifactsBucketName"}),
        (
            "pipeline",
            {
                "StateMachineArn",
                "NotificationsTopicArn",
                "ModelPackageGroupName",
                "EndpointName",
                "TriggerFunctionName",
                "ValidateFunctionName",
                "ChampionFunctionName",
                "EvaluateFunctionName",
                "RegisterFunctionName",
                "SageMakerRoleArn",
                "PlanFunctionName",
            },
        ),
        (
            "monitoring",
            {
                "DriftFunctionName",
                "DriftAlarmName",
                "DashboardName",
                "GroundTruthFunctionName",
                "GroundTruthRuleName",
                "QualityAlarmName",
                "RecheckScheduleRuleName",
            },
        ),
    ],
)
def test_outputs_have_stable_export_free_names(synthesized: Synthesized, unit: str, names: set[str]) -> None:
    outputs = synthesized.json[unit]["Outputs"]
    assert names <= set(outputs)
    assert all("Export" not in outputs[name] for name in names)


def test_large_and_manifest_uploads_are_validated_by_a_distributed_map(definition: dict[str, Any]) -> None:
    """docs/ARCHITECTURE.md "Validation beyond one function": map items are parts, then one reduce."""
    parts = definition["States"]["ValidateParts"]
    assert parts["Type"] == "Map" and parts["ItemsPath"] == "$.validation.items"
    assert parts["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert parts["ItemSelector"]["action"] == "part" and parts["ItemSelector"]["item.$"] == "$$.Map.Item.Value"
    assert parts["MaxConcurrency"] == 8  # cdk.json mlops.validation.maxConcurrency
    assert parts["ResultPath"] is None  # the reduce reads the partial results from S3
    assert parts["Next"] == "ReduceValidation"
    reduce = definition["States"]["ReduceValidation"]
    assert reduce["Parameters"]["action"] == "reduce" and reduce["ResultPath"] == "$.validation"
    [part] = parts["ItemProcessor"]["States"].values()
    assert part["Type"] == "Task" and part["Retry"], "a part retries transient errors like every task"
    assert reduce["Next"] == "ResolveChampion"
    assert {c["ErrorEquals"][0] for c in parts["Catch"]} == {"States.ALL"}
