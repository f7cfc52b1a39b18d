"""The pipeline stack: code, functions, model registry, notifications and the state machine.

It composes the constructs and wires the permissions between them: each function gets the S3
prefixes and SageMaker resources its contract in docs/ARCHITECTURE.md needs, and nothing else.
Pipeline metrics are embedded-metric-format log lines, so no function here may PutMetricData.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as lambda_destinations
from constructs import Construct

from infra.compliance import ON_FAILURE_DESTINATION_REASON, SYNCHRONOUS_INVOCATION_REASON, acknowledge, skip_checkov
from infra.config import MlopsConfig
from infra.constructs.approval_trigger import ApprovalTriggerRule
from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.constructs.framework_image import FrameworkImages
from infra.constructs.lambda_functions import PipelineFunction, lambda_code_asset
from infra.constructs.model_registry import ModelRegistry
from infra.constructs.notifications import NotificationsTopic
from infra.constructs.pipeline_state_machine import PipelineFunctions, PipelineStateMachine
from infra.constructs.sagemaker_role import SageMakerExecutionRole
from infra.constructs.training_code import TrainingCodeAsset
from infra.constructs.upload_trigger import UploadTriggerRule
from infra.dataset import read_dataset_facts
from infra.naming import DataBucketNames, nag_arn
from infra.permissions import read_serving_model, s3_read, s3_write

__all__ = ["PIPELINE_METRICS_NAMESPACE", "PipelineStack", "S3Prefixes"]

PIPELINE_METRICS_NAMESPACE = "MLOps/Pipeline"
# The validate function's /tmp: its duplicate-row and uniqueness keys past an in-memory budget are
# spilled there (functions/validate/spill.py), 24 bytes a row plus 88 per unique column, so 4 GiB
# holds the keys of about 38M rows with one unique column (the default 512 MiB: under 5M).
VALIDATE_EPHEMERAL_STORAGE_MIB = 4096


def _flag(value: bool) -> str:
    """Booleans reach the functions as ``true``/``false`` environment values."""
    return "true" if value else "false"


class S3Prefixes:
    """Key prefixes of docs/ARCHITECTURE.md "S3 layout"."""

    SNAPSHOTS = "snapshots/"
    TRAINING = "training/"
    PLANS = "training/plans/"
    RETRAINING = "retraining/"
    REPORTS = "reports/"
    CAPTURE = "datacapture/"
    QUARANTINE = ""  # quarantine keys start with the UTC timestamp of the rejection
    PARTS = "parts/"  # incoming: the part files a manifest upload names (outside the upload prefix)
    VALIDATION = "validation/"  # curated: a distributed validation's partial results, per run


class PipelineStack(cdk.Stack):
    """Everything that turns an upload into a registered, deployed model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MlopsConfig,
        project_root: Path,
        buckets: DataBucketNames,
        approval: str = "auto",
        stage_name: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=config.stack_name("pipeline"),
            description="MLOps pipeline: validate, train, evaluate, register and deploy on every upload",
            **kwargs,
        )
        self.config = config
        self.approval = approval
        self.state_machine_name = f"{config.prefix}-pipeline"
        self._project_root = project_root
        schema_path = config.schema_path(project_root)
        dataset = read_dataset_facts(schema_path)

        self._foundations(buckets, schema_path=schema_path, dataset_name=dataset.name)
        self._training_functions(buckets, dataset_name=dataset.name)
        self._registry_functions(approval=approval, stage_name=stage_name)
        self._grant_functions(buckets)
        for fn in (self.champion, self.register, self.deploy):
            fn.function.node.add_dependency(self.registry.group)

        self.pipeline = self._pipeline(buckets, approval=approval)
        self.state_machine = self.pipeline.state_machine
        for fn in (self.validate, self.champion, self.plan, self.evaluate, self.register, self.deploy):
            skip_checkov(fn.function, "CKV_AWS_116", SYNCHRONOUS_INVOCATION_REASON)
        # The topic is encrypted with a customer-managed key: publishing needs a data key.
        self.notifications.key.grant(self.state_machine, "kms:Decrypt", "kms:GenerateDataKey")

        self._trigger_function(buckets, dataset_name=dataset.name)
        self._grant_trigger(buckets)
        self._trigger_rules(buckets, approval=approval)
        self._outputs()

    # --- composition -------------------------------------------------------------------------

    def _foundations(self, buckets: DataBucketNames, *, schema_path: Path, dataset_name: str) -> None:
        """Code, images, registry, topic and SageMaker role: what the functions and states refer to."""
        config, project_root = self.config, self._project_root
        self.code = lambda_code_asset(project_root=project_root, schema_path=schema_path)
        self.training_code = TrainingCodeAsset(self, "TrainingCode", project_root=project_root, schema_path=schema_path)
        self.source_archive = self.training_code.copy_to(buckets.artifacts.name)
        self.images = FrameworkImages(
            self,
            "FrameworkImages",
            framework_version=config.training.framework_version,
            training_instance_type=config.training.instance_type,
            serving_instance_type=config.serving.instance_type,
        )
        self.registry = ModelRegistry(
            self,
            "ModelRegistry",
            group_name=config.model_name,
            description=f"Models of {dataset_name} trained by the {config.prefix} pipeline",
        )
        self.notifications = NotificationsTopic(
            self, "Notifications", topic_name=f"{config.prefix}-notifications", display_name="MLOps pipeline"
        )
        self.sagemaker_role = SageMakerExecutionRole(
            self,
            "SageMakerExecution",
            curated=buckets.curated,
            snapshots_prefix=S3Prefixes.SNAPSHOTS,
            artifacts=buckets.artifacts,
            training_prefix=S3Prefixes.TRAINING,
            capture_prefix=S3Prefixes.CAPTURE,
            source_archive=self.training_code.asset,
            published_source_archive_arn=self.source_archive.arn,
            image_repository_arns=self.images.repository_arns,
            endpoint_name=config.endpoint_name,
        ).role

    def _training_functions(self, buckets: DataBucketNames, *, dataset_name: str) -> None:
        """``validate``, ``champion``, ``plan`` and ``evaluate``: up to the gate's decision."""
        config = self.config
        self.validate = self._function(
            "validate",
            "Validates an upload against the schema: snapshot to curated, or quarantine with a report",
            {
                "CURATED_BUCKET": buckets.curated.name,
                "QUARANTINE_BUCKET": buckets.quarantine.name,
                "DATASET_NAME": dataset_name,
                "VALIDATION_MAP_THRESHOLD_BYTES": str(config.validation.map_threshold_bytes),
                "VALIDATION_PART_BYTES": str(config.validation.part_bytes),
                "VALIDATION_PARTS_PREFIX": S3Prefixes.PARTS,
            },
            # pyarrow and numpy (the columnar validator) come from the AWS SDK for pandas layer.
            with_numpy=True,
            ephemeral_storage_mib=VALIDATE_EPHEMERAL_STORAGE_MIB,
        )
        self.champion = self._function(
            "champion",
            "Finds the latest Approved model package and whether the endpoint exists",
            {"MODEL_PACKAGE_GROUP": self.registry.group_name, "ENDPOINT_NAME": config.endpoint_name},
        )
        self.plan = self._function(
            "plan",
            "Chooses the training window over the labelled batches, or skips a run with nothing new",
            {
                "CURATED_BUCKET": buckets.curated.name,
                "ARTIFACTS_BUCKET": buckets.artifacts.name,
                "DATASET_NAME": dataset_name,
                "TRAINING_WINDOW_MODE": config.training.window.mode,
                "TRAINING_WINDOW_VALUE": str(config.training.window.value),
                "RETRAIN_ON_UPLOAD": _flag(config.retraining.on_upload),
                # A quality-alarm retraining starts its window where the served quality collapsed.
                "QUALITY_TOLERANCE": repr(config.quality.tolerance),
            },
        )
        self.evaluate = self._function(
            "evaluate",
            "Applies the quality gate to a trained challenger and writes the reports",
            {
                "ARTIFACTS_BUCKET": buckets.artifacts.name,
                "GATE_PRIMARY_METRIC": config.gate.primary_metric,
                "GATE_THRESHOLDS": config.gate.thresholds_json(),
                "GATE_MIN_IMPROVEMENT": repr(config.gate.min_improvement),
            },
        )

    def _registry_functions(self, *, approval: str, stage_name: str) -> None:
        """``register`` and ``deploy``: what the registry and the endpoint come to hold."""
        self.register = self._function(
            "register",
            "Registers the trained model with its metrics and lineage in the model registry",
            {
                "MODEL_PACKAGE_GROUP": self.registry.group_name,
                "INFERENCE_IMAGE_URI": self.images.inference_image_uri,
                "CODE_VERSION": self.training_code.code_version,
                # auto: a gate pass is Approved; manual: PendingManualApproval until a person decides.
                "APPROVAL_MODE": approval,
                "INFERENCE_PROGRAM": self.training_code.inference_program,
                "STAGE": stage_name or "default",
            },
        )
        self.deploy = self._function(
            "deploy",
            "Decides, inside the deployment lock, what a deployment does on the endpoint's current state",
            {
                "MODEL_PACKAGE_GROUP": self.registry.group_name,
                "ENDPOINT_NAME": self.config.endpoint_name,
                "INFERENCE_PROGRAM": self.training_code.inference_program,
                "SOURCE_ARCHIVE_URL": self.source_archive.url,
            },
        )

    def _pipeline(self, buckets: DataBucketNames, *, approval: str) -> PipelineStateMachine:
        config = self.config
        return PipelineStateMachine(
            self,
            "Pipeline",
            state_machine_name=self.state_machine_name,
            functions=PipelineFunctions(
                validate=self.validate.function,
                champion=self.champion.function,
                plan=self.plan.function,
                evaluate=self.evaluate.function,
                register=self.register.function,
                deploy=self.deploy.function,
            ),
            sagemaker_role=self.sagemaker_role,
            artifacts=buckets.artifacts,
            training_prefix=S3Prefixes.TRAINING,
            capture_prefix=S3Prefixes.CAPTURE,
            training_image_uri=self.images.training_image_uri,
            source_archive=self.source_archive,
            train_program=self.training_code.train_program,
            training=config.training,
            serving=config.serving,
            endpoint_name=config.endpoint_name,
            topic=self.notifications.topic,
            name_prefix=f"{config.prefix}-{config.model_name}",
            package_arn_pattern=self.registry.package_arn_pattern,
            approval=approval,
            validation_max_concurrency=config.validation.max_concurrency,
        )

    def _trigger_function(self, buckets: DataBucketNames, *, dataset_name: str) -> None:
        config = self.config
        self.trigger = self._function(
            "trigger",
            "The one door into the pipeline: uploads, drift and quality alarms, rechecks and manual runs",
            {
                "STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                "UPLOAD_PREFIX": config.upload_prefix,
                "INCOMING_BUCKET": buckets.incoming.name,
                "CURATED_BUCKET": buckets.curated.name,
                "ARTIFACTS_BUCKET": buckets.artifacts.name,
                "DATASET_NAME": dataset_name,
                "RETRAIN_COOLDOWN_SECONDS": str(config.retraining.cooldown_seconds),
                "DRIFT_ALARM_NAME": config.alarm_name,
                "QUALITY_ALARM_NAME": config.quality_alarm_name,
                "RETRAIN_ON_ALARM": _flag(config.retraining.on_alarm),
                # A registry approval of one of these packages starts a deploy-only run.
                "MODEL_PACKAGE_GROUP": self.registry.group_name,
            },
        )

    def _trigger_rules(self, buckets: DataBucketNames, *, approval: str) -> None:
        """The events that reach ``trigger``, and the queue where the ones it fails on are parked."""
        self.trigger_dead_letters = DeadLetterQueue(
            self, "TriggerDeadLetters", purpose="events for the trigger function", alarm_topic=self.notifications.topic
        ).queue
        # Uploads and drift alarms reach `trigger` asynchronously: a run it fails to start is parked.
        self.trigger.function.configure_async_invoke(
            on_failure=lambda_destinations.SqsDestination(self.trigger_dead_letters), retry_attempts=2
        )
        skip_checkov(self.trigger.function, "CKV_AWS_116", ON_FAILURE_DESTINATION_REASON)
        self.upload_rule = UploadTriggerRule(
            self,
            "UploadTrigger",
            bucket_name=buckets.incoming.name,
            upload_prefix=self.config.upload_prefix,
            trigger=self.trigger.function,
            dead_letter_queue=self.trigger_dead_letters,
        )
        # Only where a person approves: where the gate approves, the registration's own event
        # (already Approved) must not start a second deployment.
        self.approval_rule = (
            ApprovalTriggerRule(
                self,
                "ApprovalTrigger",
                group_name=self.registry.group_name,
                trigger=self.trigger.function,
                dead_letter_queue=self.trigger_dead_letters,
            )
            if approval == "manual"
            else None
        )

    # --- wiring ------------------------------------------------------------------------------

    def _function(self, name: str, description: str, environment: dict[str, str], **options: Any) -> PipelineFunction:
        return PipelineFunction(
            self,
            name.capitalize(),
            name=name,
            function_name=f"{self.config.prefix}-{name}",
            description=description,
            code=self.code,
            config=self.config.lambda_,
            project_root=self._project_root,
            service_name=name,
            metrics_namespace=PIPELINE_METRICS_NAMESPACE,
            environment=environment,
            **options,
        )

    def _grant_functions(self, buckets: DataBucketNames) -> None:
        """Each function's S3 prefixes and SageMaker resources (docs/ARCHITECTURE.md), nothing else."""
        self._grant_validate(buckets)
        self._grant_champion_and_deploy(buckets)
        self._grant_plan_and_evaluate(buckets)
        self._grant_register(buckets)
        packages = nag_arn("sagemaker", f"model-package/{self.registry.group_name.lower()}/*")
        for role in (self.champion.role, self.register.role, self.deploy.role):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{packages}]",
                "Model package versions are numbered by SageMaker; access is limited to this model's group.",
            )

    def _grant_validate(self, buckets: DataBucketNames) -> None:
        upload = self.config.upload_prefix
        validate = self.validate.role
        # The upload is copied byte for byte (CopyObject, pinned version) into curated or quarantine.
        s3_read(validate, buckets.incoming, [upload], versions=True, tags=True)
        # A drift retraining validates the curated snapshot it retrains on, by version or ETag.
        s3_read(validate, buckets.curated, [S3Prefixes.SNAPSHOTS], versions=True)
        s3_write(validate, buckets.curated, [S3Prefixes.SNAPSHOTS], tags=True)
        s3_write(validate, buckets.quarantine, [S3Prefixes.QUARANTINE], tags=True)
        # A manifest upload names part files under parts/; a distributed validation's parts write
        # their partial results under validation/ and the reduce reads, then removes, them.
        s3_read(validate, buckets.incoming, [S3Prefixes.PARTS], versions=True)
        s3_read(validate, buckets.curated, [S3Prefixes.VALIDATION])
        s3_write(validate, buckets.curated, [S3Prefixes.VALIDATION])
        validate.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:DeleteObject"], resources=[buckets.curated.objects_arn(S3Prefixes.VALIDATION)]
            )
        )
        # The distributed path writes large snapshots and quarantine copies as multipart uploads.
        validate.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:AbortMultipartUpload"],
                resources=[
                    buckets.curated.objects_arn(S3Prefixes.SNAPSHOTS),
                    buckets.quarantine.objects_arn(S3Prefixes.QUARANTINE),
                ],
            )
        )

    def _grant_champion_and_deploy(self, buckets: DataBucketNames) -> None:
        registry = self.registry
        champion = self.champion.role
        # The champion is what the endpoint serves: endpoint -> config -> model -> its package.
        read_serving_model(champion, self, self.config.endpoint_name)
        champion.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[registry.package_arn_pattern])
        )

        deploy = self.deploy.role
        # Inside the lock: the endpoint's state, the serving and the challenging packages, and the
        # batches each was trained on (their metrics.json).
        read_serving_model(deploy, self, self.config.endpoint_name)
        deploy.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[registry.package_arn_pattern])
        )
        s3_read(deploy, buckets.artifacts, [S3Prefixes.REPORTS])

    def _grant_plan_and_evaluate(self, buckets: DataBucketNames) -> None:
        plan = self.plan.role
        # Batches are listed and their validation.json read; the champion's metrics.json names the
        # batches it trained on; the plan, manifest and retraining state are written.
        s3_read(plan, buckets.curated, [S3Prefixes.SNAPSHOTS])
        s3_read(plan, buckets.artifacts, [S3Prefixes.REPORTS])
        s3_write(plan, buckets.artifacts, [S3Prefixes.PLANS, S3Prefixes.RETRAINING])

        evaluate = self.evaluate.role
        s3_read(evaluate, buckets.artifacts, [S3Prefixes.TRAINING, S3Prefixes.REPORTS])
        s3_write(evaluate, buckets.artifacts, [S3Prefixes.REPORTS])

    def _grant_register(self, buckets: DataBucketNames) -> None:
        register = self.register.role
        # CreateModelPackage checks that the caller can read the artifacts and metric reports it names.
        s3_read(register, buckets.artifacts, [S3Prefixes.TRAINING, S3Prefixes.REPORTS])
        # The model card (model-card.json, .html) is written beside the run's reports.
        s3_write(register, buckets.artifacts, [S3Prefixes.REPORTS])
        register.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                ],
                resources=[self.registry.group_arn, self.registry.package_arn_pattern],
            )
        )

    def _grant_trigger(self, buckets: DataBucketNames) -> None:
        trigger = self.trigger.role
        name = self.state_machine_name
        trigger.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution", "states:ListExecutions"],
                resources=[self.state_machine.state_machine_arn],
            )
        )
        # Deduplication: an execution name that exists already is looked up, not started twice.
        trigger.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[
                    self.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{name}:*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        acknowledge(
            trigger,
            f"AwsSolutions-IAM5[Resource::{nag_arn('states', f'execution:{name}:*')}]",
            "Executions of the pipeline are named per event; only this state machine's are readable.",
        )
        # A retraining names the newest batch, found by listing and reading validation.json; the
        # retraining state (last trained batch, a deferred trigger) lives in the artifacts bucket.
        s3_read(trigger, buckets.curated, [S3Prefixes.SNAPSHOTS])
        s3_read(trigger, buckets.artifacts, [S3Prefixes.RETRAINING])
        s3_write(trigger, buckets.artifacts, [S3Prefixes.RETRAINING])
        trigger.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:DeleteObject"],
                resources=[f"{buckets.artifacts.arn}/{S3Prefixes.RETRAINING}pending.json"],
            )
        )
        # A recheck asks whether a drift or quality alarm is still in ALARM.
        trigger.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"],
                resources=[
                    self.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=alarm,
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for alarm in (self.config.alarm_name, self.config.quality_alarm_name)
                ],
            )
        )

    def _outputs(self) -> None:
        outputs = {
            "StateMachineArn": self.state_machine.state_machine_arn,
            "StateMachineName": self.state_machine.state_machine_name,
            "NotificationsTopicArn": self.notifications.topic.topic_arn,
            "ModelPackageGroupName": self.registry.group_name,
            "EndpointName": self.config.endpoint_name,
            "SageMakerRoleArn": self.sagemaker_role.role_arn,
            "TrainingImageUri": self.images.training_image_uri,
            "InferenceImageUri": self.images.inference_image_uri,
            "SourceArchiveUrl": self.training_code.s3_url,
            "PublishedSourceArchiveUrl": self.source_archive.url,
            "UploadRuleName": self.upload_rule.rule.rule_name,
            "TriggerDeadLetterQueueUrl": self.trigger_dead_letters.queue_url,
            "ApprovalMode": self.approval,
            "DeploymentLockTableName": self.pipeline.deployment.lock.table.table_name,
            "RollbackAlarmNames": ",".join(self.pipeline.deployment.alarms.names),
        }
        if self.approval_rule is not None:
            outputs["ApprovalRuleName"] = self.approval_rule.rule.rule_name
        for name, fn in (
            ("Trigger", self.trigger),
            ("Validate", self.validate),
            ("Champion", self.champion),
            ("Plan", self.plan),
            ("Evaluate", self.evaluate),
            ("Register", self.register),
            ("Deploy", self.deploy),
        ):
            outputs[f"{name}FunctionName"] = fn.function.function_name
        for output_id, value in outputs.items():
            cdk.CfnOutput(self, output_id, value=value)
