"""The feature store's pure core: definitions, validation, rules, point-in-time joins, manifests."""

from functions.feature_store.definitions import (
    CREATED_TIMESTAMP,
    EVENT_TIMESTAMP,
    Entity,
    FeatureView,
    Field,
    RawSource,
    Transformation,
    ValueType,
    transformation,
)
from functions.feature_store.manifest import StoredFile, TrainingSetManifest, WriteManifest, training_set_manifest
from functions.feature_store.point_in_time import point_in_time_join
from functions.feature_store.validation import ValidationResult, enforce_bad_row_fraction, validate_rows

__all__ = [
    "CREATED_TIMESTAMP",
    "EVENT_TIMESTAMP",
    "Entity",
    "FeatureView",
    "Field",
    "RawSource",
    "StoredFile",
    "TrainingSetManifest",
    "Transformation",
    "ValidationResult",
    "ValueType",
    "WriteManifest",
    "enforce_bad_row_fraction",
    "point_in_time_join",
    "training_set_manifest",
    "transformation",
    "validate_rows",
]
