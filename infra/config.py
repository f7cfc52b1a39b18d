"""Typed configuration: the ``mlops`` key of the CDK context (``cdk.json``) as frozen dataclasses.

Every threshold, name and size the system uses is defined once in ``cdk.json`` and reaches the
Lambdas as environment variables and the training job as hyperparameters. Parsing is strict
(unknown keys, wrong types and out-of-range values are errors that name the offending key) because
a typo in a threshold would otherwise deploy silently with a value nobody chose.

Standard-library only, so tools and tests can read the configuration without loading the CDK.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "APPROVAL_MODES",
    "CONTEXT_KEY",
    "GATE_METRICS",
    "STAGES_KEY",
    "STAGE_CONTEXT_KEY",
    "AlarmConfig",
    "ConfigError",
    "DeploymentConfig",
    "DriftAlarmConfig",
    "DriftConfig",
    "GateConfig",
    "GroundTruthConfig",
    "LambdaConfig",
    "MlopsConfig",
    "QualityConfig",
    "RetrainingConfig",
    "RollbackAlarmsConfig",
    "ServingConfig",
    "StageConfig",
    "TrainingConfig",
    "TrainingWindowConfig",
    "ValidationConfig",
    "deep_merge",
    "load_config",
    "load_stage",
    "parse_config",
    "parse_stages",
    "select_stage",
]

CONTEXT_KEY = "mlops"
# Deployment stages live in ``mlops.stages``; ``cdk synth -c stage=NAME`` selects one.
STAGES_KEY = "stages"
STAGE_CONTEXT_KEY = "stage"
APPROVAL_MODES = ("auto", "manual")

# Metrics the training script reports for challenger and champion (docs/ARCHITECTURE.md, metrics.json).
GATE_METRICS = frozenset({"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy"})
# Metrics the ground-truth function computes on labelled traffic (PR-AUC is not among them).
QUALITY_METRICS = frozenset({"roc_auc", "f1", "precision", "recall", "accuracy"})
WINDOW_MODES = ("all", "rows", "batches", "days")

# SageMaker resource names (endpoint, model package group): letters, digits, inner hyphens, <= 63.
_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# The prefix starts bucket, stack, alarm and dashboard names: short, lowercase, DNS-like.
_PREFIX = re.compile(r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
_RUNTIME = re.compile(r"^python3\.\d{1,2}$")
_HYPERPARAMETER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$")
_INSTANCE_HINT = "expected a SageMaker instance type such as 'ml.m5.large'"
# A stage name becomes a GitHub environment name and a suffix of the prefix: short and plain.
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9]{0,9}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")


class ConfigError(ValueError):
    """The ``mlops`` context is missing, malformed or out of range; the message names the key."""


@dataclass(frozen=True)
class LambdaConfig:
    """Runtime and managed-layer versions shared by every function."""

    runtime: str
    memory_mb: int
    timeout_seconds: int
    powertools_layer_version: int
    pandas_layer_version: int

    @property
    def python_tag(self) -> str:
        """``python3.14`` -> ``python314``: the spelling the managed layers' names use."""
        return self.runtime.replace(".", "")


@dataclass(frozen=True)
class TrainingWindowConfig:
    """Which labelled batches a training run sees: all, the last N rows, K batches or D days."""

    mode: str
    value: int


@dataclass(frozen=True)
class TrainingConfig:
    """The SageMaker training job: instance, framework image version, limits, script arguments."""

    instance_type: str
    framework_version: str
    max_runtime_seconds: int
    volume_size_gb: int
    window: TrainingWindowConfig
    hyperparameters: Mapping[str, str]


@dataclass(frozen=True)
class GateConfig:
    """The quality gate the evaluate function applies to a challenger."""

    primary_metric: str
    thresholds: Mapping[str, float]
    min_improvement: float

    def thresholds_json(self) -> str:
        """The thresholds as compact, key-sorted JSON (the evaluate function's ``GATE_THRESHOLDS``)."""
        return json.dumps(dict(self.thresholds), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RollbackAlarmsConfig:
    """The CloudWatch alarms on the endpoint that roll a blue/green update back while it bakes.

    ``maxModelLatencyMs``: the average ``ModelLatency`` above which the new fleet is too slow;
    any ``Invocation5XXErrors`` or ``InvocationModelErrors`` in a period breaches as well.
    """

    max_model_latency_ms: int
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int


@dataclass(frozen=True)
class DeploymentConfig:
    """How UpdateEndpoint moves traffic to a new model (SageMaker blue/green ``DeploymentConfig``).

    ``mode``: ``ALL_AT_ONCE`` | ``CANARY`` (``canaryPercent`` of capacity first) | ``LINEAR``
    (``linearStepPercent`` per step); ``waitSeconds`` is the bake time after each shift, while the
    rollback alarms are watched; ``terminationWaitSeconds`` keeps the old fleet after the last shift.
    """

    mode: str
    canary_percent: int
    linear_step_percent: int
    wait_seconds: int
    termination_wait_seconds: int
    maximum_execution_timeout_seconds: int
    rollback_alarms: RollbackAlarmsConfig


@dataclass(frozen=True)
class ServingConfig:
    """The real-time endpoint (serverless endpoints cannot capture data, so instances it is)."""

    instance_type: str
    initial_instance_count: int
    capture_sampling_percentage: int
    endpoint_poll_seconds: int
    deployment: DeploymentConfig


@dataclass(frozen=True)
class AlarmConfig:
    """M out of N evaluation of a CloudWatch alarm."""

    evaluation_periods: int
    datapoints_to_alarm: int
    period_seconds: int


@dataclass(frozen=True)
class DriftAlarmConfig(AlarmConfig):
    """The CloudWatch alarm on ``DriftDetected`` whose ALARM state starts a retraining."""

    threshold: float


@dataclass(frozen=True)
class DriftConfig:
    """The scheduled drift check: window, evidence thresholds, metric namespace and alarm."""

    schedule_minutes: int
    window_minutes: int
    settle_seconds: int
    min_records: int
    alpha: float
    min_psi: float
    min_ks: float
    min_prediction_psi: float
    metric_namespace: str
    alarm: DriftAlarmConfig


@dataclass(frozen=True)
class GroundTruthConfig:
    """Where labels arrive (incoming bucket prefix) and how far back captured requests are joined."""

    prefix: str
    lookback_hours: int


@dataclass(frozen=True)
class QualityConfig:
    """Model quality on labelled traffic: the metric, the tolerance under the champion, the alarm."""

    metric: str
    tolerance: float
    min_labels: int
    metric_namespace: str
    alarm: AlarmConfig


@dataclass(frozen=True)
class RetrainingConfig:
    """When runs train: on uploads, on alarms, rechecks of persisting alarms, and a rate limit."""

    cooldown_minutes: int
    on_upload: bool
    on_alarm: bool
    recheck_minutes: int

    @property
    def cooldown_seconds(self) -> int:
        return self.cooldown_minutes * 60


@dataclass(frozen=True)
class ValidationConfig:
    """When validation leaves one function for a Distributed Map (docs/ARCHITECTURE.md,
    "Validation beyond one function"): uploads over ``map_threshold_bytes`` are validated in byte
    ranges of ``part_bytes``, at most ``max_concurrency`` at a time (manifest uploads always are)."""

    map_threshold_bytes: int
    part_bytes: int
    max_concurrency: int


@dataclass(frozen=True)
class MlopsConfig:
    """The whole ``mlops`` context key."""

    prefix: str
    model_name: str
    schema_file: str
    upload_prefix: str
    lambda_: LambdaConfig
    training: TrainingConfig
    gate: GateConfig
    serving: ServingConfig
    drift: DriftConfig
    ground_truth: GroundTruthConfig
    quality: QualityConfig
    retraining: RetrainingConfig
    validation: ValidationConfig

    @property
    def endpoint_name(self) -> str:
        """The endpoint carries the model's name (docs/ARCHITECTURE.md, State machine)."""
        return self.model_name

    @property
    def alarm_name(self) -> str:
        """The drift alarm's name."""
        return f"{self.prefix}-{self.model_name}-drift"

    @property
    def quality_alarm_name(self) -> str:
        return f"{self.prefix}-{self.model_name}-quality"

    def stack_name(self, unit: str) -> str:
        return f"{self.prefix}-{unit}"

    def schema_path(self, project_root: Path) -> Path:
        """The schema file, resolved against the project root (where ``cdk.json`` lives)."""
        path = Path(self.schema_file)
        return path if path.is_absolute() else project_root / path


class _Reader:
    """Reads one JSON object strictly: each key is consumed once and leftovers are errors."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
        self._value = value
        self._where = where
        self._seen: set[str] = set()

    def path(self, key: str) -> str:
        return f"{self._where}.{key}"

    def names(self) -> list[str]:
        return sorted(self._value)

    def raw(self, key: str) -> Any:
        if key not in self._value:
            raise ConfigError(f"{self.path(key)}: required key is missing")
        self._seen.add(key)
        return self._value[key]

    def string(self, key: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.path(key)}: expected a non-empty string, got {value!r}")
        if pattern is not None and not pattern.match(value):
            raise ConfigError(f"{self.path(key)}: {value!r} is not valid ({hint or pattern.pattern})")
        return value

    def integer(self, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.path(key)}: expected an integer, got {value!r}")
        _check_range(self.path(key), value, minimum, maximum)
        return value

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.path(key)}: expected true or false, got {value!r}")
        return value

    def number(self, key: str, minimum: float | None = None, maximum: float | None = None) -> float:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{self.path(key)}: expected a finite number, got {value!r}")
        _check_range(self.path(key), value, minimum, maximum)
        return float(value)

    def child(self, key: str) -> _Reader:
        return _Reader(self.raw(key), self.path(key))

    def finish(self) -> None:
        unknown = sorted(set(self._value) - self._seen)
        if unknown:
            raise ConfigError(f"{self._where}: unknown key(s) {', '.join(map(repr, unknown))}")


def _check_range(path: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{path}: {value!r} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{path}: {value!r} is above the maximum {maximum}")


def _lambda(reader: _Reader) -> LambdaConfig:
    config = LambdaConfig(
        runtime=reader.string("runtime", _RUNTIME, "expected a Python runtime such as 'python3.14'"),
        memory_mb=reader.integer("memoryMb", 128, 10240),
        timeout_seconds=reader.integer("timeoutSeconds", 1, 900),
        powertools_layer_version=reader.integer("powertoolsLayerVersion", 1),
        pandas_layer_version=reader.integer("pandasLayerVersion", 1),
    )
    reader.finish()
    return config


def _hyperparameters(reader: _Reader) -> Mapping[str, str]:
    values: dict[str, str] = {}
    for key in reader.names():
        value = reader.raw(key)
        if not _HYPERPARAMETER_KEY.match(key) or key.startswith("sagemaker_"):
            raise ConfigError(f"{reader.path(key)}: invalid hyperparameter name (sagemaker_* is reserved)")
        if not isinstance(value, str):
            raise ConfigError(f"{reader.path(key)}: hyperparameters are strings, write {json.dumps(str(value))}")
        values[key] = value
    reader.finish()
    return MappingProxyType(values)


def _window(reader: _Reader) -> TrainingWindowConfig:
    mode = reader.string("mode")
    if mode not in WINDOW_MODES:
        raise ConfigError(f"{reader.path('mode')}: {mode!r} is not one of {list(WINDOW_MODES)}")
    value = reader.integer("value", 0)
    if mode != "all" and value < 1:
        raise ConfigError(f"{reader.path('value')}: window mode {mode!r} needs a value of at least 1")
    reader.finish()
    return TrainingWindowConfig(mode=mode, value=value)


def _training(reader: _Reader) -> TrainingConfig:
    config = TrainingConfig(
        instance_type=reader.string("instanceType", _INSTANCE_TYPE, _INSTANCE_HINT),
        framework_version=reader.string("frameworkVersion"),
        max_runtime_seconds=reader.integer("maxRuntimeSeconds", 60, 28 * 24 * 3600),
        volume_size_gb=reader.integer("volumeSizeGb", 1, 16384),
        window=_window(reader.child("window")),
        hyperparameters=_hyperparameters(reader.child("hyperparameters")),
    )
    reader.finish()
    return config


def _gate(reader: _Reader) -> GateConfig:
    primary = reader.string("primaryMetric")
    if primary not in GATE_METRICS:
        raise ConfigError(f"{reader.path('primaryMetric')}: {primary!r} is not one of {sorted(GATE_METRICS)}")
    thresholds_reader = reader.child("thresholds")
    thresholds: dict[str, float] = {}
    for name in thresholds_reader.names():
        if name not in GATE_METRICS:
            raise ConfigError(f"{thresholds_reader.path(name)}: unknown metric, expected one of {sorted(GATE_METRICS)}")
        thresholds[name] = thresholds_reader.number(name, 0.0, 1.0)
    thresholds_reader.finish()
    config = GateConfig(
        primary_metric=primary,
        thresholds=MappingProxyType(thresholds),
        min_improvement=reader.number("minImprovement", 0.0, 1.0),
    )
    reader.finish()
    return config


DEPLOYMENT_MODES = ("ALL_AT_ONCE", "CANARY", "LINEAR")


def _rollback_alarms(reader: _Reader) -> RollbackAlarmsConfig:
    max_latency = reader.integer("maxModelLatencyMs", 1, 3_600_000)
    base = _m_of_n(reader)
    return RollbackAlarmsConfig(
        max_model_latency_ms=max_latency,
        period_seconds=base.period_seconds,
        evaluation_periods=base.evaluation_periods,
        datapoints_to_alarm=base.datapoints_to_alarm,
    )


def _deployment(reader: _Reader) -> DeploymentConfig:
    mode = reader.string("mode")
    if mode not in DEPLOYMENT_MODES:
        raise ConfigError(f"{reader.path('mode')}: {mode!r} is not one of {list(DEPLOYMENT_MODES)}")
    # The ranges are UpdateEndpoint's own (BlueGreenUpdatePolicy, TrafficRoutingConfig).
    config = DeploymentConfig(
        mode=mode,
        canary_percent=reader.integer("canaryPercent", 1, 50),
        linear_step_percent=reader.integer("linearStepPercent", 10, 50),
        wait_seconds=reader.integer("waitSeconds", 0, 3600),
        termination_wait_seconds=reader.integer("terminationWaitSeconds", 0, 3600),
        maximum_execution_timeout_seconds=reader.integer("maximumExecutionTimeoutSeconds", 600, 28800),
        rollback_alarms=_rollback_alarms(reader.child("rollbackAlarms")),
    )
    reader.finish()
    return config


def _serving(reader: _Reader) -> ServingConfig:
    config = ServingConfig(
        instance_type=reader.string("instanceType", _INSTANCE_TYPE, _INSTANCE_HINT),
        initial_instance_count=reader.integer("initialInstanceCount", 1, 100),
        capture_sampling_percentage=reader.integer("captureSamplingPercentage", 0, 100),
        endpoint_poll_seconds=reader.integer("endpointPollSeconds", 1, 3600),
        deployment=_deployment(reader.child("deployment")),
    )
    reader.finish()
    if config.deployment.mode != "ALL_AT_ONCE" and config.initial_instance_count < 2:
        # A canary or a linear step is at most half of the new fleet: one instance cannot be split.
        raise ConfigError(
            f"{reader.path('deployment.mode')}: {config.deployment.mode} shifts traffic in parts of the new fleet, "
            f"which needs initialInstanceCount >= 2 (it is {config.initial_instance_count}); use ALL_AT_ONCE"
        )
    return config


def _alarm(reader: _Reader) -> DriftAlarmConfig:
    threshold = reader.number("threshold")
    base = _m_of_n(reader)
    return DriftAlarmConfig(
        threshold=threshold,
        evaluation_periods=base.evaluation_periods,
        datapoints_to_alarm=base.datapoints_to_alarm,
        period_seconds=base.period_seconds,
    )


def _m_of_n(reader: _Reader) -> AlarmConfig:
    evaluation_periods = reader.integer("evaluationPeriods", 1)
    datapoints = reader.integer("datapointsToAlarm", 1)
    if datapoints > evaluation_periods:
        raise ConfigError(
            f"{reader.path('datapointsToAlarm')}: {datapoints} exceeds evaluationPeriods ({evaluation_periods})"
        )
    period = reader.integer("periodSeconds", 10)
    if period not in (10, 20, 30) and period % 60:
        raise ConfigError(f"{reader.path('periodSeconds')}: CloudWatch periods are 10, 20, 30 or multiples of 60")
    reader.finish()
    return AlarmConfig(
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints,
        period_seconds=period,
    )


def _drift(reader: _Reader) -> DriftConfig:
    schedule = reader.integer("scheduleMinutes", 1, 24 * 60)
    window = reader.integer("windowMinutes", 1, 7 * 24 * 60)
    settle = reader.integer("settleSeconds", 0, 3600)
    min_records = reader.integer("minRecords", 1)
    alpha = reader.number("alpha", 0.0, 1.0)
    if alpha in (0.0, 1.0):
        raise ConfigError(f"{reader.path('alpha')}: a significance level lies strictly between 0 and 1")
    min_psi = reader.number("minPsi", 0.0)
    min_ks = reader.number("minKs", 0.0, 1.0)
    min_prediction_psi = reader.number("minPredictionPsi", 0.0)
    namespace = _namespace(reader, "metricNamespace")
    config = DriftConfig(
        schedule_minutes=schedule,
        window_minutes=window,
        settle_seconds=settle,
        min_records=min_records,
        alpha=alpha,
        min_psi=min_psi,
        min_ks=min_ks,
        min_prediction_psi=min_prediction_psi,
        metric_namespace=namespace,
        alarm=_alarm(reader.child("alarm")),
    )
    reader.finish()
    return config


def _namespace(reader: _Reader, key: str) -> str:
    namespace = reader.string(key)
    if namespace.startswith("AWS/") or len(namespace) > 255:
        raise ConfigError(f"{reader.path(key)}: {namespace!r} is reserved or too long")
    return namespace


def _key_prefix(reader: _Reader, key: str) -> str:
    prefix = reader.string(key)
    if prefix.startswith("/") or not prefix.endswith("/"):
        raise ConfigError(f"{reader.path(key)}: an S3 key prefix ends with '/' and does not start with it ({prefix!r})")
    return prefix


def _ground_truth(reader: _Reader) -> GroundTruthConfig:
    config = GroundTruthConfig(
        prefix=_key_prefix(reader, "prefix"),
        lookback_hours=reader.integer("lookbackHours", 1, 90 * 24),
    )
    reader.finish()
    return config


def _quality(reader: _Reader) -> QualityConfig:
    metric = reader.string("metric")
    if metric not in QUALITY_METRICS:
        raise ConfigError(f"{reader.path('metric')}: {metric!r} is not one of {sorted(QUALITY_METRICS)}")
    config = QualityConfig(
        metric=metric,
        tolerance=reader.number("tolerance", 0.0, 1.0),
        min_labels=reader.integer("minLabels", 1),
        metric_namespace=_namespace(reader, "metricNamespace"),
        alarm=_m_of_n(reader.child("alarm")),
    )
    reader.finish()
    return config


def _retraining(reader: _Reader) -> RetrainingConfig:
    config = RetrainingConfig(
        cooldown_minutes=reader.integer("cooldownMinutes", 0, 30 * 24 * 60),
        on_upload=reader.boolean("onUpload"),
        on_alarm=reader.boolean("onAlarm"),
        recheck_minutes=reader.integer("recheckMinutes", 1, 24 * 60),
    )
    reader.finish()
    return config


def _validation(reader: _Reader) -> ValidationConfig:
    """``mlops.validation``: when an upload leaves one function for the Distributed Map."""
    config = ValidationConfig(
        map_threshold_bytes=reader.integer("mapThresholdBytes", 1, 10 * 1024**4),
        part_bytes=reader.integer("partBytes", 1, 10 * 1024**3),
        max_concurrency=reader.integer("maxConcurrency", 1, 10_000),
    )
    reader.finish()
    if config.part_bytes > config.map_threshold_bytes:
        raise ConfigError(
            f"{reader.path('partBytes')}: {config.part_bytes} is above mapThresholdBytes "
            f"{config.map_threshold_bytes} (a part must fit where a whole file would)"
        )
    return config


def parse_config(value: Any) -> MlopsConfig:
    """Parse the ``mlops`` context value; raise ``ConfigError`` naming the first bad key.

    The stages under ``mlops.stages`` are validated too, with their overrides applied, so a bad
    production setting already fails the default synthesis that every pull request runs.
    """
    config = _parse_mlops(value, CONTEXT_KEY)
    _parse_stages(value, config)
    return config


def _parse_mlops(value: Any, where: str) -> MlopsConfig:
    reader = _Reader(value, where)
    if STAGES_KEY in value:
        if where != CONTEXT_KEY:
            raise ConfigError(f"{reader.path(STAGES_KEY)}: a stage cannot define stages")
        reader.raw(STAGES_KEY)  # parsed by _parse_stages
    prefix = reader.string("prefix", _PREFIX, "lowercase letters, digits, inner hyphens; a letter first; <= 20")
    model_name = reader.string("modelName", _SAGEMAKER_NAME, "letters, digits and inner hyphens, <= 63")
    schema_file = reader.string("schemaFile")
    upload_prefix = reader.string("uploadPrefix")
    if upload_prefix.startswith("/"):
        raise ConfigError(f"{reader.path('uploadPrefix')}: S3 keys do not start with '/' ({upload_prefix!r})")
    config = MlopsConfig(
        prefix=prefix,
        model_name=model_name,
        schema_file=schema_file,
        upload_prefix=upload_prefix,
        lambda_=_lambda(reader.child("lambda")),
        training=_training(reader.child("training")),
        gate=_gate(reader.child("gate")),
        serving=_serving(reader.child("serving")),
        drift=_drift(reader.child("drift")),
        ground_truth=_ground_truth(reader.child("groundTruth")),
        quality=_quality(reader.child("quality")),
        retraining=_retraining(reader.child("retraining")),
        validation=_validation(reader.child("validation")),
    )
    reader.finish()
    return config


def _read_mlops(cdk_json: Path) -> Any:
    try:
        document = json.loads(cdk_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read {cdk_json}: {error}") from error
    context = document.get("context", {}) if isinstance(document, Mapping) else {}
    if CONTEXT_KEY not in context:
        raise ConfigError(f"{cdk_json}: context has no {CONTEXT_KEY!r} key")
    return context[CONTEXT_KEY]


def load_config(cdk_json: Path) -> MlopsConfig:
    """Read ``cdk.json`` and parse its ``context.mlops`` key (for tools that do not run the CDK)."""
    return parse_config(_read_mlops(cdk_json))


# --- Deployment stages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageConfig:
    """One deployment stage of ``mlops.stages``: where it deploys and the configuration it deploys.

    ``account``/``region`` of ``None`` leave the stacks environment-agnostic: they then deploy to
    the account and region of the credentials in use. ``approval`` is how a registered model
    is approved in this stage (``auto``: by the quality gate, and the run deploys it; ``manual``: by a
    person in the Model Registry, whose approval event deploys it). ``config`` is the ``mlops``
    configuration with the stage's overrides applied and ``values`` the same as plain JSON values
    (what the CDK app synthesizes).
    """

    name: str
    account: str | None
    region: str | None
    approval: str
    config: MlopsConfig
    values: Mapping[str, Any]

    @property
    def github_environment(self) -> str:
        """The GitHub environment whose jobs deploy this stage (its deploy role trusts only it)."""
        return self.name

    @property
    def deploy_role_name(self) -> str:
        """The IAM role CI assumes by OIDC to deploy this stage (``infra/bootstrap`` creates it)."""
        return f"{self.config.prefix}-github-deploy"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` applied recursively: nested objects merge, other values replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _optional_match(reader: _Reader, key: str, pattern: re.Pattern[str], hint: str) -> str | None:
    """``null`` or absent (meaning "from the credentials"), else a string matching ``pattern``.

    Absent and ``null`` are one: the CDK drops ``null`` values from the context it hands the app.
    """
    value = reader.raw(key) if key in reader.names() else None
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise ConfigError(f"{reader.path(key)}: {value!r} is not valid ({hint}, or null)")
    return value


def _stage(name: str, value: Any, base: Mapping[str, Any], base_config: MlopsConfig) -> StageConfig:
    where = f"{CONTEXT_KEY}.{STAGES_KEY}.{name}"
    if not _STAGE_NAME.match(name):
        raise ConfigError(f"{where}: stage names are a lowercase letter then up to 9 lowercase letters or digits")
    reader = _Reader(value, where)
    account = _optional_match(reader, "account", _ACCOUNT, "a 12-digit AWS account id as a string")
    region = _optional_match(reader, "region", _REGION, "an AWS region such as 'eu-west-1'")
    approval = reader.string("approval")
    if approval not in APPROVAL_MODES:
        raise ConfigError(f"{reader.path('approval')}: {approval!r} is not one of {list(APPROVAL_MODES)}")
    overrides: Any = reader.raw("overrides") if "overrides" in value else {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{reader.path('overrides')}: expected an object, got {type(overrides).__name__}")
    reader.finish()
    # Stages may share an account: unless told otherwise, each gets its own prefix and model name
    # (the prefix starts every stack, bucket, function and alarm name; the model name is the
    # endpoint and the model package group).
    defaults = {"prefix": f"{base_config.prefix}-{name}", "modelName": f"{base_config.model_name}-{name}"}
    values = deep_merge(base, deep_merge(defaults, overrides))
    config = _parse_mlops(values, reader.path("overrides"))
    return StageConfig(
        name=name,
        account=account,
        region=region,
        approval=approval,
        config=config,
        values=MappingProxyType(values),
    )


def _parse_stages(value: Any, base_config: MlopsConfig) -> dict[str, StageConfig]:
    if STAGES_KEY not in value:
        return {}
    reader = _Reader(value[STAGES_KEY], f"{CONTEXT_KEY}.{STAGES_KEY}")
    base = {key: item for key, item in value.items() if key != STAGES_KEY}
    stages: dict[str, StageConfig] = {}
    for name in reader.names():
        stage = _stage(name, reader.raw(name), base, base_config)
        for other in stages.values():
            for key, mine, theirs in (
                ("prefix", stage.config.prefix, other.config.prefix),
                ("modelName", stage.config.model_name, other.config.model_name),
            ):
                if mine == theirs:
                    raise ConfigError(
                        f"{reader.path(name)}.overrides.{key}: {mine!r} is also stage {other.name!r}'s; "
                        "stages in one account need their own names"
                    )
        stages[name] = stage
    reader.finish()
    return stages


def parse_stages(value: Any) -> dict[str, StageConfig]:
    """Every stage of the ``mlops`` context value, by name (empty without ``mlops.stages``)."""
    return _parse_stages(value, _parse_mlops(value, CONTEXT_KEY))


def select_stage(value: Any, name: Any) -> StageConfig:
    """The stage ``-c stage=NAME`` asks for; an unknown or malformed name is a ``ConfigError``."""
    stages = parse_stages(value)
    if not isinstance(name, str) or name not in stages:
        known = ", ".join(sorted(stages)) or f"none: {CONTEXT_KEY}.{STAGES_KEY} is empty"
        raise ConfigError(
            f"context {STAGE_CONTEXT_KEY!r}: {name!r} is not a stage of {CONTEXT_KEY}.{STAGES_KEY} ({known})"
        )
    return stages[name]


def load_stage(cdk_json: Path, name: str) -> StageConfig:
    """Read ``cdk.json`` and resolve one stage (for tools such as a preflight check)."""
    return select_stage(_read_mlops(cdk_json), name)
