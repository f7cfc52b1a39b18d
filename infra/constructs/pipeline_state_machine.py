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

The phases build their states in this construct (states are named by their id, and their ids
stay what they were): ``FailurePath`` (``failure_path.py``), ``ValidationPhase``
(``validation_phase.py``), ``TrainingPhase`` (``training_phase.py``), the approval gate here, and
``DeploymentPhase`` (``deployment.py``). Every JSONPath into the run's state is named with
``state_path`` and every payload a function reads is checked with ``contract_payload``
(``state_contracts.py``, over ``functions/shared/contracts.py``), both at synth.

Choices read flat paths only (``$.champion.found``, ``$.evaluation.approved``,
``$.endpoint.EndpointStatus``) because the local executor and the console both handle those
unambiguously.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.shared.contracts import DeployRequest
from infra.compliance import acknowledge, logical_id
from infra.config import APPROVAL_MODES, ServingConfig, TrainingConfig
from infra.constructs.deployment import VARIANT_NAME, DeploymentPhase
from infra.constructs.failure_path import FailurePath
from infra.constructs.log_encryption import LogEncryptionKey
from infra.constructs.notices import notice
from infra.constructs.retries import TRANSIENT_ERRORS
from infra.constructs.state_contracts import contract_payload, state_path
from infra.constructs.training_code import SourceArchiveCopy
from infra.constructs.training_phase import TrainingPhase
from infra.constructs.validation_phase import ValidationPhase
from infra.naming import BucketRef, nag_arn

__all__ = ["TRANSIENT_ERRORS", "VARIANT_NAME", "PipelineFunctions", "PipelineStateMachine"]

# Training (<= maxRuntimeSeconds) plus endpoint creation fit well inside; a stuck run ends here.
DEFAULT_TIMEOUT = cdk.Duration.hours(6)


@dataclass(frozen=True)
class PipelineFunctions:
    """The Lambda functions the state machine invokes."""

    validate: lambda_.IFunction
    champion: lambda_.IFunction
    plan: lambda_.IFunction
    evaluate: lambda_.IFunction
    register: lambda_.IFunction
    deploy: lambda_.IFunction


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
        source_archive: SourceArchiveCopy,
        train_program: str,
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
        self._topic = topic
        # Every phase's states are created in this construct: states are named by their id.
        self._failure = FailurePath(self, topic=topic, state_machine_name=state_machine_name)
        validation = ValidationPhase(
            self, validate=functions.validate, failure=self._failure, max_concurrency=validation_max_concurrency
        )
        training_phase = TrainingPhase(
            self,
            functions=functions,
            failure=self._failure,
            sagemaker_role=self._sagemaker_role,
            artifacts=artifacts,
            training_prefix=training_prefix,
            training_image_uri=training_image_uri,
            source_archive=source_archive,
            train_program=train_program,
            training=training,
        )
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
            notify_failure=self._failure.start,
            package_arn_pattern=package_arn_pattern,
        )
        self.log_group, self.state_machine = self._state_machine(
            self._definition(validation, training_phase, approval),
            state_machine_name=state_machine_name,
            timeout=timeout or DEFAULT_TIMEOUT,
        )
        self._permissions(functions, source_archive, state_machine_name, package_arn_pattern)

    # --- building blocks -------------------------------------------------------------------

    def _definition(self, validation: ValidationPhase, training: TrainingPhase, approval: str) -> sfn.Choice:
        """``DeployOnly?`` -> validation -> training -> the gate -> the deployment phase."""
        training.registered.next(self._gate(approval))
        validation.next(training.start)
        # A run started with {"deploy": {"modelPackageArn"}} (a registry approval, a rollback) only deploys.
        return (
            sfn.Choice(self, "DeployOnly?")
            .when(sfn.Condition.is_present(state_path("deploy", "modelPackageArn")), self.deployment.start)
            .otherwise(validation.start)
        )

    def _state_machine(
        self, definition: sfn.IChainable, *, state_machine_name: str, timeout: cdk.Duration
    ) -> tuple[logs.LogGroup, sfn.StateMachine]:
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, encryption_key=LogEncryptionKey.of(self)
        )
        state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            comment="Validate, train, evaluate, register and deploy one model (docs/ARCHITECTURE.md)",
        )
        return log_group, state_machine

    def _gate(self, approval: str) -> sfn.Choice:
        """``Approved?``: an approved challenger goes on (``_after_approval``); a rejected one is notified."""
        notify_rejected = self._failure.guard(
            notice(
                self,
                "NotifyRejected",
                topic=self._topic,
                subject="MLOps model rejected",
                message={
                    "event": "ModelRejected",
                    "executionArn": sfn.JsonPath.execution_id,
                    "modelPackageArn": sfn.JsonPath.string_at(state_path("registration", "modelPackageArn")),
                    "reasons": sfn.JsonPath.list_at(state_path("evaluation", "reasons")),
                },
            )
        )
        notify_rejected.next(sfn.Succeed(self, "ModelRejected"))
        return (
            sfn.Choice(self, "Approved?")
            .when(
                sfn.Condition.boolean_equals(state_path("evaluation", "approved"), True),
                self._after_approval(approval),
            )
            .otherwise(notify_rejected)
        )

    def _after_approval(self, approval: str) -> sfn.IChainable:
        """Auto: the challenger goes to the deployment phase. Manual: a person approves it later."""
        if approval == "auto":
            return sfn.Pass(
                self,
                "DeployChallenger",
                parameters=contract_payload(
                    DeployRequest, {"modelPackageArn.$": state_path("registration", "modelPackageArn")}
                ),
                result_path=state_path("deploy"),
            ).next(self.deployment.start)
        notify = self._failure.guard(
            notice(
                self,
                "NotifyAwaitingApproval",
                topic=self._topic,
                subject="MLOps model awaits approval",
                message={
                    "event": "ModelAwaitingApproval",
                    "executionArn": sfn.JsonPath.execution_id,
                    "modelPackageArn": sfn.JsonPath.string_at(state_path("registration", "modelPackageArn")),
                    "version": sfn.JsonPath.number_at(state_path("registration", "version")),
                    "howToApprove": "mlops approve VERSION (or approve it in the SageMaker Model Registry)",
                },
            )
        )
        return notify.next(
            sfn.Succeed(self, "AwaitingApproval", comment="Registered PendingManualApproval; approval deploys it")
        )

    def _permissions(
        self,
        functions: PipelineFunctions,
        source_archive: SourceArchiveCopy,
        state_machine_name: str,
        package_arn_pattern: str,
    ) -> None:
        """What the states' own grants lack, and the reasons for the wildcards they need."""
        self.deployment.grant(self.state_machine)
        # CopyObject reads the source object (the CDK asset) besides writing the copy.
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[source_archive.source_arn])
        )
        self._acknowledge(functions, state_machine_name, package_arn_pattern)
        self._acknowledge_distributed_map()

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
