"""The deployment phase of the pipeline state machine: one deployment at a time, decided at deploy time.

Entered with ``$.deploy.modelPackageArn`` (the run's own challenger, or a version approved or
rolled back to by a person), it takes the endpoint's lock (``DeploymentLock``), asks the deploy
function what to do on the endpoint's state *now*, and acts:

- ``create``/``update``: create the SageMaker model from the package's registry entry, an endpoint
  config with data capture, then CreateEndpoint or a blue/green UpdateEndpoint (traffic shifted
  all at once, canary or linear, rolled back by the endpoint's alarms while it bakes), and poll
  until the endpoint serves the new config. Then the registry marks the package ``serving=true``
  and the one it replaced ``serving=false``;
- ``delete``: the endpoint is ``Failed``; delete it, wait, decide again (then: create);
- ``wait``: SageMaker is changing the endpoint; wait, decide again;
- ``skip``: nothing to deploy (``Superseded``, ``AlreadyServing``, ``NotApproved``).

Every way out releases the lock, and every run ends in a state named after what happened:
``Deployed``, ``Superseded``, ``AlreadyServing`` (succeeded), or failed with ``ModelNotApproved``,
``DeploymentRolledBack`` (the previous model still serves), ``EndpointFailed`` or
``UpdateRollbackFailed``, each with a notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from functions.shared.contracts import DeployInput, DeploymentResult
from infra.config import DeploymentConfig, ServingConfig
from infra.constructs.deployment_lock import DeploymentLock
from infra.constructs.notices import notice
from infra.constructs.retries import retry_transient
from infra.constructs.rollback_alarms import RollbackAlarms
from infra.constructs.state_contracts import contract_payload, state_path
from infra.naming import BucketRef

__all__ = ["VARIANT_NAME", "DeploymentPhase", "deployment_config"]

VARIANT_NAME = "AllTraffic"


def _execution_scoped(kind: str) -> str:
    """``<kind>-<executionName>``: names that tie a SageMaker resource to the run that made it."""
    return sfn.JsonPath.format(f"{kind}-{{}}", sfn.JsonPath.execution_name)


def deployment_config(deployment: DeploymentConfig, alarm_names: list[str]) -> dict[str, object]:
    """UpdateEndpoint's ``DeploymentConfig``: blue/green with the configured traffic shift and rollback."""
    routing: dict[str, object] = {"Type": deployment.mode, "WaitIntervalInSeconds": deployment.wait_seconds}
    if deployment.mode == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": deployment.canary_percent}
    elif deployment.mode == "LINEAR":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": deployment.linear_step_percent}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": deployment.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": deployment.maximum_execution_timeout_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarm_names]},
    }


class DeploymentPhase(Construct):
    """The deploy states; ``start`` is the entry, reached with ``$.deploy.modelPackageArn`` set."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_scope: Construct,
        decide: lambda_.IFunction,
        sagemaker_role: iam.IRole,
        artifacts: BucketRef,
        capture_prefix: str,
        serving: ServingConfig,
        endpoint_name: str,
        name_prefix: str,
        state_machine_name: str,
        topic: sns.ITopic,
        notify_failure: sfn.State,
        package_arn_pattern: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._scope = state_scope  # states are named by their id, so they live beside the pipeline's
        self._endpoint = endpoint_name
        self._serving = serving
        self._topic = topic
        self._sagemaker_role = sagemaker_role
        self._decide = decide
        self._artifacts = artifacts
        self._capture_prefix = capture_prefix
        self._package_arn_pattern = package_arn_pattern
        self._poll = cdk.Duration.seconds(serving.endpoint_poll_seconds)
        self.execution_arn_pattern = cdk.Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.lock = DeploymentLock(
            self,
            "Lock",
            table_name=f"{name_prefix}-deployment-locks",
            endpoint_name=endpoint_name,
            execution_arn_pattern=self.execution_arn_pattern,
            poll=self._poll,
        )
        self.alarms = RollbackAlarms(
            self,
            "RollbackAlarms",
            name_prefix=name_prefix,
            endpoint_name=endpoint_name,
            variant_name=VARIANT_NAME,
            config=serving.deployment.rollback_alarms,
        )
        self.start: sfn.State = self._states(notify_failure)

    def _states(self, notify_failure: sfn.State) -> sfn.State:
        """Lock, decide, act, release, finish; returns the entry (``AcquireDeploymentLock``)."""
        # Holding the lock, any error releases it first, then takes the pipeline's failure path.
        release_after_error = self.lock.release(self._scope, "ReleaseDeploymentLockAfterError")
        release_after_error.add_catch(notify_failure, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
        release_after_error.next(notify_failure)
        self._release_after_error = release_after_error

        def before_lock(task: sfn.TaskStateBase) -> None:
            task.add_catch(notify_failure, errors=["States.ALL"], result_path=state_path("error"))

        entry, held = self.lock.acquire(self._scope, on_error=before_lock)
        finish = self._finish()
        release = self.lock.release(self._scope, "ReleaseDeploymentLock")
        release.add_catch(finish, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
        release.next(finish)

        decide_state = self._decision()
        held.next(decide_state)
        decide_state.next(self._act(decide_state, release))
        return entry

    # --- building blocks -------------------------------------------------------------------

    def _held(self, task: sfn.TaskStateBase | sfn.CustomState) -> sfn.TaskStateBase | sfn.CustomState:
        """Retry transient errors; anything else releases the lock and fails the run."""
        retry_transient(task)
        task.add_catch(self._release_after_error, errors=["States.ALL"], result_path=state_path("error"))
        return task

    def _record(self, state_id: str, result: dict[str, str]) -> sfn.Pass:
        """What the deployment came to, in ``$.result`` (read after the lock is released)."""
        return sfn.Pass(
            self._scope,
            state_id,
            parameters=contract_payload(DeploymentResult, result),
            result_path=state_path("result"),
        )

    def _decision(self) -> sfn.TaskStateBase:
        decide = tasks.LambdaInvoke(
            self._scope,
            "DecideDeployment",
            lambda_function=self._decide,
            payload=sfn.TaskInput.from_object(
                contract_payload(
                    DeployInput,
                    {
                        "modelPackageArn": sfn.JsonPath.string_at(state_path("deploy", "modelPackageArn")),
                        "reason": sfn.JsonPath.string_at(state_path("reason")),
                    },
                )
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=state_path("decision"),
        )
        self._held(decide)
        return decide

    def _act(self, decide: sfn.TaskStateBase, release: sfn.INextable) -> sfn.Choice:
        wait = sfn.Wait(self._scope, "WaitForEndpointChange", time=sfn.WaitTime.duration(self._poll))
        wait.next(decide)
        delete = tasks.CallAwsService(
            self._scope,
            "DeleteFailedEndpoint",
            service="sagemaker",
            action="deleteEndpoint",
            iam_resources=[self._endpoint_arn()],
            parameters={"EndpointName": self._endpoint},
            result_path=sfn.JsonPath.DISCARD,
        )
        self._held(delete).next(wait)
        skip = self._record(
            "RecordSkipped",
            {"outcome.$": state_path("decision", "outcome"), "why.$": state_path("decision", "why")},
        )
        skip.next(release)  # type: ignore[arg-type]
        deploy = self._deploy(release)
        action = state_path("decision", "action")
        return (
            sfn.Choice(self._scope, "DeploymentAction?")
            .when(sfn.Condition.string_equals(action, "wait"), wait)
            .when(sfn.Condition.string_equals(action, "delete"), delete)
            .when(sfn.Condition.string_equals(action, "skip"), skip)
            .otherwise(deploy)
        )

    def _custom(self, state_id: str, action: str, parameters: Mapping[str, Any], **extra: Any) -> sfn.CustomState:
        state = sfn.CustomState(
            self._scope,
            state_id,
            state_json={
                "Type": "Task",
                "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:{action}",
                "Parameters": dict(parameters),
                **extra,
            },
        )
        self._held(state)
        return state

    def _deploy(self, release: sfn.INextable) -> sfn.IChainable:
        """CreateModel -> CreateEndpointConfig -> CreateEndpoint or UpdateEndpoint -> the poll loop."""
        create_endpoint, update_endpoint = self._endpoint_changes()
        describe = self._describe_endpoint()
        create_endpoint.next(describe)
        update_endpoint.next(describe)
        wait = sfn.Wait(self._scope, "WaitForEndpoint", time=sfn.WaitTime.duration(self._poll))
        wait.next(describe)
        describe.next(self._endpoint_in_service(release, wait))
        create_or_update = (
            sfn.Choice(self._scope, "CreateOrUpdate?")
            .when(sfn.Condition.string_equals(state_path("decision", "action"), "create"), create_endpoint)
            .otherwise(update_endpoint)
        )
        return self._create_model().next(self._create_endpoint_config()).next(create_or_update)

    def _create_model(self) -> sfn.CustomState:
        challenger = ("decision", "challenger")
        return self._custom(
            "CreateModel",
            "createModel",
            {
                "ModelName.$": _execution_scoped("model"),
                "ExecutionRoleArn": self._sagemaker_role.role_arn,
                "PrimaryContainer": {
                    "Image.$": state_path(*challenger, "image"),
                    "ModelDataUrl.$": state_path(*challenger, "modelDataUrl"),
                    "Environment.$": state_path(*challenger, "environment"),
                },
            },
            ResultSelector={"modelArn.$": "$.ModelArn"},
            ResultPath=state_path("model"),
        )

    def _create_endpoint_config(self) -> sfn.CustomState:
        serving = self._serving
        return self._custom(
            "CreateEndpointConfig",
            "createEndpointConfig",
            {
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
                    "DestinationS3Uri": self._artifacts_capture_uri,
                    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                    "CaptureContentTypeHeader": {
                        "CsvContentTypes": ["text/csv"],
                        "JsonContentTypes": ["application/json"],
                    },
                },
            },
            # The name is kept so the poll loop can tell "serving this config" from a rolled-back
            # update that is InService on the previous one.
            ResultSelector={"name.$": _execution_scoped("config"), "arn.$": "$.EndpointConfigArn"},
            ResultPath=state_path("endpointConfig"),
        )

    def _endpoint_changes(self) -> tuple[sfn.CustomState, sfn.CustomState]:
        """``(CreateEndpoint, UpdateEndpoint)``: the update is blue/green, rolled back by the alarms."""
        endpoint_parameters = {"EndpointName": self._endpoint, "EndpointConfigName.$": _execution_scoped("config")}
        create_endpoint = self._custom(
            "CreateEndpoint", "createEndpoint", endpoint_parameters, ResultPath=sfn.JsonPath.DISCARD
        )
        update_endpoint = self._custom(
            "UpdateEndpoint",
            "updateEndpoint",
            {
                **endpoint_parameters,
                "DeploymentConfig": deployment_config(self._serving.deployment, self.alarms.names),
            },
            ResultPath=sfn.JsonPath.DISCARD,
        )
        return create_endpoint, update_endpoint

    def _describe_endpoint(self) -> tasks.CallAwsService:
        describe = tasks.CallAwsService(
            self._scope,
            "DescribeEndpoint",
            service="sagemaker",
            action="describeEndpoint",
            parameters={"EndpointName": self._endpoint},
            iam_resources=[self._endpoint_arn()],
            result_selector={
                "EndpointStatus": sfn.JsonPath.string_at("$.EndpointStatus"),
                "EndpointConfigName": sfn.JsonPath.string_at("$.EndpointConfigName"),
            },
            result_path=state_path("endpoint"),
        )
        self._held(describe)
        return describe

    def _endpoint_in_service(self, release: sfn.INextable, wait: sfn.Wait) -> sfn.Choice:
        """``EndpointInService?``: serving the new config (deployed), rolled back, failed, or not yet."""
        deployed, marked = self._mark_serving()
        marked.next(self._record("RecordDeployed", {"outcome": "Deployed"})).next(release)  # type: ignore[arg-type]
        challenger = state_path("decision", "challenger", "modelPackageArn")
        status, config_name = state_path("endpoint", "EndpointStatus"), state_path("endpoint", "EndpointConfigName")
        rolled_back = self._record(
            "RecordRolledBack",
            {
                "outcome": "Failed",
                "error": "DeploymentRolledBack",
                "cause.$": (
                    "States.Format('The update to {} ({}) was rolled back: {} serves again', "
                    f"{state_path('endpointConfig', 'name')}, {challenger}, {config_name})"
                ),
            },
        )
        failed = self._record(
            "RecordEndpointFailed",
            {
                "outcome": "Failed",
                "error": "EndpointFailed",
                "cause.$": (
                    "States.Format('The endpoint is {} on {}: the model of {} did not start', "
                    f"{status}, {config_name}, {challenger})"
                ),
            },
        )
        for record in (rolled_back, failed):
            record.next(release)  # type: ignore[arg-type]
        in_service = sfn.Condition.string_equals(status, "InService")
        serves_new_config = sfn.Condition.string_equals_json_path(config_name, state_path("endpointConfig", "name"))
        return (
            sfn.Choice(self._scope, "EndpointInService?")
            .when(sfn.Condition.and_(in_service, serves_new_config), deployed)
            .when(in_service, rolled_back)  # InService on the previous config: the update was rolled back
            .when(
                sfn.Condition.or_(
                    sfn.Condition.string_equals(status, "Failed"),
                    sfn.Condition.string_equals(status, "UpdateRollbackFailed"),
                ),
                failed,
            )
            .otherwise(wait)
        )

    def _mark_serving(self) -> tuple[sfn.State, sfn.Pass]:
        """The registry records which version serves: ``serving=true`` here, ``false`` on the one
        replaced. Returns ``(entry, exit)``."""
        now = sfn.JsonPath.string_at("$$.State.EnteredTime")
        mark = tasks.CallAwsService(
            self._scope,
            "MarkServing",
            service="sagemaker",
            action="updateModelPackage",
            iam_resources=[self._package_arn_pattern],
            parameters={
                "ModelPackageArn": sfn.JsonPath.string_at(state_path("decision", "challenger", "modelPackageArn")),
                "CustomerMetadataProperties": {"serving": "true", "servedSince": now, "endpoint": self._endpoint},
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        unmark = tasks.CallAwsService(
            self._scope,
            "UnmarkReplaced",
            service="sagemaker",
            action="updateModelPackage",
            iam_resources=[self._package_arn_pattern],
            parameters={
                "ModelPackageArn": sfn.JsonPath.string_at(state_path("decision", "serving", "modelPackageArn")),
                "CustomerMetadataProperties": {"serving": "false", "servedUntil": now},
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        self._held(mark)
        self._held(unmark)
        marked = sfn.Pass(self._scope, "ServingMarked")
        unmark.next(marked)
        mark.next(
            sfn.Choice(self._scope, "ReplacedAnother?")
            .when(sfn.Condition.boolean_equals(state_path("decision", "hasServing"), True), unmark)
            .otherwise(marked)
        )
        return mark, marked

    def _finish(self) -> sfn.Choice:
        """After the lock is released: end in a state named after what the deployment came to."""
        challenger = state_path("decision", "challenger", "modelPackageArn")
        notify_deployed = self._notify(
            "NotifyDeployed",
            "MLOps model deployed",
            {
                "event": "ModelDeployed",
                "executionArn": sfn.JsonPath.execution_id,
                "endpointName": self._endpoint,
                "modelPackageArn": sfn.JsonPath.string_at(challenger),
                "replaced": sfn.JsonPath.string_at(state_path("decision", "why")),
            },
        )
        notify_failed = self._notify(
            "NotifyDeploymentFailed",
            "MLOps deployment failed",
            {
                "event": sfn.JsonPath.string_at(state_path("result", "error")),
                "executionArn": sfn.JsonPath.execution_id,
                "endpointName": self._endpoint,
                "modelPackageArn": sfn.JsonPath.string_at(challenger),
                "cause": sfn.JsonPath.string_at(state_path("result", "cause")),
            },
        )
        deployed = sfn.Succeed(self._scope, "Deployed", comment="The endpoint serves this run's model")
        failed = sfn.Fail(
            self._scope,
            "DeploymentFailed",
            error_path=state_path("result", "error"),
            cause_path=state_path("result", "cause"),
        )
        # A notification that cannot be sent must not turn a true outcome into another one.
        notify_deployed.add_catch(deployed, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
        notify_failed.add_catch(failed, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
        notify_deployed.next(deployed)
        notify_failed.next(failed)
        outcome = state_path("result", "outcome")
        return (
            sfn.Choice(self._scope, "DeploymentOutcome?")
            .when(sfn.Condition.string_equals(outcome, "Deployed"), notify_deployed)
            .when(
                sfn.Condition.string_equals(outcome, "Superseded"),
                sfn.Succeed(self._scope, "Superseded", comment="A model with newer or more data already serves"),
            )
            .when(
                sfn.Condition.string_equals(outcome, "AlreadyServing"),
                sfn.Succeed(self._scope, "AlreadyServing", comment="This version already serves"),
            )
            .when(
                sfn.Condition.string_equals(outcome, "NotApproved"),
                sfn.Fail(
                    self._scope, "ModelNotApproved", error="ModelNotApproved", cause_path=state_path("result", "why")
                ),
            )
            .otherwise(notify_failed)
        )

    def _notify(self, state_id: str, subject: str, message: Mapping[str, Any]) -> tasks.SnsPublish:
        """A notice on the topic, retried on transient errors (each caller catches the rest)."""
        return retry_transient(notice(self._scope, state_id, topic=self._topic, subject=subject, message=message))

    # --- names and permissions -------------------------------------------------------------

    @property
    def _artifacts_capture_uri(self) -> str:
        return self._artifacts.s3_uri(self._capture_prefix.rstrip("/"))

    def _endpoint_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=self._endpoint.lower()
        )

    def grant(self, state_machine: sfn.StateMachine) -> None:
        """The custom SageMaker states get no automatic policy: grant exactly what they call."""
        stack = cdk.Stack.of(self)
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateModel"],
                resources=[stack.format_arn(service="sagemaker", resource="model", resource_name="model-*")],
            )
        )
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateEndpointConfig"],
                resources=[stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="config-*")],
            )
        )
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
                resources=[
                    self._endpoint_arn(),
                    stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="config-*"),
                ],
            )
        )
        # UpdateEndpoint checks the rollback alarms it is given.
        state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=self.alarms.arns)
        )
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self._sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
