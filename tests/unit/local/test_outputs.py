"""One reader of the deployed names for every driver of the system (demo, backtest, tests)."""

import pytest

from mlops.local.outputs import StackOutputs

OUTPUTS = {
    "IncomingBucketName": "in",
    "CuratedBucketName": "cur",
    "ArtifactsBucketName": "art",
    "StateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:p",
    "ModelPackageGroupName": "group",
    "EndpointName": "ep",
    "TriggerFunctionName": "trigger",
    "DriftAlarmName": "drift-alarm",
    "DriftScheduleRuleName": "drift-schedule",
    "QualityAlarmName": "quality-alarm",
    "RecheckScheduleRuleName": "recheck",
    "GroundTruthRuleName": "labels-rule",
    "GroundTruthPrefix": "labels/",
    "RetrainRuleName": "r1",
    "QualityRetrainRuleName": "r2",
    "DashboardName": "not needed",
}


def test_every_name_comes_from_its_output_and_the_upload_prefix_from_the_context():
    names = StackOutputs.from_outputs(OUTPUTS, "up/")
    assert (names.incoming_bucket, names.endpoint_name, names.ground_truth_prefix) == ("in", "ep", "labels/")
    assert names.alarms == ("drift-alarm", "quality-alarm")
    assert names.retrain_rules == ("r1", "r2") and names.recheck_schedule_rule == "recheck"
    assert names.upload_prefix == "up/"


@pytest.mark.parametrize("missing", ["EndpointName", "QualityAlarmName", "QualityRetrainRuleName"])
def test_a_missing_output_names_itself_and_the_ones_there_are(missing):
    with pytest.raises(KeyError, match=f"stack output {missing} is missing; outputs are \\['ArtifactsBucketName'"):
        StackOutputs.from_outputs({k: v for k, v in OUTPUTS.items() if k != missing}, "uploads/")
