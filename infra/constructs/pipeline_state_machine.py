"""The training-to-deployment state machine of docs/ARCHITECTURE.md "State machine".

Validate -> resolve the champion -> plan the training window (or skip: no new labelled data, or an
upload that is not to retrain) -> train (with or without the champion's model as a channel) ->
evaluate -> register -> if approved: create model, endpoint config with data capture, create or
update the endpoint, then poll until it serves the new config. Every task retries transient
service errors and sends anything else to one failure path that notifies and fails the execution
with the original error, so a run never ends silently.

Choices read flat paths only (``$.champion.found``, ``$.evaluation.approved``,
``$.endpoint.EndpointStatus``) because the local executor and the console both handle those
unambiguously.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeVar

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.compliance import acknowledge, logical_id
from infra.config import ServingConfig, TrainingConfig
from infra.naming import BucketRef, nag_arn

__all__ = ["TRANSIENT_ERRORS", "PipelineFunctions", "PipelineStateMachine"]

# Errors worth another attempt. Function errors (DataValidationError, a bug) are not among them.
TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ThrottlingException",
    "ThrottlingException",
]
VARIANT_NAME = "AllTraffic"
# Training (<= maxRuntimeSeconds) plus endpoint creation fit well inside; a stuck run ends here.
DEFAULT_TIMEOUT = cdk.Duration.hours(6)

_GuardedT = TypeVar("_GuardedT", sfn.TaskStateBase, sfn.CustomState)


@dataclass(frozen=True)
class PipelineFunctions:
    """The Lambda functions the state machine invokes."""

    validate: lambda_.IFunction
    champion: lambda_.IFunction
    plan: lambda_.IFunction
    evaluate: lambda_.IFunction
    register: lambda_.IFunction


class _S3Uri(tasks.S3Location):
    """A fixed ``s3://`` location. ``S3Location.from_bucket`` renders an HTTPS URL, which the
    training job accepts but then reports back (``S3ModelArtifacts``) in the same form, while the
    S3 layout, the evaluate function and the model registry all speak ``s3://``."""

    def __init__(self, uri: str) -> None:
        super().__init__()
        self._uri = uri

    def bind(
        self, _task: tasks.ISageMakerTask, *, for_reading: bool | None = None, for_writing: bool | None = None
    ) -> tasks.S3LocationConfig:
        return tasks.S3LocationConfig(uri=self._uri)


def _execution_scoped(kind: str) -> str:
    """``<kind>-<executionName>``: names that tie a SageMaker resource to the run that made it."""
    return sfn.JsonPath.format(f"{kind}-{{}}", sfn.JsonPath.execution_name)


class PipelineStateMachine(Construct):
    """The Step Functions state machine that trains, gates, registers and deploys one model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine_name: str,
        functions: PipelineFunctions,
        sagemaker_role: iam.IRole,
        artifacts: BucketRef,
        training_prefix: str,
        capture_prefix: str,
        training_image_uri: str,
        inference_image_uri: str,
        source_archive_url: str,
        train_program: str,
        inference_program: str,
        training: TrainingConfig,
        serving: ServingConfig,
        endpoint_name: str,
        topic: sns.ITopic,
        timeout: cdk.Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # CDK tasks add S3 grants to the role they pass; the role already holds exact statements.
        self._sagemaker_role = sagemaker_role.without_policy_updates()
        self._artifacts = artifacts
        self._training_prefix = training_prefix
        self._training_image_uri = training_image_uri
        self._source_archive_url = source_archive_url
        self._train_program = train_program
        self._training = training
        self._endpoint_name = endpoint_name
        self._topic = topic

        self._notify_failure = tasks.SnsPublish(
            self,
            "NotifyFailure",
            topic=topic,
            subject="MLOps pipeline failed",
            message=sfn.TaskInput.from_object(
                {
                    "event": "PipelineFailed",
                    "stateMachine": state_machine_name,
                    "executionArn": sfn.JsonPath.execution_id,
                    # Only fields every Catch guarantees: the failure path itself must not fail.
                    "error": sfn.JsonPath.string_at("$.error.Error"),
                    "cause": sfn.JsonPath.string_at("$.error.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        self._notify_failure.add_retry(errors=["States.ALL"], max_attempts=3, backoff_rate=2)
        self._notify_failure.next(
            sfn.Fail(self, "PipelineFailed", error_path="$.error.Error", cause_path="$.error.Cause")
        )

        validate = self._guard(
            tasks.LambdaInvoke(
                self,
                "Validate",
                lambda_function=functions.validate,
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.validation",
            )
        )
        resolve_champion = self._guard(
            tasks.LambdaInvoke(
                self,
                "ResolveChampion",
                lambda_function=functions.champion,
                payload=sfn.TaskInput.from_object({}),
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.champion",
            )
        )
        evaluate = self._guard(
            tasks.LambdaInvoke(
                self,
                "Evaluate",
                lambda_function=functions.evaluate,
                # The function gets {"jobName", "modelArtifacts"}; ResultPath still writes into the
                # full state (a string Parameters would not be valid ASL).
                input_path="$.training",
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.evaluation",
            )
        )
        register = self._guard(
            tasks.LambdaInvoke(
                self,
                "Register",
                lambda_function=functions.register,
                payload=sfn.TaskInput.from_object(
                    {
                        "executionArn": sfn.JsonPath.execution_id,
                        "reason": sfn.JsonPath.string_at("$.reason"),
                        "data": sfn.JsonPath.object_at("$.data"),
                        "validation": sfn.JsonPath.object_at("$.validation"),
                        "training": sfn.JsonPath.object_at("$.training"),
                        "evaluation": sfn.JsonPath.object_at("$.evaluation"),
                        "plan": sfn.JsonPath.object_at("$.plan"),
                    }
                ),
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.registration",
            )
        )
        evaluate.next(register)

        train_with_champion = self._training_job("TrainWithChampion", with_champion=True).next(evaluate)
        train = self._training_job("Train", with_champion=False).next(evaluate)
        has_champion = (
            sfn.Choice(self, "HasChampion?")
            .when(sfn.Condition.boolean_equals("$.champion.found", True), train_with_champion)
            .otherwise(train)
        )
        plan_training = self._guard(
            tasks.LambdaInvoke(
                self,
                "PlanTraining",
                lambda_function=functions.plan,
                payload=sfn.TaskInput.from_object(
                    {
                        "reason": sfn.JsonPath.string_at("$.reason"),
                        "executionName": sfn.JsonPath.execution_name,
                        "champion": sfn.JsonPath.object_at("$.champion"),
                        "validation": sfn.JsonPath.object_at("$.validation"),
                    }
                ),
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.plan",
            )
        )
        # A run that has nothing new to learn from ends here, successfully: the champion keeps serving.
        should_train = (
            sfn.Choice(self, "Train?")
            .when(sfn.Condition.boolean_equals("$.plan.train", True), has_champion)
            .otherwise(sfn.Succeed(self, "NotRetrained", comment="No new labelled data, or uploads do not retrain"))
        )
        plan_training.next(should_train)

        notify_rejected = self._guard(
            tasks.SnsPublish(
                self,
                "NotifyRejected",
                topic=topic,
                subject="MLOps model rejected",
                message=sfn.TaskInput.from_object(
                    {
                        "event": "ModelRejected",
                        "executionArn": sfn.JsonPath.execution_id,
                        "modelPackageArn": sfn.JsonPath.string_at("$.registration.modelPackageArn"),
                        "reasons": sfn.JsonPath.list_at("$.evaluation.reasons"),
                    }
                ),
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        notify_rejected.next(sfn.Succeed(self, "ModelRejected"))

        deploy = self._deployment(
            inference_image_uri=inference_image_uri,
            inference_program=inference_program,
            capture_prefix=capture_prefix,
            serving=serving,
        )
        register.next(
            sfn.Choice(self, "Approved?")
            .when(sfn.Condition.boolean_equals("$.evaluation.approved", True), deploy)
            .otherwise(notify_rejected)
        )

        definition = validate.next(resolve_champion).next(plan_training)
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.THREE_MONTHS)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=timeout or DEFAULT_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            comment="Validate, train, evaluate, register and deploy one model (docs/ARCHITECTURE.md)",
        )
        self._grant_custom_states()
        self._acknowledge(functions)

    # --- building blocks -------------------------------------------------------------------

    def _guard(self, task: _GuardedT) -> _GuardedT:
        """Retry transient errors, then route every other error to the one failure path."""
        task.add_retry(
            errors=TRANSIENT_ERRORS,
            interval=cdk.Duration.seconds(5),
            max_attempts=4,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        task.add_catch(self._notify_failure, errors=["States.ALL"], result_path="$.error")
        return task

    def _training_job(self, state_id: str, *, with_champion: bool) -> tasks.SageMakerCreateTrainingJob:
        # The window's batches, exactly: a SageMaker manifest the plan step wrote; and the plan itself,
        # which tells the script which batches the champion has seen (the holdout comes from the others).
        channels = [
            self._channel("train", "$.plan.manifestUri", content_type="text/csv", manifest=True),
            self._channel("plan", "$.plan.planPrefixUri", content_type="application/json"),
        ]
        if with_champion:
            channels.append(self._channel("champion", "$.champion.modelDataUrl"))
        hyperparameters: dict[str, str] = {
            # JSON-encoded as the SageMaker SDK writes it; the training toolkit decodes each value.
            "sagemaker_program": json.dumps(self._train_program),
            "sagemaker_submit_directory": self._source_archive_url,
            "sagemaker_region": cdk.Aws.REGION,
            **self._training.hyperparameters,
        }
        return self._guard(
            tasks.SageMakerCreateTrainingJob(
                self,
                state_id,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                training_job_name=_execution_scoped("train"),
                role=self._sagemaker_role,
                algorithm_specification=tasks.AlgorithmSpecification(
                    training_image=tasks.DockerImage.from_registry(self._training_image_uri),
                    training_input_mode=tasks.InputMode.FILE,
                ),
                input_data_config=channels,
                output_data_config=tasks.OutputDataConfig(
                    s3_output_location=_S3Uri(self._artifacts.s3_uri(self._training_prefix))
                ),
                resource_config=tasks.ResourceConfig(
                    instance_count=1,
                    instance_type=ec2.InstanceType(self._training.instance_type.removeprefix("ml.")),
                    volume_size=cdk.Size.gibibytes(self._training.volume_size_gb),
                ),
                stopping_condition=tasks.StoppingCondition(
                    max_runtime=cdk.Duration.seconds(self._training.max_runtime_seconds)
                ),
                hyperparameters=hyperparameters,
                result_selector={
                    "jobName": sfn.JsonPath.string_at("$.TrainingJobName"),
                    "modelArtifacts": sfn.JsonPath.string_at("$.ModelArtifacts.S3ModelArtifacts"),
                },
                result_path="$.training",
            )
        )

    @staticmethod
    def _channel(name: str, uri_path: str, *, content_type: str | None = None, manifest: bool = False) -> tasks.Channel:
        return tasks.Channel(
            channel_name=name,
            content_type=content_type,
            data_source=tasks.DataSource(
                s3_data_source=tasks.S3DataSource(
                    s3_location=tasks.S3Location.from_json_expression(uri_path),
                    s3_data_type=tasks.S3DataType.MANIFEST_FILE if manifest else tasks.S3DataType.S3_PREFIX,
                    s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                )
            ),
        )

    def _deployment(
        self,
        *,
        inference_image_uri: str,
        inference_program: str,
        capture_prefix: str,
        serving: ServingConfig,
    ) -> sfn.IChainable:
        create_model = self._guard(
            tasks.SageMakerCreateModel(
                self,
                "CreateModel",
                model_name=_execution_scoped("model"),
                role=self._sagemaker_role,
                primary_container=tasks.ContainerDefinition(
                    image=tasks.DockerImage.from_registry(inference_image_uri),
                    model_s3_location=tasks.S3Location.from_json_expression("$.training.modelArtifacts"),
                    environment_variables=sfn.TaskInput.from_object(
                        {
                            "MLOPS_MODEL_SHA256": sfn.JsonPath.string_at("$.evaluation.artifactSha256"),
                            "MLOPS_BASELINE_URI": sfn.JsonPath.string_at("$.evaluation.reports.baseline"),
                            "MLOPS_MODEL_PACKAGE_ARN": sfn.JsonPath.string_at("$.registration.modelPackageArn"),
                            "SAGEMAKER_PROGRAM": inference_program,
                            "SAGEMAKER_SUBMIT_DIRECTORY": self._source_archive_url,
                            "SAGEMAKER_REGION": cdk.Aws.REGION,
                            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                        }
                    ),
                ),
                result_selector={"modelArn": sfn.JsonPath.string_at("$.ModelArn")},
                result_path="$.model",
            )
        )
        create_endpoint_config = self._guard(
            sfn.CustomState(
                self,
                "CreateEndpointConfig",
                state_json={
                    "Type": "Task",
                    "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:createEndpointConfig",
                    "Parameters": {
                        "EndpointConfigName.$": _execution_scoped("config"),
                        "ProductionVariants": [
                            {
                                "VariantName": VARIANT_NAME,
                                "ModelName.$": _execution_scoped("model"),
                                "InstanceType": serving.instance_type,
                                "InitialInstanceCount": serving.initial_instance_count,
                                "InitialVariantWeight": 1,
                            }
                        ],
                        "DataCaptureConfig": {
                            "EnableCapture": True,
                            "InitialSamplingPercentage": serving.capture_sampling_percentage,
                            "DestinationS3Uri": self._artifacts.s3_uri(capture_prefix.rstrip("/")),
                            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                            "CaptureContentTypeHeader": {
                                "CsvContentTypes": ["text/csv"],
                                "JsonContentTypes": ["application/json"],
                            },
                        },
                    },
                    # The name is kept so the poll loop can tell "serving this config" from a
                    # rolled-back update that is InService on the previous one.
                    "ResultSelector": {
                        "name.$": _execution_scoped("config"),
                        "arn.$": "$.EndpointConfigArn",
                    },
                    "ResultPath": "$.endpointConfig",
                },
            )
        )
        update_endpoint = self._guard(
            tasks.SageMakerUpdateEndpoint(
                self,
                "UpdateEndpoint",
                endpoint_name=self._endpoint_name,
                endpoint_config_name=_execution_scoped("config"),
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        create_endpoint = self._guard(
            tasks.SageMakerCreateEndpoint(
                self,
                "CreateEndpoint",
                endpoint_name=self._endpoint_name,
                endpoint_config_name=_execution_scoped("config"),
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        describe_endpoint = self._guard(
            tasks.CallAwsService(
                self,
                "DescribeEndpoint",
                service="sagemaker",
                action="describeEndpoint",
                parameters={"EndpointName": self._endpoint_name},
                iam_resources=[self._endpoint_arn()],
                result_selector={
                    "EndpointStatus": sfn.JsonPath.string_at("$.EndpointStatus"),
                    "EndpointConfigName": sfn.JsonPath.string_at("$.EndpointConfigName"),
                },
                result_path="$.endpoint",
            )
        )
        notify_deploy_failed = self._guard(
            tasks.SnsPublish(
                self,
                "NotifyDeployFailed",
                topic=self._topic,
                subject="MLOps deployment failed",
                message=sfn.TaskInput.from_object(
                    {
                        "event": "DeployFailed",
                        "executionArn": sfn.JsonPath.execution_id,
                        "endpointName": self._endpoint_name,
                        "endpointStatus": sfn.JsonPath.string_at("$.endpoint.EndpointStatus"),
                        "servingConfig": sfn.JsonPath.string_at("$.endpoint.EndpointConfigName"),
                        "expectedConfig": sfn.JsonPath.string_at("$.endpointConfig.name"),
                    }
                ),
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        notify_deploy_failed.next(
            sfn.Fail(
                self,
                "DeployFailed",
                error="DeployFailed",
                cause="The endpoint did not reach InService on the new endpoint config",
            )
        )
        wait = sfn.Wait(
            self,
            "WaitForEndpoint",
            time=sfn.WaitTime.duration(cdk.Duration.seconds(serving.endpoint_poll_seconds)),
        )
        in_service = sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService")
        endpoint_in_service = (
            sfn.Choice(self, "EndpointInService?")
            .when(
                sfn.Condition.and_(
                    in_service,
                    sfn.Condition.string_equals_json_path("$.endpoint.EndpointConfigName", "$.endpointConfig.name"),
                ),
                sfn.Succeed(self, "Deployed"),
            )
            .when(
                sfn.Condition.or_(
                    in_service,  # InService on another config: the update was rolled back
                    sfn.Condition.string_equals("$.endpoint.EndpointStatus", "Failed"),
                    sfn.Condition.string_equals("$.endpoint.EndpointStatus", "UpdateRollbackFailed"),
                ),
                notify_deploy_failed,
            )
            .otherwise(wait)
        )
        wait.next(describe_endpoint)
        describe_endpoint.next(endpoint_in_service)
        update_endpoint.next(describe_endpoint)
        create_endpoint.next(describe_endpoint)
        endpoint_exists = (
            sfn.Choice(self, "EndpointExists?")
            .when(sfn.Condition.boolean_equals("$.champion.endpointExists", True), update_endpoint)
            .otherwise(create_endpoint)
        )
        return create_model.next(create_endpoint_config).next(endpoint_exists)

    def _endpoint_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=self._endpoint_name.lower()
        )

    def _grant_custom_states(self) -> None:
        """The custom CreateEndpointConfig state gets no automatic policy: grant it explicitly."""
        stack = cdk.Stack.of(self)
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateEndpointConfig"],
                resources=[stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="config-*")],
            )
        )

    def _acknowledge(self, functions: PipelineFunctions) -> None:
        """Wildcards in the state machine role, each forced by a name decided at run time."""
        policy = self.state_machine.role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        for fn in (functions.validate, functions.champion, functions.plan, functions.evaluate, functions.register):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{logical_id(fn)}.Arn>:*]",
                "LambdaInvoke may call any version of the pipeline's own functions (CDK grant).",
            )
        per_execution = "SageMaker resources are named after each execution (<kind>-<executionName>)."
        for resource in ("training-job/*", "model/*", "endpoint-config/*", "endpoint-config/config-*"):
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{nag_arn('sagemaker', resource)}]", per_execution)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Log delivery and X-Ray actions of Step Functions support no resource-level permissions.",
        )
