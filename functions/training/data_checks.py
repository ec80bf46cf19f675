"""Statistical checks on a training set: size, label balance, drift against the previous set.

Schema checks (columns, types, ranges, labels) live in ``core.dataset``; these run on a frame
that passed them. Degenerate data fails fast (``DataValidationError``); drift is measured and
reported, and fails only above the configured limit, because a changed world is a reason to
retrain, not to stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from functions.feature_store.definitions import ValueType
from functions.shared.errors import DataValidationError
from functions.training.model_spec import ModelSpec


def dataset_stats(frame: pd.DataFrame, spec: ModelSpec) -> dict[str, Any]:
    """Row count, label shares and per-feature mean/std: what the manifest keeps for drift checks."""
    numeric = [f.name for f in spec.inputs if f.dtype in (ValueType.FLOAT64, ValueType.INT64)]
    if not spec.is_classifier:
        # A regression target drifts like a feature: its mean moving in previous standard deviations.
        numeric.append(spec.label)
    labels = frame[spec.label].astype(str).value_counts(normalize=True).sort_index() if spec.is_classifier else {}
    return {
        "rows": len(frame),
        "label_shares": {str(k): float(v) for k, v in dict(labels).items()},
        "features": {
            name: {"mean": float(frame[name].mean()), "std": float(frame[name].std(ddof=0))} for name in numeric
        },
    }


def check_label_balance(stats: dict[str, Any], *, max_majority_share: float) -> None:
    """Refuse a set whose majority class alone is ``max_majority_share`` or more of the rows."""
    shares: dict[str, float] = stats["label_shares"]
    if not shares:  # a regression target has no classes to be degenerate in
        return
    label, share = max(shares.items(), key=lambda kv: kv[1])
    if share >= max_majority_share:
        raise DataValidationError(
            f"label {label!r} is {share:.1%} of the rows (limit {max_majority_share:.0%}): degenerate training set"
        )


@dataclass(frozen=True)
class Drift:
    """Total variation distance of label shares, and the largest feature mean shift in previous stds."""

    label_tvd: float
    max_mean_shift: float
    feature: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"label_tvd": self.label_tvd, "max_mean_shift": self.max_mean_shift, "feature": self.feature}


def drift(current: dict[str, Any], previous: dict[str, Any]) -> Drift:
    labels = set(current["label_shares"]) | set(previous["label_shares"])
    tvd = 0.5 * sum(abs(current["label_shares"].get(x, 0.0) - previous["label_shares"].get(x, 0.0)) for x in labels)
    worst, worst_feature = 0.0, None
    for name, now in current["features"].items():
        before = previous["features"].get(name)
        if before is None:
            continue
        scale = before["std"] if before["std"] > 0 else 1.0
        shift = abs(now["mean"] - before["mean"]) / scale
        if shift > worst or worst_feature is None:
            worst, worst_feature = shift, name
    return Drift(label_tvd=round(tvd, 6), max_mean_shift=round(worst, 6), feature=worst_feature)


def check_drift(found: Drift, *, max_label_tvd: float, max_mean_shift: float) -> None:
    if not math.isfinite(found.label_tvd) or found.label_tvd > max_label_tvd:
        raise DataValidationError(f"label distribution drifted: TVD {found.label_tvd:.3f} > limit {max_label_tvd}")
    if found.max_mean_shift > max_mean_shift:
        raise DataValidationError(
            f"feature {found.feature!r} mean moved {found.max_mean_shift:.2f} previous stds (limit {max_mean_shift})"
        )
