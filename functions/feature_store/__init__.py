"""The feature store's pure core: definitions, validation, rules, point-in-time joins, manifests.

Names are imported on first use (PEP 562), not with the package: the inference function reads the
online store (``feature_store.online_store``) in the serving image, which has no pandas or pyarrow,
and importing a submodule runs this file first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULES = {
    "definitions": (
        "CREATED_TIMESTAMP",
        "EVENT_TIMESTAMP",
        "Entity",
        "FeatureView",
        "Field",
        "RawSource",
        "Transformation",
        "ValueType",
        "transformation",
    ),
    "manifest": ("StoredFile", "TrainingSetManifest", "WriteManifest", "training_set_manifest"),
    "point_in_time": ("point_in_time_join",),
    "validation": ("ValidationResult", "enforce_bad_row_fraction", "validate_rows"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


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
