"""The moto internals the local cloud's adapters patch or call. moto is pinned exactly; if an
upgrade moves one of these, this test fails loudly instead of the local cloud faking a result."""

import ast
import inspect
import re
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import moto
import pytest
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


_MISSING = object()


def _own_entries(points):
    """What each point's owner holds in its own ``__dict__`` (``_MISSING``: inherited, or absent)."""
    return [vars(point.owner).get(point.name, _MISSING) for point in points]


def _install_arguments(module):
    """What each adapter's ``install`` takes: stand-ins, since installing calls none of them."""
    from mlops.local.adapters import faults, sfn_retry

    arguments = {
        "endpoints": [SimpleNamespace(lifecycle=object())],
        "eventbridge": [object()],
        "endpoint_deployments": [object()],
        "faults": [faults.FaultInjector()],
        "lambda_runtime": [object()],
        "sfn_retry": [sfn_retry.RetryClock()],
        "training": [object()],
    }
    return arguments.get(module.__name__.rsplit(".", 1)[-1], [])


def test_every_declared_patch_point_exists_and_undoes_exactly():
    """The table of mlops.local.adapters.patches: each point is still in moto as the adapter expects,
    and install/uninstall leaves the owner's own attributes exactly as they were (a classmethod stays a
    classmethod, an inherited attribute is not copied down, an added one is gone again)."""
    from mlops.local.adapters.patches import PatchSet, adapter_modules, patch_points

    points = patch_points()
    assert points and all(point.as_expected() for point in points), [str(p) for p in points if not p.as_expected()]
    assert len({(id(p.owner), p.name) for p in points}) == len(points), "two adapters patch the same attribute"
    before = _own_entries(points)
    patches = PatchSet([(point, object()) for point in points])
    patches.install()
    assert all(getattr(point.owner, point.name) is replacement for point, replacement in patches.replacements)
    patches.uninstall()
    assert all(after is entry for after, entry in zip(_own_entries(points), before, strict=True))

    # Each adapter's own install replaces every point it declares, and its uninstall undoes exactly.
    original = {(id(p.owner), p.name): entry for p, entry in zip(points, before, strict=True)}
    for module in adapter_modules():
        arguments = _install_arguments(module)
        module.install(*arguments)
        try:
            left = [
                str(p)
                for p in module.PATCH_POINTS
                if vars(p.owner).get(p.name, _MISSING) is original[(id(p.owner), p.name)]
            ]
            assert not left, f"{module.__name__} declares points its install leaves alone: {left}"
        finally:
            # faults.uninstall takes the injector: retire only this one, not a running cloud's
            module.uninstall(*arguments[: len(inspect.signature(module.uninstall).parameters)])
        moved = [str(p) for p, now, entry in zip(points, _own_entries(points), before, strict=True) if now is not entry]
        assert not moved, f"{module.__name__}.uninstall did not restore {moved}"


def test_a_patch_set_restores_what_the_owner_held_and_installs_all_or_nothing():
    from mlops.local.adapters.patches import PatchPoint, PatchSet

    class Base:
        def inherited(self):
            return "base"

    class Owner(Base):
        @classmethod
        def create(cls):
            return "original"

    classmethod_entry = vars(Owner)["create"]
    patches = PatchSet(
        [
            (PatchPoint(Owner, "create", "a classmethod"), classmethod(lambda cls: "replaced")),
            (PatchPoint(Owner, "inherited", "from the base"), lambda self: "replaced"),
            (PatchPoint(Owner, "added", "moto lacks it", adds=True), lambda self: "added"),
        ]
    )
    assert PatchPoint(Owner, "create", "").original() is classmethod_entry  # unbound, unlike getattr
    patches.install()
    assert (Owner.create(), Owner().inherited(), Owner().added()) == ("replaced", "replaced", "added")
    patches.uninstall()
    assert vars(Owner)["create"] is classmethod_entry and Owner.create() == "original"
    assert "inherited" not in vars(Owner) and Owner().inherited() == "base"
    assert not hasattr(Owner, "added")

    for moved in (PatchPoint(Owner, "gone", "renamed by an upgrade"), PatchPoint(Owner, "create", "", adds=True)):
        broken = PatchSet([(PatchPoint(Owner, "inherited", ""), None), (moved, None)])
        with pytest.raises(AttributeError, match="the adapter must follow moto"):
            broken.install()
        assert not broken.installed and "inherited" not in vars(Owner)


def test_cloudformation_types_are_registered_by_install_only():
    """The local resource types are in moto's model list while the adapter is installed, and only then."""
    from mlops.local.adapters import cfn_resources

    def local_types_listed():
        listed = parsing.get_model_list()
        mapped = parsing.get_model_map()
        return [t in listed and mapped.get(t.cloudformation_type()) is t for t in cfn_resources.LOCAL_TYPES]

    assert not any(local_types_listed()), "a local type is registered at import"
    cfn_resources.install()
    try:
        assert all(local_types_listed())
        assert parsing.get_name_type_map()["AWS::CloudWatch::Alarm"] == "AlarmName"
    finally:
        cfn_resources.uninstall()
    assert not any(local_types_listed())
    assert "AWS::CloudWatch::Alarm" not in parsing.get_name_type_map()
    cfn_resources.install()
    try:
        assert all(local_types_listed())
    finally:
        cfn_resources.uninstall()


# -- no patch outside the table -----------------------------------------------------------------
_LOCAL_ROOT = Path(__file__).resolve().parents[3] / "mlops" / "local"
_TABLE = _LOCAL_ROOT / "adapters" / "patches.py"


def _moto_names(tree: ast.Module) -> set[str]:
    """The names a module binds to moto objects: its moto imports, and module-level aliases of them."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "moto" or alias.name.startswith("moto."):
                    names.add(alias.asname or alias.name.split(".", 1)[0])
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and (node.module == "moto" or node.module.startswith("moto."))
        ):
            names.update(alias.asname or alias.name for alias in node.names)
    grew = True
    while grew:
        grew = False
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if _root(node.value) in names:
                    for target in targets:
                        if isinstance(target, ast.Name) and target.id not in names:
                            names.add(target.id)
                            grew = True
    return names


def _root(node: ast.AST) -> str | None:
    """The name at the root of ``a.b.c`` (None when the chain has a call or a subscript in it)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _flatten(targets: list[ast.expr]) -> list[ast.expr]:
    flat: list[ast.expr] = []
    for target in targets:
        if isinstance(target, ast.Tuple | ast.List):
            flat.extend(_flatten(list(target.elts)))
        elif isinstance(target, ast.Starred):
            flat.extend(_flatten([target.value]))
        else:
            flat.append(target)
    return flat


def _patches_an_attribute(target: ast.expr, moto: set[str]) -> bool:
    if isinstance(target, ast.Attribute):
        return _root(target) in moto
    return isinstance(target, ast.Subscript) and (
        (isinstance(target.value, ast.Attribute) and target.value.attr == "__dict__")
        or (isinstance(target.value, ast.Call) and ast.unparse(target.value.func) == "vars")
    )


def bare_patches(source: str, filename: str) -> list[str]:
    """``file:line`` of every statement that replaces an attribute of a moto object without the table:
    an assignment to (or ``del`` of) an attribute of a moto name, a write into some ``__dict__`` or
    ``vars(...)``, or any ``setattr``/``delattr``/``__setattr__``/``__delattr__`` call."""
    tree = ast.parse(source, filename)
    moto = _moto_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = _flatten(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign) and (
            isinstance(node, ast.AugAssign) or node.value is not None
        ):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = _flatten(node.targets)
        for target in targets:
            if _patches_an_attribute(target, moto):
                found.append((target.lineno, ast.unparse(target)))
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and func.id in {"setattr", "delattr"}) or (
                isinstance(func, ast.Attribute) and func.attr in {"__setattr__", "__delattr__"}
            ):
                found.append((node.lineno, ast.unparse(node)))
    return [f"{filename}:{line}: {text}" for line, text in sorted(found)]


def _local_sources():
    files = sorted(_LOCAL_ROOT.rglob("*.py"))
    assert len(files) > 20, f"found only {len(files)} modules under {_LOCAL_ROOT}"
    return [(path, path.read_text(encoding="utf-8")) for path in files]


def test_the_scan_finds_a_bare_patch():
    source = (
        "from moto.s3.models import S3Backend\n"
        "from moto.stepfunctions import models as sfn\n"
        "import moto.core\n"
        "Alias = S3Backend\n"
        "S3Backend.copy_object = None\n"
        "sfn.stepfunctions_backends = {}\n"
        "moto.core.x, y = 1, 2\n"
        "Alias.get_object = None\n"
        "del S3Backend.head_object\n"
        "setattr(object(), 'a', 1)\n"
        "S3Backend.__dict__['x'] = 1\n"
        "backend = S3Backend()\n"
        "backend().name = 'instance state, not a patch'\n"
    )
    assert [line.split(":")[1] for line in bare_patches(source, "f.py")] == [str(n) for n in range(5, 12)]


def test_no_module_patches_moto_outside_the_table():
    """A future bare patch (``Cls.method = ...``, ``setattr``) fails here: declare it as a PatchPoint."""
    found = [hit for path, source in _local_sources() if path != _TABLE for hit in bare_patches(source, str(path))]
    assert not found, "moto patched outside mlops/local/adapters/patches.py's table:\n" + "\n".join(found)


# -- private moto names the adapters call or read -----------------------------------------------
def _private_names_the_adapters_rely_on():
    """(owner, name) for every private attribute of moto (and the standard library) the local cloud
    calls, reads or overrides: none of them is an API, so each is checked against the pinned version."""
    import os

    from moto.sagemaker.responses import SageMakerResponse
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.component.state.fail.state_fail import StateFail

    return [
        (LambdaFunction, "_invoke_lambda"),
        (LambdaFunction, "_get_layers_data"),
        (SageMakerModelBackend, "_models"),
        (FakeEndpoint, "_process_production_variants"),
        (EventPattern, "_raw_pattern"),
        (StateTaskLambda, "_from_error"),
        (StateFail, "_eval_state"),
        (StateTaskServiceCallback, "_build_sync_resolver"),
        (StateTaskServiceCallback, "_eval_service_task"),
        (StateTaskServiceCallback, "_from_error"),
        (StateTaskServiceCallback, "_get_sfn_resource"),
        (StateTaskServiceCallback, "_get_sfn_resource_type"),
        (StateTaskServiceCallback, "_get_boto_service_action"),
        (StateTaskServiceCallback, "_get_supported_parameters"),  # moto calls it; subclasses define it
        (StateTaskServiceCallback, "_eval_integration_pattern"),
        (StateTaskServiceAwsSdk, "_get_boto_service_name"),
        (StateTaskServiceAwsSdk, "_get_boto_service_action"),
        (StateTaskServiceAwsSdk, "_to_boto_request"),
        (StateTaskServiceAwsSdk, "_from_boto_response"),
        (StateTaskServiceAwsSdk, "_normalise_parameters"),
        (StateTaskServiceAwsSdk, "_normalise_response"),
        (SageMakerResponse, "_get_param"),
        (os._Environ, "_data"),  # adapters.process shares the process environment's storage
    ]


def _has(owner, name):
    """An attribute of the class, or one its (or a base's) source assigns (``self.<name> = ...``, an
    instance attribute) or calls (``self.<name>(...)``, a hook moto calls but only subclasses define)."""
    if inspect.getattr_static(owner, name, _MISSING) is not _MISSING:
        return True
    for cls in inspect.getmro(owner):
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):  # a builtin or C base: no source, and not moto's
            continue
        if re.search(rf"self\.{name}\s*(\(|(:[^=\n]*)?=)", source):
            return True
    return False


def test_private_names_the_adapters_rely_on_exist():
    missing = [
        f"{owner.__qualname__}.{name}" for owner, name in _private_names_the_adapters_rely_on() if not _has(owner, name)
    ]
    assert not missing, f"moto moved private names the adapters use: {missing}"


# Private methods a local subclass of a moto class defines for itself (no moto counterpart to check).
_OWN_PRIVATE_METHODS_OF_MOTO_SUBCLASSES = {"_client"}  # adapters.sfn_sagemaker.SageMakerIntegration


def test_every_private_name_the_adapters_use_is_checked():
    """Each ``x._name`` in mlops/local that is not the local cloud's own (and each private method a local
    class overrides in a moto base class) is in the list above, so a new use cannot skip the canary."""
    private = re.compile(r"^_[a-z][a-z0-9_]*$")
    own: set[str] = set()
    used: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for path, source in _local_sources():
        tree = ast.parse(source, str(path))
        moto = _moto_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                own.add(node.name)
            if isinstance(node, ast.ClassDef):
                from_moto = any(_root(base) in moto for base in node.bases)
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        own.add(item.target.id)
                    if from_moto and isinstance(item, ast.FunctionDef) and private.match(item.name):
                        overrides[item.name] = f"{path}:{item.lineno}"
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                for target in _flatten(node.targets if isinstance(node, ast.Assign) else [node.target]):
                    if isinstance(target, ast.Attribute):
                        own.add(target.attr)
                    elif isinstance(target, ast.Name):
                        own.add(target.id)
            if isinstance(node, ast.Attribute) and private.match(node.attr):
                used.setdefault(node.attr, f"{path}:{node.lineno}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "hasattr"}
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and private.match(node.args[1].value)
            ):
                used.setdefault(node.args[1].value, f"{path}:{node.lineno}")
    checked = {name for _, name in _private_names_the_adapters_rely_on()} | _OWN_PRIVATE_METHODS_OF_MOTO_SUBCLASSES
    unchecked = {name: where for name, where in used.items() if name not in own and name not in checked}
    unchecked.update({name: where for name, where in overrides.items() if name not in checked})
    assert not unchecked, f"private names used without a check in this test: {unchecked}"


def test_every_module_that_declares_patch_points_is_in_the_table():
    """A module with its own PATCH_POINTS but missing from ADAPTER_MODULES would escape the canary."""
    import ast
    from pathlib import Path

    from mlops.local.adapters import patches

    folder = Path(patches.__file__).parent
    declaring = {
        path.stem
        for path in folder.glob("*.py")
        if any(
            isinstance(node, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(target, ast.Name) and target.id == "PATCH_POINTS"
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
            for node in ast.parse(path.read_text(encoding="utf-8")).body
        )
    }
    assert declaring, "no adapter declares PATCH_POINTS: the scan is broken"
    assert declaring == set(patches.ADAPTER_MODULES)
