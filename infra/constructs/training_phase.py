"""The training phase of the pipeline state machine: champion, plan, train, evaluate, register.

``ResolveChampion`` -> ``PlanTraining`` -> ``Train?`` (a run with nothing new to learn from ends
``NotRetrained``) -> ``PublishSourceArchive`` -> ``HasChampion?`` -> ``Train`` or
``TrainWithChampion`` (the champion's model as a channel) -> ``Evaluate`` -> ``Register``; what
follows registration (the gate's outcome) is chained on ``registered``.

A plain class, not a construct: its states are created in the state machine's scope, where they
have always been (states are named by their id; their construct path is not in the template).
"""

from __future__ import annotations

import json
from typing import Protocol

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from functions.shared.contracts import PlanInput, RegisterInput, TrainingOutput
from infra.config import TrainingConfig
from infra.constructs.failure_path import FailurePath
from infra.constructs.state_contracts import contract_payload, state_path
from infra.constructs.training_code import SourceArchiveCopy
from infra.naming import BucketRef

__all__ = ["TrainingFunctions", "TrainingPhase"]


class TrainingFunctions(Protocol):
    """The functions of the phase (``PipelineFunctions`` has them)."""

    @property
    def champion(self) -> lambda_.IFunction: ...
    @property
    def plan(self) -> lambda_.IFunction: ...
    @property
    def evaluate(self) -> lambda_.IFunction: ...
    @property
    def register(self) -> lambda_.IFunction: ...


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


def _attempt_scoped(kind: str) -> str:
    """``<kind>-<executionName>-<attempt>``: a retried ``.sync`` job state creates its job again, and
    SageMaker refuses a job name in use (``ResourceInUse``), so each attempt (``$$.State.RetryCount``,
    0 for the first) names its own job. The trigger keeps execution names <= 54 characters."""
    return sfn.JsonPath.format(
        f"{kind}-{{}}-{{}}", sfn.JsonPath.execution_name, sfn.JsonPath.string_at("$$.State.RetryCount")
    )


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


class TrainingPhase:
    """``start`` is ``ResolveChampion``; ``registered`` (``Register``) is where the gate follows."""

    def __init__(
        self,
        scope: Construct,
        *,
        functions: TrainingFunctions,
        failure: FailurePath,
        sagemaker_role: iam.IRole,
        artifacts: BucketRef,
        training_prefix: str,
        training_image_uri: str,
        source_archive: SourceArchiveCopy,
        train_program: str,
        training: TrainingConfig,
    ) -> None:
        self._scope = scope
        self._failure = failure
        self._sagemaker_role = sagemaker_role
        self._artifacts = artifacts
        self._training_prefix = training_prefix
        self._training_image_uri = training_image_uri
        self._source_archive = source_archive
        self._train_program = train_program
        self._training = training

        self.start = self._lambda("ResolveChampion", functions.champion, "champion", payload={})
        evaluate = self._lambda(
            "Evaluate",
            functions.evaluate,
            "evaluation",
            # The function gets {"jobName", "modelArtifacts"}; ResultPath still writes into the full
            # state (a string Parameters would not be valid ASL).
            input_path=state_path("training"),
        )
        self.registered = self._register(functions.register)
        evaluate.next(self.registered)
        has_champion = (
            sfn.Choice(scope, "HasChampion?")
            .when(
                sfn.Condition.boolean_equals(state_path("champion", "found"), True),
                self._training_job("TrainWithChampion", with_champion=True).next(evaluate),
            )
            .otherwise(self._training_job("Train", with_champion=False).next(evaluate))
        )
        plan_training = self._plan(functions.plan)
        plan_training.next(self._should_train(self._publish_source_archive().next(has_champion)))
        self.start.next(plan_training)

    # --- the states ------------------------------------------------------------------------------

    def _lambda(
        self,
        state_id: str,
        function: lambda_.IFunction,
        result_key: str,
        *,
        payload: dict[str, object] | None = None,
        input_path: str | None = None,
    ) -> tasks.LambdaInvoke:
        """A guarded LambdaInvoke whose answer is ``$.<result_key>``."""
        return self._failure.guard(
            tasks.LambdaInvoke(
                self._scope,
                state_id,
                lambda_function=function,
                payload=None if payload is None else sfn.TaskInput.from_object(payload),
                input_path=input_path,
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path=state_path(result_key),
            )
        )

    def _register(self, function: lambda_.IFunction) -> tasks.LambdaInvoke:
        payload = {
            "executionArn": sfn.JsonPath.execution_id,
            # The input as the run was started (an alarm's run carries the alarm): always present,
            # where a state path to an optional key would fail the task with States.Runtime.
            "executionInput": sfn.JsonPath.object_at("$$.Execution.Input"),
            "reason": sfn.JsonPath.string_at(state_path("reason")),
            **{
                key: sfn.JsonPath.object_at(state_path(key))
                for key in ("data", "validation", "training", "evaluation", "plan")
            },
        }
        return self._lambda("Register", function, "registration", payload=contract_payload(RegisterInput, payload))

    def _plan(self, function: lambda_.IFunction) -> tasks.LambdaInvoke:
        payload = {
            "reason": sfn.JsonPath.string_at(state_path("reason")),
            "executionName": sfn.JsonPath.execution_name,
            "champion": sfn.JsonPath.object_at(state_path("champion")),
            "validation": sfn.JsonPath.object_at(state_path("validation")),
        }
        return self._lambda("PlanTraining", function, "plan", payload=contract_payload(PlanInput, payload))

    def _publish_source_archive(self) -> tasks.CallAwsService:
        """The code is copied out of the CDK's asset bucket before it trains a model: the run's
        lineage then points at an object that no ``cdk gc`` can take away."""
        archive = self._source_archive
        return self._failure.guard(
            tasks.CallAwsService(
                self._scope,
                "PublishSourceArchive",
                service="s3",
                action="copyObject",
                iam_action="s3:PutObject",
                iam_resources=[archive.arn],
                parameters={
                    "Bucket": archive.bucket,
                    "Key": archive.key,
                    "CopySource": f"{archive.source_bucket}/{archive.source_key}",
                    "TaggingDirective": "REPLACE",
                },
                result_path=sfn.JsonPath.DISCARD,
            )
        )

    def _should_train(self, train: sfn.IChainable) -> sfn.Choice:
        """A run that has nothing new to learn from ends here, successfully: the champion keeps serving."""
        return (
            sfn.Choice(self._scope, "Train?")
            .when(sfn.Condition.boolean_equals(state_path("plan", "train"), True), train)
            .otherwise(
                sfn.Succeed(self._scope, "NotRetrained", comment="No new labelled data, or uploads do not retrain")
            )
        )

    def _training_job(self, state_id: str, *, with_champion: bool) -> tasks.SageMakerCreateTrainingJob:
        training = self._training
        return self._failure.guard(
            tasks.SageMakerCreateTrainingJob(
                self._scope,
                state_id,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                training_job_name=_attempt_scoped("train"),
                role=self._sagemaker_role,
                algorithm_specification=tasks.AlgorithmSpecification(
                    training_image=tasks.DockerImage.from_registry(self._training_image_uri),
                    training_input_mode=tasks.InputMode.FILE,
                ),
                input_data_config=self._channels(with_champion=with_champion),
                output_data_config=tasks.OutputDataConfig(
                    s3_output_location=_S3Uri(self._artifacts.s3_uri(self._training_prefix))
                ),
                resource_config=tasks.ResourceConfig(
                    instance_count=1,
                    instance_type=ec2.InstanceType(training.instance_type.removeprefix("ml.")),
                    volume_size=cdk.Size.gibibytes(training.volume_size_gb),
                ),
                stopping_condition=tasks.StoppingCondition(
                    max_runtime=cdk.Duration.seconds(training.max_runtime_seconds)
                ),
                hyperparameters=self._hyperparameters(),
                # The task's own result (DescribeTrainingJob), kept as the contract's TrainingOutput.
                result_selector=contract_payload(
                    TrainingOutput,
                    {
                        "jobName": sfn.JsonPath.string_at("$.TrainingJobName"),
                        "modelArtifacts": sfn.JsonPath.string_at("$.ModelArtifacts.S3ModelArtifacts"),
                    },
                ),
                result_path=state_path("training"),
            )
        )

    def _channels(self, *, with_champion: bool) -> list[tasks.Channel]:
        """The window's batches, exactly: a SageMaker manifest the plan step wrote; and the plan itself,
        which tells the script which batches the champion has seen (the holdout comes from the others)."""
        channels = [
            _channel("train", state_path("plan", "manifestUri"), content_type="text/csv", manifest=True),
            _channel("plan", state_path("plan", "planPrefixUri"), content_type="application/json"),
        ]
        if with_champion:
            channels.append(_channel("champion", state_path("champion", "modelDataUrl")))
        return channels

    def _hyperparameters(self) -> dict[str, str]:
        return {
            # JSON-encoded as the SageMaker SDK writes it; the training toolkit decodes each value.
            "sagemaker_program": json.dumps(self._train_program),
            "sagemaker_submit_directory": self._source_archive.url,  # the artifacts bucket's copy
            "sagemaker_region": cdk.Aws.REGION,
            **self._training.hyperparameters,
        }
