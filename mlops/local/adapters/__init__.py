"""Small named adapters over moto: each adds one thing moto lacks, and nothing else.

The adapters that replace moto attributes declare each one as a ``PatchPoint`` in their module's
``PATCH_POINTS`` and install them through a ``PatchSet`` (`patches`, which lists them all):
`cfn_resources`, `endpoint_deployments`, `endpoints`, `eventbridge`, `faults`, `lambda_runtime`,
`model_registry`, `s3_objects`, `sfn_aws_sdk`, `sfn_errors`, `sfn_retry`, `sfn_sagemaker` and
`training`. The others patch nothing in moto: `alarms` evaluates CloudWatch alarms, `code_loader`
imports deployed code per owner, `process` gives each in-process execution its own environment.

tests/unit/local/test_moto_internals.py checks every patch point and every private moto name the
adapters use against the pinned moto version, and fails on a moto attribute replaced outside the
table, so an upgrade that moves one fails a test instead of silently faking a result.
"""
