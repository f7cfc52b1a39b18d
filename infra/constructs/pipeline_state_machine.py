"""The training-to-deployment state machine of docs/ARCHITECTURE.md "State machine".

Validate -> resolve the champion -> plan the training window (or skip: no new labelled data, or an
upload that is not to retrain) -> train (with or without the champion's model as a channel) ->
evaluate -> register -> if approved: the deployment phase (``infra.constructs.deployment``: one
deployment at a time per endpoint, decided at deploy time, blue/green with auto-rollback). Where
approval is ``manual`` an approved challenger is registered ``PendingManualApproval`` and the run
ends ``AwaitingApproval``: its approval in the registry starts a run with ``{"deploy":
{"modelPackageArn"}}``, which goes straight to the same deployment phase (as does a rollback).
Every task retries transient service errors and sends anything else to one failure path that
notifies and fails the execution with the original error, so a run never ends silently.

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
from infra.config import APPROVAL_MODES, ServingConfig, TrainingConfig
from infra.constructs.deployment import VARIANT_NAME, DeploymentPhase
from infra.constructs.log_encryption import LogEncryptionKey
from infra.constructs.retries import TRANSIENT_ERRORS, retry_transient
from infra.constructs.training_code import SourceArchiveCopy
from infra.naming import BucketRef, nag_arn

__all__ = ["TRANSIENT_ERRORS", "VARIANT_NAME", "PipelineFunctions", "PipelineStateMachine"]

# Training (<= maxRuntimeSeconds) plus endpoint creation fit well inside; a stuck run ends here.
DEFAULT_TIMEOUT = cdk.Duration.hours(6)

_GuardedT = TypeVar("_GuardedT", bound=sfn.TaskStateBase | sfn.CustomState)


@dataclass(frozen=True)
class PipelineFunctions:
    """The Lambda functions the state machine invokes."""

    validate: lambda_.IFunction
    champion: lambda_.IFunction
    plan: lambda_.IFunction
    evaluate: lambda_.IFunction
    register: lambda_.IFunction
    deploy: lambda_.IFunction


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


def _attempt_scoped(kind: str) -> str:
    """``<kind>-<executionName>-<attempt>``: a retried ``.sync`` job state creates its job again, and
    SageMaker refuses a job name in use (``ResourceInUse``), so each attempt (``$$.State.RetryCount``,
    0 for the first) names its own job. The trigger keeps execution names <= 54 characters."""
    return sfn.JsonPath.format(
        f"{kind}-{{}}-{{}}", sfn.JsonPath.execution_name, sfn.JsonPath.string_at("$$.State.RetryCount")
    )


class PipelineStateMachine(Construct):
    """The Step Functions state machine that trains, gates, registers and deploys one model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine_name: str,
        functions: PipelineFunctions,
        sagemaker_role: iam.Role,
        artifacts: BucketRef,
        training_prefix: str,
        capture_prefix: str,
        training_image_uri: str,
        inference_image_uri: str,
        source_archive: SourceArchiveCopy,
        train_program: str,
        inference_program: str,
        training: TrainingConfig,
        serving: ServingConfig,
        endpoint_name: str,
        topic: sns.ITopic,
        name_prefix: str,
        package_arn_pattern: str,
        approval: str = "auto",
        timeout: cdk.Duration | None = None,
        validation_max_concurrency: int = 8,
    ) -> None:
        super().__init__(scope, construct_id)
        if approval not in APPROVAL_MODES:
            raise ValueError(f"approval must be one of {list(APPROVAL_MODES)}, got {approval!r}")
        # CDK tasks add S3 grants to the role they pass; the role already holds exact statements.
        self._sagemaker_role = sagemaker_role.without_policy_updates()
        self._artifacts = artifacts
        self._training_prefix = training_prefix
        self._training_image_uri = training_image_uri
        self._source_archive = source_archive
        self._source_archive_url = source_archive.url  # training reads the artifacts bucket's copy
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
        # The code is copied out of the CDK's asset bucket before it trains a model: the run's lineage
        # then points at an object that no `cdk gc` can take away.
        publish_code = self._guard(
            tasks.CallAwsService(
                self,
                "PublishSourceArchive",
                service="s3",
                action="copyObject",
                iam_action="s3:PutObject",
                iam_resources=[source_archive.arn],
                parameters={
                    "Bucket": source_archive.bucket,
                    "Key": source_archive.key,
                    "CopySource": f"{source_archive.source_bucket}/{source_archive.source_key}",
                    "TaggingDirective": "REPLACE",
                },
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        publish_code.next(has_champion)
        # A run that has nothing new to learn from ends here, successfully: the champion keeps serving.
        should_train = (
            sfn.Choice(self, "Train?")
            .when(sfn.Condition.boolean_equals("$.plan.train", True), publish_code)
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

        self.deployment = DeploymentPhase(
            self,
            "Deployment",
            state_scope=self,
            decide=functions.deploy,
            sagemaker_role=self._sagemaker_role,
            artifacts=artifacts,
            capture_prefix=capture_prefix,
            serving=serving,
            endpoint_name=endpoint_name,
            name_prefix=name_prefix,
            state_machine_name=state_machine_name,
            topic=topic,
            notify_failure=self._notify_failure,
            package_arn_pattern=package_arn_pattern,
        )
        register.next(
            sfn.Choice(self, "Approved?")
            .when(sfn.Condition.boolean_equals("$.evaluation.approved", True), self._after_approval(approval))
            .otherwise(notify_rejected)
        )

        # A run started with {"deploy": {"modelPackageArn"}} (a registry approval, a rollback) only deploys.
        definition = (
            sfn.Choice(self, "DeployOnly?")
            .when(sfn.Condition.is_present("$.deploy.modelPackageArn"), self.deployment.start)
            .otherwise(validate)
        )
        validate.next(self._distributed_validation(functions.validate, validation_max_concurrency, resolve_champion))
        resolve_champion.next(plan_training)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, encryption_key=LogEncryptionKey.of(self)
        )
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
        self.deployment.grant(self.state_machine)
        # CopyObject reads the source object (the CDK asset) besides writing the copy.
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self._source_archive.source_arn])
        )
        self._acknowledge(functions, state_machine_name, package_arn_pattern)
        self._acknowledge_distributed_map()

    # --- building blocks -------------------------------------------------------------------

    def _distributed_validation(
        self, validate: lambda_.IFunction, max_concurrency: int, then: sfn.IChainable
    ) -> sfn.Choice:
        """``Validated?``: the single-function answer goes on; a map plan (``$.validation.mode`` =
        ``map``) runs ``ValidateParts`` (a Distributed Map over its items, each a ``part`` action of
        the validate function) and ``ReduceValidation``, whose answer replaces the plan: both paths
        leave the same ``$.validation`` (docs/ARCHITECTURE.md, "Validation beyond one function")."""
        part = retry_transient(
            tasks.LambdaInvoke(
                self,
                "ValidatePart",
                lambda_function=validate,
                payload_response_only=True,
                retry_on_service_exceptions=False,
            )
        )
        parts = sfn.DistributedMap(
            self,
            "ValidateParts",
            items_path="$.validation.items",
            item_selector={
                "action": "part",
                "kind.$": "$.validation.kind",
                "runId.$": "$.validation.runId",
                "data.$": "$.validation.source",
                "item.$": "$$.Map.Item.Value",
            },
            max_concurrency=max_concurrency,
            # The reduce reads the partial results from S3: the parts' answers are not kept in the
            # state (256 KiB), however many there are.
            result_path=sfn.JsonPath.DISCARD,
            map_execution_type=sfn.StateMachineType.STANDARD,
        )
        parts.item_processor(part)
        parts.add_catch(self._notify_failure, errors=["States.ALL"], result_path="$.error")
        reduce = self._guard(
            tasks.LambdaInvoke(
                self,
                "ReduceValidation",
                lambda_function=validate,
                payload=sfn.TaskInput.from_object(
                    {"action": "reduce", "validation": sfn.JsonPath.object_at("$.validation")}
                ),
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.validation",
            )
        )
        parts.next(reduce).next(then)
        is_map = sfn.Condition.and_(
            sfn.Condition.is_present("$.validation.mode"), sfn.Condition.string_equals("$.validation.mode", "map")
        )
        return sfn.Choice(self, "ValidationMap?").when(is_map, parts).otherwise(then)

    def _guard(self, task: _GuardedT) -> _GuardedT:
        """Retry transient errors, then route every other error to the one failure path."""
        retry_transient(task)
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
                training_job_name=_attempt_scoped("train"),
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

    def _after_approval(self, approval: str) -> sfn.IChainable:
        """Auto: the challenger goes to the deployment phase. Manual: a person approves it later."""
        if approval == "auto":
            return sfn.Pass(
                self,
                "DeployChallenger",
                parameters={"modelPackageArn.$": "$.registration.modelPackageArn"},
                result_path="$.deploy",
            ).next(self.deployment.start)
        notify = self._guard(
            tasks.SnsPublish(
                self,
                "NotifyAwaitingApproval",
                topic=self._topic,
                subject="MLOps model awaits approval",
                message=sfn.TaskInput.from_object(
                    {
                        "event": "ModelAwaitingApproval",
                        "executionArn": sfn.JsonPath.execution_id,
                        "modelPackageArn": sfn.JsonPath.string_at("$.registration.modelPackageArn"),
                        "version": sfn.JsonPath.number_at("$.registration.version"),
                        "howToApprove": "mlops approve VERSION (or approve it in the SageMaker Model Registry)",
                    }
                ),
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        return notify.next(
            sfn.Succeed(self, "AwaitingApproval", comment="Registered PendingManualApproval; approval deploys it")
        )

    def _acknowledge_distributed_map(self) -> None:
        """The Distributed Map's child executions (the CDK's DistributedMapPolicy) are named by Step Functions."""
        policy = self.state_machine.node.try_find_child("DistributedMapPolicy")
        if policy is None:
            return
        name = f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(self.state_machine)}"}}]}}]}}'
        for resource in (f"execution:{name}:*", f"execution:{name}/*:*"):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{nag_arn('states', resource)}]",
                "The validation map's child executions and map runs of this state machine are named by Step Functions.",
            )

    def _acknowledge(self, functions: PipelineFunctions, state_machine_name: str, package_arn_pattern: str) -> None:
        """Wildcards in the state machine role, each forced by a name decided at run time."""
        policy = self.state_machine.role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        for fn in (
            functions.validate,
            functions.champion,
            functions.plan,
            functions.evaluate,
            functions.register,
            functions.deploy,
        ):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{logical_id(fn)}.Arn>:*]",
                "LambdaInvoke may call any version of the pipeline's own functions (CDK grant).",
            )
        per_execution = "SageMaker resources are named after each execution (<kind>-<executionName>)."
        for resource in ("training-job/*", "model/model-*", "endpoint-config/config-*"):
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{nag_arn('sagemaker', resource)}]", per_execution)
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{nag_arn('states', f'execution:{state_machine_name}:*')}]",
            "The deployment lock's holder is one of this state machine's executions, named per run.",
        )
        group = package_arn_pattern.rsplit(":", 1)[-1]
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{nag_arn('sagemaker', group)}]",
            "Model package versions are numbered by SageMaker; the serving mark is set within this group only.",
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Log delivery and X-Ray actions of Step Functions support no resource-level permissions.",
        )
