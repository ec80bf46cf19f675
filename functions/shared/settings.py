"""Environment variable names (shared with ``infra``) and typed runtime settings.

Handlers read their settings once, at cold start, through ``from_env``. The
stack sets exactly these names; a contract test checks that every handler's
settings load from the environment its function is given in the template.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from functions.shared.errors import ConfigurationError

if TYPE_CHECKING:
    from functions.project.definition import Project

ARTIFACT_BUCKET = "MLOPS_ARTIFACT_BUCKET"
DATA_BUCKET = "MLOPS_DATA_BUCKET"
REGISTRY_TABLE = "MLOPS_REGISTRY_TABLE"
METADATA_TABLE = "MLOPS_METADATA_TABLE"
CAPTURE_BUCKET = "MLOPS_CAPTURE_BUCKET"
ONLINE_VIEW = "MLOPS_ONLINE_VIEW"
DRIFT_SAMPLE_RATE = "MLOPS_DRIFT_SAMPLE_RATE"
MODEL_NAME = "MLOPS_MODEL_NAME"
# Where the deployment's project is (set on every function; the image ships it at IMAGE_PROJECT_DIR).
PROJECT_DIR = "MLOPS_PROJECT_DIR"
IMAGE_PROJECT_DIR = "/var/task/project"
# The image build's named context the project is copied from (functions/Dockerfile: COPY --from=project).
IMAGE_PROJECT_CONTEXT = "project"
# Set by the rollout deployer on the version it publishes: serve exactly this model version.
MODEL_VERSION = "MLOPS_MODEL_VERSION"
INFERENCE_FUNCTION = "MLOPS_INFERENCE_FUNCTION"
SERVING_ALIAS = "MLOPS_SERVING_ALIAS"
DEPLOY_APPLICATION = "MLOPS_DEPLOY_APPLICATION"
DEPLOY_GROUP = "MLOPS_DEPLOY_GROUP"
PRE_TRAFFIC_HOOK = "MLOPS_PRE_TRAFFIC_HOOK"
CANARY_ALARMS = "MLOPS_CANARY_ALARMS"
MODEL_REFRESH_SECONDS = "MLOPS_MODEL_REFRESH_SECONDS"
# The secret (ARN) whose value keys the inference function's prediction ids (functions/serving/prediction_ids.py).
PREDICTION_KEY_SECRET = "MLOPS_PREDICTION_KEY_SECRET"
# How the API authenticates ("api_key" or "iam") and whether a model is served at its root too: the OpenAPI
# document the inference function serves says so.
API_AUTH = "MLOPS_API_AUTH"
API_AT_ROOT = "MLOPS_API_AT_ROOT"
MAX_RECORDS = "MLOPS_MAX_RECORDS"
MONITOR_WINDOW_MINUTES = "MLOPS_MONITOR_WINDOW_MINUTES"
MONITOR_MIN_ROWS = "MLOPS_MONITOR_MIN_ROWS"
MONITOR_QUALITY_WINDOW_MINUTES = "MLOPS_MONITOR_QUALITY_WINDOW_MINUTES"
MONITOR_MIN_LABELLED = "MLOPS_MONITOR_MIN_LABELLED"
GUARD_TABLE = "MLOPS_GUARD_TABLE"
TRAINING_STATE_MACHINE_ARN = "MLOPS_TRAINING_STATE_MACHINE_ARN"
RETRAIN_COOLDOWN_SECONDS = "MLOPS_RETRAIN_COOLDOWN_SECONDS"
RETRAIN_DAILY_BUDGET = "MLOPS_RETRAIN_DAILY_BUDGET"
RETRAIN_LOCK_SECONDS = "MLOPS_RETRAIN_LOCK_SECONDS"
FEATURE_OFFLINE_BUCKET = "MLOPS_FEATURE_OFFLINE_BUCKET"
FEATURE_ONLINE_TABLE = "MLOPS_FEATURE_ONLINE_TABLE"
FEATURE_MAX_BAD_ROW_FRACTION = "MLOPS_FEATURE_MAX_BAD_ROW_FRACTION"
FEATURE_CHUNK_ROWS = "MLOPS_FEATURE_CHUNK_ROWS"
# Athena over the offline store (functions/feature_store/athena.py): set on the training-set builders only.
ATHENA_WORKGROUP = "MLOPS_ATHENA_WORKGROUP"
ATHENA_DATABASE = "MLOPS_ATHENA_DATABASE"
ATHENA_RESULTS = "MLOPS_ATHENA_RESULTS"
ATHENA_THRESHOLD_ROWS = "MLOPS_ATHENA_THRESHOLD_ROWS"
METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"

# Raw files for the feature pipeline land under raw/features/<source name>/ in the data bucket;
# a new object there starts the feature pipeline (S3 -> EventBridge rule).
RAW_FEATURES_PREFIX = "raw/features/"
# Backfills (history loaded by hand) land under raw/backfill/<source name>/: nothing starts on its own there,
# and feature-pipeline executions named backfill-* do not ask for a retrain (see BACKFILL_EXECUTION_PREFIX).
RAW_BACKFILL_PREFIX = "raw/backfill/"
BACKFILL_EXECUTION_PREFIX = "backfill-"
# A batch too large for one function lands as part files under raw/feature-batches/<source>/<batch>/;
# its _SUCCESS marker (written last) starts one partitioned run over the folder. A prefix of its own,
# so that part files never start single-file runs (EventBridge cannot AND a prefix with "not nested").
RAW_FEATURE_BATCHES_PREFIX = "raw/feature-batches/"
BATCH_MARKER = "_SUCCESS"
# The online feature table's TTL attribute (epoch seconds), set on the table so DynamoDB reclaims storage.
ONLINE_TTL_ATTRIBUTE = "expires_at"

CODE_COMMIT = "MLOPS_CODE_COMMIT"
REQUIREMENTS_SHA256 = "MLOPS_REQUIREMENTS_SHA256"
# The sha256 of functions/ (the image's source) at synth: the code's identity, even in a dirty tree.
CODE_SHA256 = "MLOPS_CODE_SHA256"
# The sha256 of the project's folder at synth: its model definitions are code too.
PROJECT_SHA256 = "MLOPS_PROJECT_SHA256"
# How long after its prediction a label may arrive and still be joined into training data (hours).
FEEDBACK_MAX_LABEL_DELAY_HOURS = "MLOPS_FEEDBACK_MAX_LABEL_DELAY_HOURS"
APPROVAL_POLICY = "MLOPS_APPROVAL_POLICY"
MAX_MAJORITY_SHARE = "MLOPS_MAX_MAJORITY_SHARE"
MAX_LABEL_DRIFT = "MLOPS_MAX_LABEL_DRIFT"
MAX_MEAN_SHIFT = "MLOPS_MAX_MEAN_SHIFT"

# "auto": a candidate that passes the quality gate is approved and made champion by the pipeline;
# "manual": it is registered pending, and a person approves and promotes it (`mlops models ...`).
APPROVAL_POLICIES = ("auto", "manual")

# Name of the metadata table's index that lists runs of a pipeline by start time.
RUNS_BY_PIPELINE_INDEX = "gsi1"


@lru_cache(maxsize=1)
def project() -> Project:
    """The deployment's project, loaded once per process (a cold start) from ``MLOPS_PROJECT_DIR``.

    Imported here, not at the top: the inference function reads its settings at every cold start
    and needs the project (and pandas, which definitions use) only for predictions by entity id.
    """
    from functions.project.loader import load_project

    return load_project(_require(os.environ, PROJECT_DIR))


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _number(env: Mapping[str, str], name: str, kind: type[float] | type[int]) -> float | int:
    raw = _require(env, name)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a {kind.__name__}, got {raw!r}") from None


@dataclass(frozen=True)
class PipelineSettings:
    """Settings of the training pipeline's step functions (the model a run trains comes with the run)."""

    data_bucket: str
    artifact_bucket: str
    registry_table: str
    metadata_table: str
    code_commit: str
    code_sha256: str
    requirements_sha256: str
    project_sha256: str
    approval_policy: str
    max_majority_share: float
    max_label_drift: float
    max_mean_shift: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineSettings:
        env = os.environ if env is None else env
        policy = _require(env, APPROVAL_POLICY)
        if policy not in APPROVAL_POLICIES:
            raise ConfigurationError(f"{APPROVAL_POLICY} must be one of {APPROVAL_POLICIES}, got {policy!r}")
        return cls(
            data_bucket=_require(env, DATA_BUCKET),
            artifact_bucket=_require(env, ARTIFACT_BUCKET),
            registry_table=_require(env, REGISTRY_TABLE),
            metadata_table=_require(env, METADATA_TABLE),
            code_commit=_require(env, CODE_COMMIT),
            code_sha256=_require(env, CODE_SHA256),
            requirements_sha256=_require(env, REQUIREMENTS_SHA256),
            project_sha256=_require(env, PROJECT_SHA256),
            approval_policy=policy,
            max_majority_share=float(_number(env, MAX_MAJORITY_SHARE, float)),
            max_label_drift=float(_number(env, MAX_LABEL_DRIFT, float)),
            max_mean_shift=float(_number(env, MAX_MEAN_SHIFT, float)),
        )

    @property
    def code_version(self) -> dict[str, str]:
        """What a model's code is: the toolkit's commit and source, its requirements and the project."""
        return {
            "git_commit": self.code_commit,
            "code_sha256": self.code_sha256,
            "requirements_sha256": self.requirements_sha256,
            "project_sha256": self.project_sha256,
        }


@dataclass(frozen=True)
class BatchSettings:
    """Settings of the batch inference function."""

    artifact_bucket: str
    registry_table: str
    model_name: str
    metadata_table: str
    capture_bucket: str
    feature_offline_bucket: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BatchSettings:
        env = os.environ if env is None else env
        return cls(
            artifact_bucket=_require(env, ARTIFACT_BUCKET),
            registry_table=_require(env, REGISTRY_TABLE),
            model_name=_require(env, MODEL_NAME),
            metadata_table=_require(env, METADATA_TABLE),
            capture_bucket=_require(env, CAPTURE_BUCKET),
            feature_offline_bucket=_require(env, FEATURE_OFFLINE_BUCKET),
        )


@dataclass(frozen=True)
class InferenceSettings:
    """Settings of the inference function."""

    artifact_bucket: str
    registry_table: str
    model_name: str
    model_refresh_seconds: int
    max_records: int
    capture_bucket: str
    # Optional: where POST /predict with entity ids reads features (a feature view, described by
    # functions/serving/online_view.py: the serving image cannot load the project).
    prediction_key_secret: str
    online_table: str = ""
    online_view: str = ""
    model_version: int | None = None
    api_auth: str = "api_key"
    at_root: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InferenceSettings:
        env = os.environ if env is None else env
        pinned = int(_number(env, MODEL_VERSION, int)) if env.get(MODEL_VERSION) else None
        return cls(
            artifact_bucket=_require(env, ARTIFACT_BUCKET),
            registry_table=_require(env, REGISTRY_TABLE),
            model_name=_require(env, MODEL_NAME),
            model_refresh_seconds=int(_number(env, MODEL_REFRESH_SECONDS, int)),
            max_records=int(_number(env, MAX_RECORDS, int)),
            capture_bucket=_require(env, CAPTURE_BUCKET),
            prediction_key_secret=_require(env, PREDICTION_KEY_SECRET),
            online_table=env.get(FEATURE_ONLINE_TABLE, ""),
            online_view=env.get(ONLINE_VIEW, ""),
            model_version=pinned,
            api_auth=env.get(API_AUTH, "api_key"),
            at_root=env.get(API_AT_ROOT) == "true",
        )


@dataclass(frozen=True)
class MonitorSettings:
    """Settings of the scheduled drift and quality monitor."""

    capture_bucket: str
    artifact_bucket: str
    registry_table: str
    model_name: str
    window_minutes: int
    quality_window_minutes: int
    min_window_rows: int
    min_labelled: int
    # The monitor run joins captured predictions with their labels into the model's feedback view here.
    feature_offline_bucket: str
    feedback_max_label_delay_hours: int
    # The share of a window's captures the drift statistics read (every prediction is captured).
    drift_sample_rate: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MonitorSettings:
        env = os.environ if env is None else env
        rate = float(_number(env, DRIFT_SAMPLE_RATE, float))
        if not 0.0 < rate <= 1.0:
            raise ConfigurationError(f"environment variable {DRIFT_SAMPLE_RATE} must be within (0, 1], got {rate}")
        return cls(
            capture_bucket=_require(env, CAPTURE_BUCKET),
            artifact_bucket=_require(env, ARTIFACT_BUCKET),
            registry_table=_require(env, REGISTRY_TABLE),
            model_name=_require(env, MODEL_NAME),
            window_minutes=int(_number(env, MONITOR_WINDOW_MINUTES, int)),
            quality_window_minutes=int(_number(env, MONITOR_QUALITY_WINDOW_MINUTES, int)),
            min_window_rows=int(_number(env, MONITOR_MIN_ROWS, int)),
            min_labelled=int(_number(env, MONITOR_MIN_LABELLED, int)),
            feature_offline_bucket=_require(env, FEATURE_OFFLINE_BUCKET),
            feedback_max_label_delay_hours=int(_number(env, FEEDBACK_MAX_LABEL_DELAY_HOURS, int)),
            drift_sample_rate=rate,
        )


@dataclass(frozen=True)
class TrainingSetSettings(PipelineSettings):
    """BuildTrainingSet's settings: the pipeline's, plus the feature store it reads training sets from."""

    feature_offline_bucket: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrainingSetSettings:
        env = os.environ if env is None else env
        base = PipelineSettings.from_env(env)
        return cls(**{**base.__dict__, "feature_offline_bucket": _require(env, FEATURE_OFFLINE_BUCKET)})


@dataclass(frozen=True)
class AthenaSettings:
    """Where training sets past ``threshold_rows`` feature rows are joined: a workgroup, a Glue database, results."""

    workgroup: str
    database: str
    results: str
    threshold_rows: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AthenaSettings | None:
        """The settings, or None where the stack set no workgroup (every join then runs in pandas)."""
        env = os.environ if env is None else env
        if not env.get(ATHENA_WORKGROUP):
            return None
        return cls(
            workgroup=_require(env, ATHENA_WORKGROUP),
            database=_require(env, ATHENA_DATABASE),
            results=_require(env, ATHENA_RESULTS),
            threshold_rows=int(_number(env, ATHENA_THRESHOLD_ROWS, int)),
        )


@dataclass(frozen=True)
class RetrainGuardSettings:
    """Settings of the retrain guard in front of the training pipeline."""

    guard_table: str
    state_machine_arn: str
    model_name: str
    cooldown_seconds: int
    daily_budget: int
    lock_seconds: int
    # Where the monitor keeps its runs: the evidence an alarm trigger links to.
    artifact_bucket: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetrainGuardSettings:
        env = os.environ if env is None else env
        return cls(
            guard_table=_require(env, GUARD_TABLE),
            state_machine_arn=_require(env, TRAINING_STATE_MACHINE_ARN),
            model_name=_require(env, MODEL_NAME),
            cooldown_seconds=int(_number(env, RETRAIN_COOLDOWN_SECONDS, int)),
            daily_budget=int(_number(env, RETRAIN_DAILY_BUDGET, int)),
            lock_seconds=int(_number(env, RETRAIN_LOCK_SECONDS, int)),
            artifact_bucket=_require(env, ARTIFACT_BUCKET),
        )


@dataclass(frozen=True)
class RolloutSettings:
    """Settings of the rollout functions: deployer, pre-traffic hook, outcome recorder."""

    registry_table: str
    model_name: str
    inference_function: str
    serving_alias: str
    deploy_application: str
    deploy_group: str
    pre_traffic_hook: str
    canary_alarms: tuple[str, ...]
    # Deployments, their outcome and automatic rollbacks are recorded in the lineage.
    metadata_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RolloutSettings:
        env = os.environ if env is None else env
        return cls(
            registry_table=_require(env, REGISTRY_TABLE),
            model_name=_require(env, MODEL_NAME),
            inference_function=_require(env, INFERENCE_FUNCTION),
            serving_alias=_require(env, SERVING_ALIAS),
            deploy_application=_require(env, DEPLOY_APPLICATION),
            deploy_group=_require(env, DEPLOY_GROUP),
            pre_traffic_hook=_require(env, PRE_TRAFFIC_HOOK),
            canary_alarms=tuple(name for name in _require(env, CANARY_ALARMS).split(",") if name),
            metadata_table=_require(env, METADATA_TABLE),
        )


@dataclass(frozen=True)
class RolloutCheckSettings:
    """Settings of the pre-traffic hook and the rollout outcome recorder."""

    registry_table: str
    model_name: str
    metadata_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RolloutCheckSettings:
        env = os.environ if env is None else env
        return cls(
            registry_table=_require(env, REGISTRY_TABLE),
            model_name=_require(env, MODEL_NAME),
            metadata_table=_require(env, METADATA_TABLE),
        )


@dataclass(frozen=True)
class FeatureSettings:
    """Settings of the feature pipeline's step functions."""

    data_bucket: str
    offline_bucket: str
    online_table: str
    metadata_table: str
    max_bad_row_fraction: float
    chunk_rows: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FeatureSettings:
        env = os.environ if env is None else env
        fraction = float(_number(env, FEATURE_MAX_BAD_ROW_FRACTION, float))
        if not 0.0 <= fraction <= 1.0:
            raise ConfigurationError(f"{FEATURE_MAX_BAD_ROW_FRACTION} must be within [0, 1], got {fraction}")
        chunk_rows = int(_number(env, FEATURE_CHUNK_ROWS, int))
        if chunk_rows < 1:
            raise ConfigurationError(f"{FEATURE_CHUNK_ROWS} must be positive, got {chunk_rows}")
        return cls(
            data_bucket=_require(env, DATA_BUCKET),
            offline_bucket=_require(env, FEATURE_OFFLINE_BUCKET),
            online_table=_require(env, FEATURE_ONLINE_TABLE),
            metadata_table=_require(env, METADATA_TABLE),
            max_bad_row_fraction=fraction,
            chunk_rows=chunk_rows,
        )
