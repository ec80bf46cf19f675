"""Batch prediction over a table: every input row comes out, predicted or marked invalid with a reason."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from functions.serving.signature import ModelSignature
from functions.shared.errors import DataValidationError


def predict_frame(
    frame: pd.DataFrame, model: Any, signature: ModelSignature, model_name: str, version: int, *, source_key: str
) -> pd.DataFrame:
    """Predictions for ``frame``, one output row per input row, in input order.

    A missing feature column fails the partition (the data is not what the
    model takes). A row with a null or non-finite value is kept, marked
    ``status = INVALID`` with the column named, and not predicted.
    """
    names = [f.name for f in signature.features]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataValidationError(f"{source_key}: missing feature columns {missing}")
    values = frame[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    valid = ~bad.any(axis=1)
    reasons = np.array(
        [
            "" if ok else f"non-numeric, null or non-finite: {', '.join(np.array(names)[row])}"
            for ok, row in zip(valid, bad, strict=True)
        ],
        dtype=object,
    )
    out = frame.reset_index(drop=True).copy()
    out["status"] = np.where(valid, "OK", "INVALID")
    out["reason"] = reasons
    out["prediction"] = pd.Series([None] * len(out), dtype=object)
    out["probability"] = np.nan
    if valid.any():
        matrix = values[valid]
        out.loc[valid, "prediction"] = [str(label) for label in model.predict(matrix)]
        out.loc[valid, "probability"] = np.asarray(model.predict_proba(matrix)).max(axis=1)
    out["model_name"] = model_name
    out["model_version"] = version
    out["source_key"] = source_key
    return out
