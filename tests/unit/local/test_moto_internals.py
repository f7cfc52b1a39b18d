"""The moto internals the local cloud's adapters patch or call. moto is pinned exactly; if an
upgrade moves one of these, this test fails loudly instead of the local cloud faking a result."""

import inspect
from importlib.metadata import version

import moto
from moto.awslambda.models import LambdaFunction
from moto.cloudformation import parsing
from moto.cloudwatch.models import Alarm, CloudWatchBackend
from moto.events.models import EventPattern, Rule
from moto.s3.models import FakeBucket
from moto.sagemaker.models import FakeEndpoint, FakeTrainingJob, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)


def _parameters(function):
    return list(inspect.signature(function).parameters)


def test_moto_is_the_pinned_version():
    assert version("moto") == "5.2.5" == moto.__version__


def test_lambda_invoke_and_layers_hooks():
    assert _parameters(LambdaFunction._invoke_lambda) == ["self", "event"]
    assert _parameters(LambdaFunction._get_layers_data) == ["self", "layers_versions_arns"]
    assert "save_logs" in dir(LambdaFunction)


def test_step_functions_hooks():
    assert _parameters(state_task_factory.state_task_service_for) == ["service_name"]
    assert hasattr(sfn_models, "stepfunctions_backends")
    for name in ("_build_sync_resolver", "_eval_service_task", "_from_error"):
        assert hasattr(StateTaskServiceCallback, name)


def test_sagemaker_hooks():
    assert "training_job_name" in _parameters(SageMakerModelBackend.create_training_job)
    assert "update_endpoint" not in SageMakerResponse.__dict__, "moto now has UpdateEndpoint: drop the adapter"
    assert hasattr(SageMakerRuntimeResponse, "invoke_endpoint")
    assert "_process_production_variants" in dir(FakeEndpoint)
    assert "response_object" in dir(FakeTrainingJob)


def test_events_cloudformation_and_cloudwatch_hooks():
    assert _parameters(Rule.send_to_targets) == ["self", "original_event", "transform_input"]
    assert "_raw_pattern" in inspect.getsource(EventPattern.__init__)
    assert "scheduled_expression" in inspect.getsource(Rule.__init__)
    assert hasattr(parsing.get_model_list, "cache_clear")
    assert "create_from_cloudformation_json" in FakeBucket.__dict__
    assert "update_state" in Alarm.__dict__
    assert "put_metric_alarm" in CloudWatchBackend.__dict__


def test_hooks_of_the_fault_payload_and_retry_adapters():
    from moto.awslambda.responses import LambdaResponse
    from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
    from moto.s3.models import FakeKey, S3Backend
    from moto.s3.utils import compute_checksum
    from moto.sagemaker.exceptions import ResourceInUseException
    from moto.sqs.models import Queue
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.component.state.fail.state_fail import StateFail

    assert _parameters(LambdaFunction.invoke) == ["self", "body", "request_headers", "response_headers"]
    assert _parameters(LambdaResponse.setup_class) == ["self", "request", "full_url", "headers", "use_raw_body"]
    assert _parameters(BotocoreStubber.__call__) == ["self", "event_name", "request", "kwargs"]
    assert MockRawResponse and ResourceInUseException("x").code == "ResourceInUse"
    assert _parameters(S3Backend.copy_object)[:4] == ["self", "src_key", "dest_bucket_name", "dest_key_name"]
    from moto.s3.responses import S3Response

    assert _parameters(S3Response.head_object) == ["self", "bucket_name", "query", "key_name", "headers"]
    assert "key.etag != if_match" in inspect.getsource(S3Response.head_object), "moto fixed HeadObject: drop the patch"
    assert "multipart" in inspect.signature(FakeKey.__init__).parameters
    copy = inspect.getsource(S3Backend.copy_object)
    assert "multipart=src_key.multipart" in copy and "src_key.checksum_value" in copy
    assert _parameters(compute_checksum)[:2] == ["body", "algorithm"]
    assert "time.sleep(" in inspect.getsource(retrier_decl.RetrierDecl._eval_body)
    assert _parameters(StateTaskLambda._from_error) == ["self", "env", "ex"]
    assert "CustomErrorName(error_value)" in inspect.getsource(StateFail._eval_state)
    for gauge in ("approximate_number_of_messages", "approximate_number_of_messages_not_visible"):
        assert hasattr(Queue, gauge)


def test_every_declared_patch_point_exists_and_undoes_exactly():
    """The table of mlops.local.adapters.patches: each point is still in moto, and install/uninstall
    leaves the owner's own attributes exactly as they were (a classmethod stays a classmethod)."""
    from mlops.local.adapters.patches import PatchSet, patch_points

    points = patch_points()
    assert points and all(point.exists() for point in points), [str(p) for p in points if not p.exists()]
    before = [inspect.getattr_static(point.owner, point.name) for point in points]
    patches = PatchSet([(point, object()) for point in points])
    patches.install()
    assert all(getattr(point.owner, point.name) is replacement for point, replacement in patches.replacements)
    patches.uninstall()
    assert [inspect.getattr_static(point.owner, point.name) for point in points] == before
