"""Environment variable names (shared with ``infra``) and typed runtime settings.

Handlers read their settings once, at cold start, through ``from_env``. The
stack sets exactly these names; a contract test checks that every handler's
settings load from the environment its function is given in the template.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from functions.core.errors import ConfigurationError

ARTIFACT_BUCKET = "MLOPS_ARTIFACT_BUCKET"
DATA_BUCKET = "MLOPS_DATA_BUCKET"
REGISTRY_TABLE = "MLOPS_REGISTRY_TABLE"
METADATA_TABLE = "MLOPS_METADATA_TABLE"
CAPTURE_BUCKET = "MLOPS_CAPTURE_BUCKET"
MODEL_NAME = "MLOPS_MODEL_NAME"
MIN_ACCURACY = "MLOPS_MIN_ACCURACY"
MODEL_REFRESH_SECONDS = "MLOPS_MODEL_REFRESH_SECONDS"
MAX_RECORDS = "MLOPS_MAX_RECORDS"
CODE_COMMIT = "MLOPS_CODE_COMMIT"
REQUIREMENTS_SHA256 = "MLOPS_REQUIREMENTS_SHA256"
APPROVAL_POLICY = "MLOPS_APPROVAL_POLICY"
MAX_MAJORITY_SHARE = "MLOPS_MAX_MAJORITY_SHARE"
MAX_LABEL_DRIFT = "MLOPS_MAX_LABEL_DRIFT"
MAX_MEAN_SHIFT = "MLOPS_MAX_MEAN_SHIFT"
METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"

# "auto": a candidate that passes the quality gate is approved and made champion by the pipeline;
# "manual": it is registered pending, and a person approves and promotes it (`mlops models ...`).
APPROVAL_POLICIES = ("auto", "manual")

# Name of the metadata table's index that lists runs of a pipeline by start time.
RUNS_BY_PIPELINE_INDEX = "gsi1"


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
    """Settings of the training pipeline's step functions."""

    data_bucket: str
    artifact_bucket: str
    registry_table: str
    metadata_table: str
    model_name: str
    min_accuracy: float
    code_commit: str
    requirements_sha256: str
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
            model_name=_require(env, MODEL_NAME),
            min_accuracy=float(_number(env, MIN_ACCURACY, float)),
            code_commit=_require(env, CODE_COMMIT),
            requirements_sha256=_require(env, REQUIREMENTS_SHA256),
            approval_policy=policy,
            max_majority_share=float(_number(env, MAX_MAJORITY_SHARE, float)),
            max_label_drift=float(_number(env, MAX_LABEL_DRIFT, float)),
            max_mean_shift=float(_number(env, MAX_MEAN_SHIFT, float)),
        )

    @property
    def code_version(self) -> dict[str, str]:
        return {"git_commit": self.code_commit, "requirements_sha256": self.requirements_sha256}


@dataclass(frozen=True)
class InferenceSettings:
    """Settings of the inference function."""

    artifact_bucket: str
    registry_table: str
    model_name: str
    model_refresh_seconds: int
    max_records: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InferenceSettings:
        env = os.environ if env is None else env
        return cls(
            artifact_bucket=_require(env, ARTIFACT_BUCKET),
            registry_table=_require(env, REGISTRY_TABLE),
            model_name=_require(env, MODEL_NAME),
            model_refresh_seconds=int(_number(env, MODEL_REFRESH_SECONDS, int)),
            max_records=int(_number(env, MAX_RECORDS, int)),
        )
