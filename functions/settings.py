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
FEATURE_OFFLINE_BUCKET = "MLOPS_FEATURE_OFFLINE_BUCKET"
FEATURE_ONLINE_TABLE = "MLOPS_FEATURE_ONLINE_TABLE"
FEATURE_MAX_BAD_ROW_FRACTION = "MLOPS_FEATURE_MAX_BAD_ROW_FRACTION"
FEATURE_CHUNK_ROWS = "MLOPS_FEATURE_CHUNK_ROWS"
METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"

# Raw files for the feature pipeline land under raw/features/<source name>/ in the data bucket;
# a new object there starts the feature pipeline (S3 -> EventBridge rule).
RAW_FEATURES_PREFIX = "raw/features/"
# The online feature table's TTL attribute (epoch seconds), set on the table so DynamoDB reclaims storage.
ONLINE_TTL_ATTRIBUTE = "expires_at"

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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineSettings:
        env = os.environ if env is None else env
        return cls(
            data_bucket=_require(env, DATA_BUCKET),
            artifact_bucket=_require(env, ARTIFACT_BUCKET),
            registry_table=_require(env, REGISTRY_TABLE),
            metadata_table=_require(env, METADATA_TABLE),
            model_name=_require(env, MODEL_NAME),
            min_accuracy=float(_number(env, MIN_ACCURACY, float)),
        )


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
