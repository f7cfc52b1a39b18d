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
