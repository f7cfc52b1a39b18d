"""What a synthesized stage deploys, read off its templates: the inputs of preflight and the cost model.

Counting from the templates (not from ``cdk.json``) means a change anywhere in the CDK app — a new
function, another alarm, a different instance type in the state machine — reaches ``mlops cost`` and
``mlops preflight`` without anyone remembering to update them. What the templates cannot say (which
metrics the handlers publish) comes from the contract in docs/ARCHITECTURE.md, "Metrics", with the
dataset's features read from the schema file packaged into the Lambda code asset — the very file
the deployed drift function reads.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlops.deploy.template import Unresolvable, render, token_target
from mlops.local.assembly import CloudAssembly
from pipelines.schema import DatasetSchema, load_schema

__all__ = [
    "PIPELINE_METRICS_PER_EXECUTION",
    "QUALITY_METRICS_PER_LABEL_FILE",
    "AlarmFacts",
    "BootstrapRequirement",
    "FactsError",
    "FunctionFacts",
    "InstanceFacts",
    "LayerRef",
    "MetricFacts",
    "PathFacts",
    "PipelineFacts",
    "RoleRef",
    "StageFacts",
    "WaitLoop",
    "drift_metrics_per_run",
    "extract_facts",
    "schedule_minutes",
]

# docs/ARCHITECTURE.md "Metrics": the groundtruth function publishes LabelledRecords, Accuracy, RocAuc,
# F1, Precision, Recall, LabelPositiveRate and QualityDrop (dimension Model) per label file.
QUALITY_METRICS_PER_LABEL_FILE = 8
# ExecutionsStarted{Trigger} from trigger, then ModelsApproved or ModelsRejected from evaluate.
PIPELINE_METRICS_PER_EXECUTION = 2
# Model-level drift metrics: WindowRecords, InsufficientData, DriftDetected, DriftShare, PredictionPSI.
_DRIFT_MODEL_METRICS = 5

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_RATE_MINUTES = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}


class FactsError(ValueError):
    """The assembly holds something the facts cannot be read from (the message says what)."""


@dataclass(frozen=True)
class FunctionFacts:
    """One Lambda function and what invokes it."""

    key: str  # "<stack>/<logicalId>", unique in the app
    name: str
    memory_mb: int
    architecture: str  # "x86_64" | "arm64"
    schedule_minutes: tuple[float, ...] = ()  # one entry per schedule rule targeting it
    upload_rules: int = 0  # rules for objects under the upload prefix
    label_rules: int = 0  # rules for objects under the ground-truth prefix
    alarm_rules: int = 0  # rules for CloudWatch alarm state changes
    traced: bool = False
    environment: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scheduled_runs_per_hour(self) -> float:
        return sum(60.0 / minutes for minutes in self.schedule_minutes)


@dataclass(frozen=True)
class PathFacts:
    """One way through the state machine from its start to a successful end (errors excluded)."""

    states: tuple[str, ...]
    lambda_calls: Mapping[str, int]  # FunctionFacts.key -> invocations on this path
    sns_publishes: int
    trains: bool
    deploys: bool

    @property
    def transitions(self) -> int:
        """Step Functions bills each state entered; a path of N states is N transitions."""
        return len(self.states)


@dataclass(frozen=True)
class WaitLoop:
    """A polling loop next to the deploy path: a Wait state and the states that lead back to it."""

    wait_seconds: int
    states_per_poll: int


@dataclass(frozen=True)
class InstanceFacts:
    instance_type: str
    count: int


@dataclass(frozen=True)
class PipelineFacts:
    """The state machine: its deploy path, its no-training path, its instances and logging."""

    name: str
    deploy: PathFacts
    skip: PathFacts | None
    wait_loops: tuple[WaitLoop, ...]
    training: InstanceFacts
    training_volume_gb: int
    endpoint: tuple[InstanceFacts, ...]
    capture_percent: int
    logs_every_transition: bool
    traced: bool


@dataclass(frozen=True)
class AlarmFacts:
    name: str
    period_seconds: int
    metrics: int  # CloudWatch bills an alarm per metric it evaluates
    notifies: bool

    @property
    def high_resolution(self) -> bool:
        return self.period_seconds < 60


@dataclass(frozen=True)
class MetricFacts:
    """Custom metrics the handlers publish (docs/ARCHITECTURE.md "Metrics"), sized by the schema."""

    drift_per_run: int
    drift_calls_per_run: int  # PutMetricData calls: 20 data per call (functions/drift/publish.py)
    quality_per_label_file: int
    pipeline_per_execution: int


@dataclass(frozen=True)
class BootstrapRequirement:
    """The CDK bootstrap version the assembly requires, and where the account records its own."""

    version: int
    parameter: str


@dataclass(frozen=True)
class LayerRef:
    """A layer ARN as the template writes it (region-dependent), and the functions that use it."""

    stack: str
    value: Any
    functions: tuple[str, ...]


@dataclass(frozen=True)
class RoleRef:
    """An IAM role trusted through web identity (the OIDC deploy role), as its template defines it."""

    stack: str  # the stack's name
    logical_id: str
    role_name: Any  # a template value, or None when CloudFormation generates the name


@dataclass(frozen=True)
class StageFacts:
    """Everything preflight and the cost model read from one synthesized stage."""

    stacks: tuple[str, ...]
    functions: tuple[FunctionFacts, ...]
    pipeline: PipelineFacts
    alarms: tuple[AlarmFacts, ...]
    dashboards: int
    kms_keys: int
    topics: int
    metrics: MetricFacts
    retrain_on_upload: bool
    drift_function: str  # FunctionFacts.key of the scheduled drift check
    drift_window_minutes: int
    ground_truth_lookback_hours: int
    image_tag: str | None = None
    bootstrap: BootstrapRequirement | None = None
    layers: tuple[LayerRef, ...] = ()
    images: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # region -> image URIs
    deploy_roles: tuple[RoleRef, ...] = ()
    mappings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # stack -> Mappings

    def function(self, key: str) -> FunctionFacts:
        for function in self.functions:
            if function.key == key:
                return function
        raise KeyError(f"no function {key!r}; functions: {[f.key for f in self.functions]}")


def drift_metrics_per_run(schema: DatasetSchema) -> int:
    """Metrics one drift run publishes: the model-level five, PSI per feature, KS per numeric one."""
    judged = len(schema.numeric_features) + len(schema.categorical_features)
    return _DRIFT_MODEL_METRICS + judged + len(schema.numeric_features)


def extract_facts(assembly: CloudAssembly, *, upload_prefix: str, labels_prefix: str) -> StageFacts:
    """Read a stage's facts from its synthesized assembly.

    ``upload_prefix`` and ``labels_prefix`` (``mlops.uploadPrefix``, ``mlops.groundTruth.prefix``)
    tell an upload rule from a ground-truth rule: both match S3 "Object Created" events by prefix.
    """
    resources = _Resources(assembly)
    functions = {key: _function(key, props) for key, props in resources.of_type("AWS::Lambda::Function")}
    for key, props in resources.of_type("AWS::Events::Rule", "AWS::Scheduler::Schedule"):
        _attach_rule(functions, resources, key, props, upload_prefix, labels_prefix)
    pipeline = _pipeline(resources, functions)
    drift = _single(functions.values(), "DRIFT_WINDOW_MINUTES", "the drift function")
    ground_truth = _single(functions.values(), "GROUND_TRUTH_LOOKBACK_HOURS", "the ground-truth function")
    planner = _single(functions.values(), "RETRAIN_ON_UPLOAD", "the plan function")
    schema = _packaged_schema(assembly, resources, drift.key)
    drift_count = drift_metrics_per_run(schema)
    images = _images(assembly)
    return StageFacts(
        stacks=tuple(stack.name for stack in assembly.stacks),
        functions=tuple(functions.values()),
        pipeline=pipeline,
        alarms=tuple(_alarm(resources, key, props) for key, props in resources.of_type("AWS::CloudWatch::Alarm")),
        dashboards=len(list(resources.of_type("AWS::CloudWatch::Dashboard"))),
        kms_keys=len(list(resources.of_type("AWS::KMS::Key"))),
        topics=len(list(resources.of_type("AWS::SNS::Topic"))),
        metrics=MetricFacts(
            drift_per_run=drift_count,
            drift_calls_per_run=math.ceil(drift_count / 20),
            quality_per_label_file=QUALITY_METRICS_PER_LABEL_FILE,
            pipeline_per_execution=PIPELINE_METRICS_PER_EXECUTION,
        ),
        retrain_on_upload=str(planner.environment["RETRAIN_ON_UPLOAD"]).lower() == "true",
        drift_function=drift.key,
        drift_window_minutes=int(drift.environment["DRIFT_WINDOW_MINUTES"]),
        ground_truth_lookback_hours=int(ground_truth.environment["GROUND_TRUTH_LOOKBACK_HOURS"]),
        image_tag=_image_tag(images),
        bootstrap=_bootstrap(assembly.directory),
        layers=_layers(resources),
        images=images,
        deploy_roles=tuple(_deploy_roles(assembly)),
        mappings={stack.name: stack.template.get("Mappings", {}) for stack in assembly.stacks},
    )


class _Resources:
    """The app's resources keyed ``<stack>/<logicalId>``, and cross-stack references resolved."""

    def __init__(self, assembly: CloudAssembly) -> None:
        self.stacks = {stack.name: stack for stack in assembly.stacks}
        self.exports: dict[str, tuple[str, Any]] = {}
        for stack in assembly.stacks:
            for output in stack.template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if isinstance(name, str):
                    self.exports[name] = (stack.name, output["Value"])

    def of_type(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for stack in self.stacks.values():
            for logical_id, resource in stack.template.get("Resources", {}).items():
                if resource.get("Type") in types:
                    yield f"{stack.name}/{logical_id}", resource.get("Properties", {})

    def type_of(self, key: str) -> str | None:
        stack, logical_id = key.split("/", 1)
        kind = self.stacks[stack].template.get("Resources", {}).get(logical_id, {}).get("Type")
        return str(kind) if kind is not None else None

    def target(self, stack: str, value: Any) -> str | None:
        """The ``<stack>/<logicalId>`` a Ref, GetAtt or ImportValue of an export points at."""
        if isinstance(value, Mapping) and len(value) == 1:
            ((kind, argument),) = value.items()
            if kind == "Ref" and isinstance(argument, str) and not argument.startswith("AWS::"):
                return f"{stack}/{argument}"
            if kind == "Fn::GetAtt":
                logical_id = argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
                return f"{stack}/{logical_id}"
            if kind == "Fn::ImportValue" and isinstance(argument, str) and argument in self.exports:
                exporter, exported = self.exports[argument]
                return self.target(exporter, exported)
        return None


def _function(key: str, props: Mapping[str, Any]) -> FunctionFacts:
    name = props.get("FunctionName")
    architectures = props.get("Architectures") or ["x86_64"]
    return FunctionFacts(
        key=key,
        name=name if isinstance(name, str) else key.split("/", 1)[1],
        memory_mb=int(props.get("MemorySize", 128)),  # CloudFormation's default
        architecture=str(architectures[0]),
        traced=props.get("TracingConfig", {}).get("Mode") == "Active",
        environment=dict(props.get("Environment", {}).get("Variables", {})),
    )


def schedule_minutes(expression: str) -> float:
    """Minutes between runs of ``rate(N unit)``; cron schedules are refused rather than guessed."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise FactsError(f"schedule {expression!r}: only rate(...) schedules are modelled")
    return float(int(match.group(1)) * _RATE_MINUTES[match.group(2)])


def _attach_rule(
    functions: dict[str, FunctionFacts],
    resources: _Resources,
    key: str,
    props: Mapping[str, Any],
    upload_prefix: str,
    labels_prefix: str,
) -> None:
    stack = key.split("/", 1)[0]
    if props.get("State", "ENABLED") != "ENABLED":
        return
    targets = props.get("Targets") or ([props["Target"]] if "Target" in props else [])
    for target in targets:
        function_key = resources.target(stack, target.get("Arn"))
        if function_key not in functions:
            continue
        function = functions[function_key]
        if "ScheduleExpression" in props:
            minutes = schedule_minutes(str(props["ScheduleExpression"]))
            function = replace(function, schedule_minutes=(*function.schedule_minutes, minutes))
        else:
            kind = _pattern_kind(props.get("EventPattern") or {}, upload_prefix, labels_prefix)
            if kind is None:
                continue
            function = replace(function, **{kind: getattr(function, kind) + 1})
        functions[function_key] = function


def _pattern_kind(pattern: Mapping[str, Any], upload_prefix: str, labels_prefix: str) -> str | None:
    sources = pattern.get("source") or []
    if "aws.cloudwatch" in sources:
        return "alarm_rules"
    if "aws.s3" in sources:
        keys = pattern.get("detail", {}).get("object", {}).get("key", [])
        prefixes = {entry.get("prefix") for entry in keys if isinstance(entry, Mapping)}
        if upload_prefix in prefixes:
            return "upload_rules"
        if labels_prefix in prefixes:
            return "label_rules"
    return None


def _single(functions: Iterable[FunctionFacts], variable: str, what: str) -> FunctionFacts:
    found = [f for f in functions if variable in f.environment]
    if len(found) != 1:
        raise FactsError(f"expected one function with {variable} in its environment ({what}), found {len(found)}")
    return found[0]


def _pipeline(resources: _Resources, functions: Mapping[str, FunctionFacts]) -> PipelineFacts:
    machines = list(resources.of_type("AWS::StepFunctions::StateMachine"))
    if len(machines) != 1:
        raise FactsError(f"expected one state machine in the app, found {len(machines)}")
    key, props = machines[0]
    stack = key.split("/", 1)[0]
    try:
        definition = json.loads(render(props["DefinitionString"]))
    except (KeyError, Unresolvable, json.JSONDecodeError) as error:
        raise FactsError(f"{key}: cannot read the state machine definition ({error})") from error
    states: dict[str, Any] = definition["States"]
    paths = list(_paths(definition))
    if not paths:
        raise FactsError(f"{key}: no path from {definition['StartAt']} ends in success")
    facts = [_path_facts(path, states, stack, functions) for path in paths]
    full = [p for p in facts if p.trains and p.deploys] or _approved_later(facts)
    full = full or [p for p in facts if p.trains] or facts
    deploy = max(full, key=lambda p: p.transitions)
    skipping = [p for p in facts if not p.trains]
    skip = min(skipping, key=lambda p: p.transitions) if skipping else None
    training_state = next(states[s] for s in deploy.states if _is_training(states[s])) if deploy.trains else None
    if training_state is None:
        raise FactsError(f"{key}: no createTrainingJob state on any successful path")
    resource_config = training_state.get("Parameters", {}).get("ResourceConfig", {})
    config_state = next(
        (states[s] for s in deploy.states if "createEndpointConfig" in str(states[s].get("Resource"))), None
    )
    parameters = (config_state or {}).get("Parameters", {})
    variants = tuple(
        InstanceFacts(str(v["InstanceType"]), int(v.get("InitialInstanceCount", 1)))
        for v in parameters.get("ProductionVariants", [])
        if "InstanceType" in v
    )
    capture = parameters.get("DataCaptureConfig", {})
    logging = props.get("LoggingConfiguration", {})
    return PipelineFacts(
        name=str(props.get("StateMachineName", key)),
        deploy=deploy,
        skip=skip,
        wait_loops=tuple(_wait_loops(states, set(deploy.states))),
        training=InstanceFacts(str(resource_config["InstanceType"]), int(resource_config.get("InstanceCount", 1))),
        training_volume_gb=int(resource_config.get("VolumeSizeInGB", 0)),
        endpoint=variants,
        capture_percent=int(capture.get("InitialSamplingPercentage", 0)) if capture.get("EnableCapture", True) else 0,
        logs_every_transition=logging.get("Level") == "ALL" and bool(logging.get("Destinations")),
        traced=bool(props.get("TracingConfiguration", {}).get("Enabled")),
    )


def _approved_later(facts: list[PathFacts]) -> list[PathFacts]:
    """Where approval is manual no one run trains and deploys: a model costs the run that trains it
    (ending AwaitingApproval) plus the run its approval starts, which only deploys."""
    trains = [p for p in facts if p.trains]
    deploys = [p for p in facts if p.deploys and not p.trains]
    if not trains or not deploys:
        return []
    trained = max(trains, key=lambda p: p.transitions)
    deployed = max(deploys, key=lambda p: p.transitions)
    calls = dict(trained.lambda_calls)
    for key, count in deployed.lambda_calls.items():
        calls[key] = calls.get(key, 0) + count
    return [
        PathFacts(
            states=trained.states + deployed.states,
            lambda_calls=calls,
            sns_publishes=trained.sns_publishes + deployed.sns_publishes,
            trains=True,
            deploys=True,
        )
    ]


def _successors(state: Mapping[str, Any]) -> list[str]:
    if state["Type"] == "Choice":
        return [c["Next"] for c in state.get("Choices", [])] + ([state["Default"]] if "Default" in state else [])
    return [state["Next"]] if "Next" in state else []


def _paths(definition: Mapping[str, Any]) -> Iterator[tuple[str, ...]]:
    """Every simple path from StartAt to a Succeed state or an ``End`` (Catch edges are errors: left out)."""
    states = definition["States"]

    def walk(name: str, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        state = states[name]
        path = (*path, name)
        if state["Type"] == "Succeed" or state.get("End"):
            yield path
            return
        for successor in _successors(state):
            if successor not in path:
                yield from walk(successor, path)

    yield from walk(definition["StartAt"], ())


def _is_training(state: Mapping[str, Any]) -> bool:
    return "sagemaker:createTrainingJob" in str(state.get("Resource", ""))


def _path_facts(
    path: tuple[str, ...], states: Mapping[str, Any], stack: str, functions: Mapping[str, FunctionFacts]
) -> PathFacts:
    calls: dict[str, int] = {}
    publishes = 0
    for name in path:
        state = states[name]
        resource = str(state.get("Resource", ""))
        target = token_target(resource)
        if resource.endswith(":states:::lambda:invoke"):
            target = token_target(state.get("Parameters", {}).get("FunctionName"))
        if target is not None and f"{stack}/{target}" in functions:
            calls[f"{stack}/{target}"] = calls.get(f"{stack}/{target}", 0) + 1
        publishes += ":sns:publish" in resource
    endpoint_calls = ("sagemaker:createEndpoint", "sagemaker:updateEndpoint")
    return PathFacts(
        states=path,
        lambda_calls=calls,
        sns_publishes=publishes,
        trains=any(_is_training(states[name]) for name in path),
        deploys=any(str(states[name].get("Resource", "")).endswith(endpoint_calls) for name in path),
    )


def _wait_loops(states: Mapping[str, Any], on_path: set[str]) -> Iterator[WaitLoop]:
    """Wait states in a cycle that passes through the path: each poll enters the whole cycle once."""
    for name, state in states.items():
        if state["Type"] != "Wait" or not isinstance(state.get("Seconds"), int):
            continue
        cycle = _shortest_cycle(states, name)
        if cycle and on_path.intersection(cycle):
            yield WaitLoop(wait_seconds=state["Seconds"], states_per_poll=len(cycle))


def _shortest_cycle(states: Mapping[str, Any], start: str) -> tuple[str, ...] | None:
    frontier: list[tuple[str, ...]] = [(start,)]
    seen = {start}
    while frontier:
        following: list[tuple[str, ...]] = []
        for path in frontier:
            for successor in _successors(states[path[-1]]):
                if successor == start:
                    return path
                if successor not in seen:
                    seen.add(successor)
                    following.append((*path, successor))
        frontier = following
    return None


def _alarm(resources: _Resources, key: str, props: Mapping[str, Any]) -> AlarmFacts:
    stack = key.split("/", 1)[0]
    metrics = props.get("Metrics")
    count = sum(1 for m in metrics if "MetricStat" in m) if metrics else 1
    period = props.get("Period") or next(
        (m["MetricStat"].get("Period", 60) for m in metrics or [] if "MetricStat" in m), 60
    )
    actions = [*(props.get("AlarmActions") or []), *(props.get("OKActions") or [])]
    targets = [resources.target(stack, action) for action in actions]
    notifies = any(t is not None and resources.type_of(t) == "AWS::SNS::Topic" for t in targets)
    name = props.get("AlarmName")
    return AlarmFacts(
        name=name if isinstance(name, str) else key.split("/", 1)[1],
        period_seconds=int(period),
        metrics=max(count, 1),
        notifies=notifies,
    )


def _packaged_schema(assembly: CloudAssembly, resources: _Resources, function_key: str) -> DatasetSchema:
    """The schema in the drift function's code asset: what the deployed function will read."""
    stack, logical_id = function_key.split("/", 1)
    code = resources.stacks[stack].template["Resources"][logical_id]["Properties"].get("Code", {})
    key = code.get("S3Key")
    for asset in assembly.assets:
        if asset.key == key and asset.source.is_dir() and (asset.source / "schema.json").is_file():
            return load_schema(asset.source / "schema.json")
    raise FactsError(f"{function_key}: its code asset {key!r} with schema.json is not in {assembly.directory}")


def _bootstrap(directory: Path) -> BootstrapRequirement | None:
    """The highest ``requiresBootstrapStackVersion`` of the stacks and asset manifests (lookups excluded)."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    versions: list[int] = []
    parameter = "/cdk-bootstrap/hnb659fds/version"
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") not in ("aws:cloudformation:stack", "cdk:asset-manifest"):
            continue
        properties = artifact.get("properties", {})
        if "requiresBootstrapStackVersion" in properties:
            versions.append(int(properties["requiresBootstrapStackVersion"]))
            parameter = properties.get("bootstrapStackVersionSsmParameter", parameter)
    return BootstrapRequirement(version=max(versions), parameter=parameter) if versions else None


def _layers(resources: _Resources) -> tuple[LayerRef, ...]:
    found: dict[str, LayerRef] = {}
    for key, props in resources.of_type("AWS::Lambda::Function"):
        stack = key.split("/", 1)[0]
        name = _function(key, props).name
        for layer in props.get("Layers", []):
            identity = f"{stack}:{json.dumps(layer, sort_keys=True)}"
            previous = found.get(identity)
            functions = (*previous.functions, name) if previous else (name,)
            found[identity] = LayerRef(stack=stack, value=layer, functions=functions)
    return tuple(found.values())


def _images(assembly: CloudAssembly) -> dict[str, dict[str, str]]:
    """The region table of the framework image (infra/constructs/framework_image.py) in the templates."""
    for stack in assembly.stacks:
        for mapping in stack.template.get("Mappings", {}).values():
            rows = list(mapping.values())
            if rows and all(isinstance(row, Mapping) and "trainingImage" in row for row in rows):
                return {region: dict(row) for region, row in mapping.items()}
    return {}


def _image_tag(images: Mapping[str, Mapping[str, str]]) -> str | None:
    for row in images.values():
        return row["trainingImage"].rsplit(":", 1)[-1]
    return None


def _deploy_roles(assembly: CloudAssembly) -> Iterator[RoleRef]:
    for stack in assembly.stacks:
        for logical_id, resource in stack.template.get("Resources", {}).items():
            if resource.get("Type") == "AWS::IAM::Role" and _trusts_web_identity(resource.get("Properties", {})):
                yield RoleRef(stack=stack.name, logical_id=logical_id, role_name=resource["Properties"].get("RoleName"))


def _trusts_web_identity(props: Mapping[str, Any]) -> bool:
    statements = props.get("AssumeRolePolicyDocument", {}).get("Statement", [])
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if "sts:AssumeRoleWithWebIdentity" in actions:
            return True
    return False
