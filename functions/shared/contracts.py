"""The payloads between the pipeline's states: one ``TypedDict`` per state's input and output.

docs/ARCHITECTURE.md ("Lambda functions", "State machine") is the prose of this contract; this
module is its checked form, in the same camelCase. The handlers build and read these dictionaries
(mypy checks every literal against them), and the state machine construct names its JSONPaths
through :func:`state_path`, which refuses a key the contract does not have, at synth. A renamed key
is then a type error in the function and a synth error in the state machine, not a run that fails
in the cloud with ``States.Runtime``.

Annotations are evaluated (no ``from __future__ import annotations``) so that each ``TypedDict``'s
``__required_keys__`` is exact on Python 3.11. Standard library only, on purpose: ``infra/``
imports this module (and nothing else of ``functions/``), and the Lambda asset carries it with the
handlers. tests/unit/project/test_layering.py checks both rules.

The SageMaker, DynamoDB and Step Functions responses a state keeps (``$.endpoint``, ``$.lock``,
...) are the services' own shapes: they are typed as plain mappings and their inner paths are not
checked here.
"""

import types
import typing
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "AlarmPayload",
    "AlarmReason",
    "ChampionOutput",
    "DataRef",
    "DeployAction",
    "DeployInput",
    "DeployOutcome",
    "DeployRequest",
    "DeploymentChallenger",
    "DeploymentDecision",
    "DeploymentResult",
    "DeploymentServing",
    "EvaluationOutput",
    "EvaluationReports",
    "ExecutionInput",
    "PipelineState",
    "PlanInput",
    "PlanOutput",
    "RegisterInput",
    "RegistrationOutput",
    "RunReason",
    "SnapshotRef",
    "StateError",
    "TrainingOutput",
    "TriggerOutput",
    "ValidatePartInput",
    "ValidatePartOutput",
    "ValidationItem",
    "ValidationOutput",
    "ValidationPlan",
    "ValidationReduceInput",
    "ValidationSummary",
    "state_path",
]

RunReason = Literal["upload", "drift", "quality", "manual", "recheck", "approval", "rollback"]
AlarmReason = Literal["drift", "quality"]


# -- the execution's input (written by the trigger function, `mlops rollback`) ----------------


class DataRef(TypedDict):
    """The S3 object a run validates, pinned to the version (or ETag) its event named."""

    bucket: str
    key: str
    versionId: str | None
    etag: str | None
    datasetVersion: NotRequired[str]  # an alarm's run: the curated batch it starts from


class AlarmPayload(TypedDict):
    """The alarm transition into ALARM that started a drift or quality run."""

    name: str
    arn: str
    stateChangeTime: str


class DeployRequest(TypedDict):
    """A deploy-only run's package (a registry approval, a rollback) or the run's own challenger."""

    modelPackageArn: str
    version: NotRequired[int | None]


class ExecutionInput(TypedDict):
    """What a pipeline execution starts with: data to validate, or a package to deploy."""

    reason: RunReason
    data: NotRequired[DataRef]
    deploy: NotRequired[DeployRequest]
    alarm: NotRequired[AlarmPayload]


class TriggerOutput(TypedDict):
    """What the trigger function answers: the run it started, or why it started none."""

    started: bool
    reason: str
    executionName: str | None
    executionArn: NotRequired[str]
    skipped: NotRequired[str]


# -- Validate (λ validate; ValidateParts / ReduceValidation on the map path) -------------------


class SnapshotRef(TypedDict):
    bucket: str
    key: str
    prefixUri: str


class ValidationSummary(TypedDict):
    """A valid batch, curated as a snapshot: ``$.validation`` once validation is done."""

    dataset: str
    datasetVersion: str
    snapshot: SnapshotRef
    reportUri: str
    rows: int
    positives: int
    sha256: str  # of the bytes validated (in map mode: of the parts' digests, see sha256Of in the report)
    origin: str  # "upload" or "groundtruth": what wrote the batch
    mode: NotRequired[Literal["map"]]  # validated by the Distributed Map (ReduceValidation's answer)


class ValidationItem(TypedDict):
    """One part of a distributed validation: a byte range of the upload or a manifest's part file."""

    index: int
    start: NotRequired[int]
    end: NotRequired[int]
    key: NotRequired[str]


class ValidationPlan(TypedDict):
    """Validate's answer for an upload too large for one function (or a manifest): the map's plan."""

    mode: Literal["map"]
    kind: Literal["ranges", "manifest"]
    runId: str
    source: DataRef
    items: list[ValidationItem]


ValidationOutput = ValidationSummary | ValidationPlan


class ValidatePartInput(TypedDict):
    """One Distributed Map item, as ``ValidateParts``' ItemSelector builds it."""

    action: Literal["part"]
    kind: Literal["ranges", "manifest"]
    runId: str
    data: DataRef
    item: ValidationItem


class ValidatePartOutput(TypedDict):
    """A part's answer; the Distributed Map discards it (the reduce reads the partials from S3)."""

    partialUri: str


class ValidationReduceInput(TypedDict):
    action: Literal["reduce"]
    validation: ValidationPlan


# -- ResolveChampion (λ champion) ---------------------------------------------------------------


class ChampionOutput(TypedDict):
    """The package the endpoint serves (``found`` false: none; every other field is then null)."""

    found: bool
    modelPackageArn: str | None
    version: int | None
    modelDataUrl: str | None
    artifactSha256: str | None
    metricsUri: str | None


# -- PlanTraining (λ plan) ----------------------------------------------------------------------


class PlanInput(TypedDict):
    reason: RunReason
    executionName: str
    champion: ChampionOutput
    validation: ValidationSummary


class PlanOutput(TypedDict):
    """Whether this run trains and, if so, the window's manifest and plan for the training job."""

    train: bool
    skipped: str | None
    planPrefixUri: str | None
    manifestUri: str | None
    window: dict[str, Any]
    newBatches: int
    newRows: int


# -- Train / TrainWithChampion (sagemaker:createTrainingJob.sync, ResultSelector) ----------------


class TrainingOutput(TypedDict):
    jobName: str
    modelArtifacts: str


# -- Evaluate (λ evaluate) ------------------------------------------------------------------------


class EvaluationReports(TypedDict):
    metrics: str
    baseline: str
    manifest: str
    evaluation: str


class EvaluationOutput(TypedDict):
    """The gate's decision and what register records of it (metrics as ``metrics.json`` holds them)."""

    approved: bool
    approvalStatus: Literal["Approved", "Rejected"]
    reasons: list[str]
    metrics: dict[str, Any]
    championMetrics: dict[str, Any] | None
    artifactSha256: str
    reports: EvaluationReports
    reportDigests: dict[str, str]
    modelType: str | None
    hyperparameters: dict[str, Any] | None
    rows: dict[str, Any] | None
    data: dict[str, Any] | None
    threshold: dict[str, Any] | None


# -- Register (λ register) ----------------------------------------------------------------------


class RegisterInput(TypedDict):
    executionArn: str
    executionInput: ExecutionInput  # $$.Execution.Input: the lineage's trigger (an alarm's, say)
    reason: RunReason
    data: DataRef
    validation: ValidationSummary
    training: TrainingOutput
    evaluation: EvaluationOutput
    plan: PlanOutput


class RegistrationOutput(TypedDict):
    modelPackageArn: str
    version: int
    approvalStatus: str


# -- DecideDeployment (λ deploy) and the deployment phase ---------------------------------------


class DeployInput(TypedDict):
    modelPackageArn: str
    reason: NotRequired[str]


class DeploymentChallenger(TypedDict):
    """The package to deploy; image, model data and environment only when the action creates a model."""

    modelPackageArn: str
    version: int | None
    image: NotRequired[str]
    modelDataUrl: NotRequired[str]
    environment: NotRequired[dict[str, str]]


class DeploymentServing(TypedDict):
    modelPackageArn: str | None
    version: int | None
    endpointConfig: str | None


DeployAction = Literal["create", "update", "delete", "wait", "skip"]
DeployOutcome = Literal["Superseded", "AlreadyServing", "NotApproved"]


class DeploymentDecision(TypedDict):
    action: DeployAction
    outcome: DeployOutcome | None
    why: str
    endpointStatus: str | None
    challenger: DeploymentChallenger
    serving: DeploymentServing
    hasServing: bool


class DeploymentResult(TypedDict):
    """``$.result``: what the deployment phase did, read by ``DeploymentOutcome?`` and the notices."""

    outcome: str
    why: NotRequired[str]
    error: NotRequired[str]
    cause: NotRequired[str]


class StateError(TypedDict):
    """What every Catch writes to ``$.error``."""

    Error: str
    Cause: str


# -- the whole state of a run -------------------------------------------------------------------


class PipelineState(TypedDict):
    """Every key a run's state can hold, each written by the ResultPath of the state named beside it."""

    reason: RunReason
    data: NotRequired[DataRef]
    deploy: NotRequired[DeployRequest]  # the input, or DeployChallenger
    alarm: NotRequired[AlarmPayload]  # the input of a drift or quality run
    validation: NotRequired[ValidationOutput]  # Validate, ReduceValidation
    champion: NotRequired[ChampionOutput]  # ResolveChampion
    plan: NotRequired[PlanOutput]  # PlanTraining
    training: NotRequired[TrainingOutput]  # Train, TrainWithChampion
    evaluation: NotRequired[EvaluationOutput]  # Evaluate
    registration: NotRequired[RegistrationOutput]  # Register
    decision: NotRequired[DeploymentDecision]  # DecideDeployment
    result: NotRequired[DeploymentResult]  # Record* states of the deployment phase
    error: NotRequired[StateError]  # any Catch
    # The services' own responses, kept for the next states (their inner shapes are the APIs'):
    lock: NotRequired[dict[str, Any]]  # ReadDeploymentLock (dynamodb:getItem)
    lockHolder: NotRequired[dict[str, Any]]  # DescribeLockHolder (sfn:describeExecution)
    model: NotRequired[dict[str, Any]]  # CreateModel
    endpointConfig: NotRequired[dict[str, Any]]  # CreateEndpointConfig
    endpoint: NotRequired[dict[str, Any]]  # DescribeEndpoint


def state_path(*keys: str, root: Any = PipelineState) -> str:
    """``$.a.b.c`` for ``keys`` (a, b, c), each checked against the contract from ``root`` down.

    A key that a ``TypedDict`` on the way does not declare raises ``KeyError`` naming the path and
    the keys it allows; below a type that is not a ``TypedDict`` (a service response, ``Any``) the
    remaining keys are the service's and pass unchecked. A union is walked through every member that
    declares the key (``$.validation.mode`` exists on the map plan, ``$.validation.rows`` on the
    summary).
    """
    if not keys:
        raise ValueError("state_path needs at least one key")
    current: list[Any] = [root]
    for depth, key in enumerate(keys):
        members = [member for annotation in current for member in _members(annotation)]
        if not members or not all(typing.is_typeddict(member) for member in members):
            break  # a service response or Any: the rest of the path is not ours to check
        hints = [typing.get_type_hints(member) for member in members]
        following = [h[key] for h in hints if key in h]
        if not following:
            where = "$." + ".".join(keys[:depth]) if depth else "$"
            allowed = ", ".join(sorted({name for h in hints for name in h}))
            raise KeyError(f"the pipeline state has no {key!r} under {where} (it has: {allowed})")
        current = following
    return "$." + ".".join(keys)


def _members(annotation: Any) -> list[Any]:
    """The members of a union (``X | None`` included), without ``None``; otherwise the type itself.
    ``NotRequired``/``Required`` are looked through (``get_type_hints`` keeps them on 3.11)."""
    while typing.get_origin(annotation) in (typing.NotRequired, typing.Required):
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [member for member in typing.get_args(annotation) if member is not type(None)]
    return [annotation]
