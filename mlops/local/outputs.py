"""The deployed names a driver of the system needs, read once from the stacks' outputs.

The demo, the backtest and the tests drive the deployed system from outside, as a user would: they
upload to its buckets, call its endpoint, fire its schedules and read its alarms. The names come
from the stack outputs (`infra/stacks/*.py`, `CfnOutput`), never from guessing how CDK names things,
so one reader serves them all; a missing output names itself and lists the ones that exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["StackOutputs"]


@dataclass(frozen=True)
class StackOutputs:
    """What the stacks deploy, by role (outputs of the data, pipeline and monitoring stacks)."""

    incoming_bucket: str
    curated_bucket: str
    artifacts_bucket: str
    state_machine_arn: str
    model_package_group: str
    endpoint_name: str
    trigger_function: str
    drift_alarm_name: str
    drift_schedule_rule: str
    quality_alarm_name: str
    recheck_schedule_rule: str
    ground_truth_rule: str
    ground_truth_prefix: str
    retrain_rules: tuple[str, ...]  # the rules that start the trigger on an alarm (drift, quality)
    upload_prefix: str  # not an output: the `uploadPrefix` of the context the stacks were synthesized with

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, str], upload_prefix: str) -> StackOutputs:
        """`outputs`: every stack's outputs merged (`Deployment.outputs`, or CloudFormation's
        DescribeStacks); keys are unique across the app."""

        def need(key: str) -> str:
            if key not in outputs:
                raise KeyError(f"stack output {key} is missing; outputs are {sorted(outputs)}")
            return outputs[key]

        return cls(
            incoming_bucket=need("IncomingBucketName"),
            curated_bucket=need("CuratedBucketName"),
            artifacts_bucket=need("ArtifactsBucketName"),
            state_machine_arn=need("StateMachineArn"),
            model_package_group=need("ModelPackageGroupName"),
            endpoint_name=need("EndpointName"),
            trigger_function=need("TriggerFunctionName"),
            drift_alarm_name=need("DriftAlarmName"),
            drift_schedule_rule=need("DriftScheduleRuleName"),
            quality_alarm_name=need("QualityAlarmName"),
            recheck_schedule_rule=need("RecheckScheduleRuleName"),
            ground_truth_rule=need("GroundTruthRuleName"),
            ground_truth_prefix=need("GroundTruthPrefix"),
            retrain_rules=(need("RetrainRuleName"), need("QualityRetrainRuleName")),
            upload_prefix=upload_prefix,
        )

    @property
    def alarms(self) -> tuple[str, str]:
        """The two alarms that retrain: drift, then quality."""
        return (self.drift_alarm_name, self.quality_alarm_name)
