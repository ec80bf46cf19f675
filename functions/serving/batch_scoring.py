"""Batch prediction over a table: every input row comes out, predicted or marked invalid with a reason."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from functions.serving.predictor import SKLEARN, Predictor
from functions.serving.signature import NUMERIC_DTYPES, FeatureSignature, ModelSignature, value_problem
from functions.shared.errors import DataValidationError

# What a row's value of each dtype failed to be, in an INVALID row's reason.
_EXPECTED = {
    "float": "non-numeric, null or non-finite",
    "int": "not an integer, null or non-finite",
    "string": "not a string, or null",
    "bool": "not true/false, or null",
}


def predict_frame(
    frame: pd.DataFrame,
    model: Any,
    signature: ModelSignature,
    model_name: str,
    version: int,
    *,
    source_key: str,
    runtime: str = SKLEARN,
) -> pd.DataFrame:
    """Predictions for ``frame``, one output row per input row, in input order.

    A missing feature column fails the partition (the data is not what the
    model takes). A row with a value its feature's dtype does not admit (the
    request rules: a finite number, integral for ``int``, not a boolean; a
    string; a boolean; never null) is kept, marked ``status = INVALID`` with
    the columns named, and not predicted. A classification fills
    ``prediction`` (the label) and ``probability`` (the label's); a
    regression fills ``prediction`` with the predicted value.
    """
    names = signature.names
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataValidationError(f"{source_key}: missing feature columns {missing}")
    checked = {f.name: _checked(frame[f.name], f) for f in signature.features}
    bad: np.ndarray = np.column_stack([~ok for _, ok in checked.values()])
    valid = ~np.asarray(bad.any(axis=1), dtype=bool)
    expected = [f"{f.name} ({_EXPECTED.get(f.dtype, 'invalid')})" for f in signature.features]
    reasons = [
        "" if ok else "invalid: " + ", ".join(e for e, wrong in zip(expected, row, strict=True) if wrong)
        for ok, row in zip(valid.tolist(), bad.tolist(), strict=True)
    ]
    out = frame.reset_index(drop=True).copy()
    out["status"] = np.where(valid, "OK", "INVALID")
    out["reason"] = reasons
    if signature.is_regression:
        out["prediction"] = np.nan
    else:
        out["prediction"] = pd.Series([None] * len(out), dtype=object)
        out["probability"] = np.nan
    if valid.any():
        predictions = Predictor(model, signature, runtime=runtime).predict(
            {name: values[valid] for name, (values, _) in checked.items()}
        )
        if predictions.regression:
            out.loc[valid, "prediction"] = np.asarray(predictions.values, dtype=float)
        else:
            out.loc[valid, "prediction"] = list(predictions.labels)
            assert predictions.probabilities is not None
            out.loc[valid, "probability"] = predictions.probabilities.max(axis=1)
    out["model_name"] = model_name
    out["model_version"] = version
    out["source_key"] = source_key
    return out


def _checked(column: pd.Series, feature: FeatureSignature) -> tuple[np.ndarray, np.ndarray]:
    """(values as the model takes them, which rows are valid) of one feature column."""
    if (
        feature.dtype in NUMERIC_DTYPES
        and pd.api.types.is_numeric_dtype(column)
        and not (pd.api.types.is_bool_dtype(column))
    ):
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(numbers)
        if feature.dtype == "int":
            ok &= np.where(ok, np.round(numbers) == numbers, False) & (np.abs(numbers) < 2.0**63)
            return np.where(ok, numbers, 0).astype(np.int64), ok
        return numbers, ok
    # Object (or string, or boolean) columns: each value by the request's rule.
    raw = column.to_numpy(dtype=object, na_value=None)
    ok = np.array([value_problem(_plain(v), feature.dtype) is None for v in raw], dtype=bool)
    if feature.dtype == "float":
        return np.array([float(v) if good else np.nan for v, good in zip(raw, ok, strict=True)]), ok
    if feature.dtype == "int":
        return np.array([int(v) if good else 0 for v, good in zip(raw, ok, strict=True)], dtype=np.int64), ok
    if feature.dtype == "bool":
        return np.array([bool(v) if good else False for v, good in zip(raw, ok, strict=True)], dtype=bool), ok
    return np.array([str(v) if good else "" for v, good in zip(raw, ok, strict=True)], dtype=object), ok


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON would have given (so one rule checks both)."""
    return value.item() if isinstance(value, np.generic) else value
