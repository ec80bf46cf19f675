"""Running a view's transformation rule (paper steps 6-7, 10-11) and checking what it produced.

A rule (``definitions.Transformation``, declared in the project) is a pure function from
validated raw rows to feature rows of one view: join keys, ``event_timestamp`` and the
view's features. Its output is checked against the view's schema here, once, for every
caller (the feature pipeline's steps, partitioned runs, ``mlops project check``).
"""

from __future__ import annotations

import pandas as pd

from functions.feature_store.definitions import EVENT_TIMESTAMP, FeatureView, ValueType
from functions.shared.errors import DataValidationError


def apply_transformation(view: FeatureView, raw: pd.DataFrame) -> pd.DataFrame:
    """Run the view's rule on validated raw rows and check its output matches the view's schema."""
    produced = view.transformation(raw)
    if not isinstance(produced, pd.DataFrame):
        raise DataValidationError(
            f"transformation {view.transformation} for {view.qualified_name} returned {type(produced).__name__}, "
            "not a DataFrame"
        )
    expected = [*view.join_keys, EVENT_TIMESTAMP, *view.feature_names]
    missing = [c for c in expected if c not in produced.columns]
    if missing:
        raise DataValidationError(f"transformation {view.transformation} for {view.qualified_name} lacks {missing}")
    undeclared = sorted(set(produced.columns) - set(expected))
    if undeclared:
        raise DataValidationError(
            f"transformation {view.transformation} for {view.qualified_name} emits column(s) {undeclared} "
            f"that view {view.name!r} does not declare"
        )
    out = produced[expected].reset_index(drop=True)
    for key in view.join_keys:
        out[key] = out[key].astype("string")
    out[EVENT_TIMESTAMP] = pd.to_datetime(out[EVENT_TIMESTAMP], utc=True)
    for spec in view.schema:
        if spec.dtype is ValueType.FLOAT64:
            out[spec.name] = out[spec.name].astype("float64")
        elif spec.dtype is ValueType.INT64:
            out[spec.name] = out[spec.name].astype("Int64")
        elif spec.dtype is ValueType.STRING:
            out[spec.name] = out[spec.name].astype("string")
        elif spec.dtype is ValueType.BOOL:
            out[spec.name] = out[spec.name].astype("boolean")
        else:
            out[spec.name] = pd.to_datetime(out[spec.name], utc=True)
        if not spec.nullable and out[spec.name].isna().any():
            raise DataValidationError(
                f"transformation {view.transformation} produced nulls in required feature {spec.name!r}"
            )
    return out
