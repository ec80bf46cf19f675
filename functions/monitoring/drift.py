"""Dataset and prediction drift of a window of live traffic against a ``DriftBaseline``.

Method choice follows Evidently's defaults: with a reference of at most
``small_reference_rows`` rows, statistical tests (KS for numeric features,
chi-square for categorical ones, drift when ``p < p_value``); above it,
distances (normalized Wasserstein, Jensen-Shannon, drift when
``distance >= distance_threshold``), because tests on large samples flag
differences too small to matter. PSI is always reported, never decides.
The dataset drifts when the share of drifted features reaches ``drift_share``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from functions.monitoring import statistics
from functions.monitoring.baseline import (
    CategoricalReference,
    DriftBaseline,
    FeatureReference,
    NumericReference,
    bin_fractions,
    category_key,
    frequencies,
)
from functions.shared.errors import DataValidationError

KS = "ks"
CHI_SQUARE = "chi_square"
WASSERSTEIN = "wasserstein_normed"
JENSEN_SHANNON = "jensen_shannon"
TESTS = frozenset({KS, CHI_SQUARE})

EVALUATED = "evaluated"
SKIPPED = "skipped"


@dataclass(frozen=True)
class DriftPolicy:
    """Thresholds of the drift decision (Evidently's data-drift defaults)."""

    small_reference_rows: int = 1000
    p_value: float = 0.05
    distance_threshold: float = 0.1
    drift_share: float = 0.5
    min_window_rows: int = 200
    # The normalized Wasserstein distance of two samples of one distribution
    # shrinks like 1/sqrt(rows): below ~500 current rows it crosses 0.1 by
    # chance often enough to false-alarm (measured in tests/unit/test_monitoring.py).
    min_window_rows_for_distances: int = 500

    def __post_init__(self) -> None:
        if not 0 < self.p_value < 1:
            raise ValueError(f"p_value must be within (0, 1), got {self.p_value}")
        if self.distance_threshold <= 0:
            raise ValueError(f"distance_threshold must be positive, got {self.distance_threshold}")
        if not 0 < self.drift_share <= 1:
            raise ValueError(f"drift_share must be within (0, 1], got {self.drift_share}")
        if self.min_window_rows < 1 or self.min_window_rows_for_distances < 1:
            raise ValueError("min_window_rows and min_window_rows_for_distances must be at least 1")

    def minimum_window(self, reference_rows: int) -> int:
        """Fewest current rows a window needs: more when distances (large reference) decide."""
        if reference_rows <= self.small_reference_rows:
            return self.min_window_rows
        return max(self.min_window_rows, self.min_window_rows_for_distances)

    def method(self, kind: str, reference_rows: int) -> str:
        small = reference_rows <= self.small_reference_rows
        if kind == "numeric":
            return KS if small else WASSERSTEIN
        return CHI_SQUARE if small else JENSEN_SHANNON

    def threshold(self, method: str) -> float:
        return self.p_value if method in TESTS else self.distance_threshold


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift: the method, its score (p-value or distance), the decision, and PSI."""

    name: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    psi: float
    current_rows: int


@dataclass(frozen=True)
class DriftReport:
    """Drift of one window; ``status`` is ``skipped`` (with ``reason``) for too-small windows."""

    status: str
    window_rows: int
    reference_rows: int
    policy: DriftPolicy
    features: tuple[ColumnDrift, ...] = ()
    prediction: ColumnDrift | None = None
    reason: str = ""
    drift_share: float = 0.0
    dataset_drift: bool = False
    drifted_features: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def column_drift(
    reference: FeatureReference, current: pd.Series, policy: DriftPolicy, reference_rows: int
) -> ColumnDrift:
    """Drift of one column against its reference."""
    values = current.dropna()
    if len(values) == 0:
        raise DataValidationError(f"feature {reference.name!r} has no values in the window")
    method = policy.method(reference.kind, reference_rows)
    threshold = policy.threshold(method)
    if isinstance(reference, NumericReference):
        try:
            numbers = values.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DataValidationError(
                f"feature {reference.name!r} is numeric in the baseline, not in the window"
            ) from None
        sample = np.asarray(reference.sample)
        score = (
            statistics.ks_p_value(sample, numbers)
            if method == KS
            else statistics.normalized_wasserstein(sample, numbers)
        )
        edges = np.asarray(reference.bin_edges)
        psi = statistics.psi(np.asarray(reference.bin_fractions), bin_fractions(numbers, edges))
    else:
        assert isinstance(reference, CategoricalReference)
        ref = reference.as_dict()
        current_fractions = dict(frequencies(values.to_numpy()))
        if method == CHI_SQUARE:
            counts = {k: v * len(values) for k, v in current_fractions.items()}
            score = statistics.chi_square_p_value(ref, counts)
        else:
            score = statistics.jensen_shannon(ref, current_fractions)
        psi = statistics.categorical_psi(ref, current_fractions)
    drifted = score < threshold if method in TESTS else score >= threshold
    return ColumnDrift(
        name=reference.name,
        kind=reference.kind,
        method=method,
        score=score,
        threshold=threshold,
        drifted=bool(drifted),
        psi=psi,
        current_rows=len(values),
    )


def detect_drift(
    baseline: DriftBaseline,
    current: pd.DataFrame,
    predicted_labels: Sequence[Any] | None = None,
    *,
    policy: DriftPolicy | None = None,
) -> DriftReport:
    """Drift of ``current`` (one row per prediction) and its predictions against ``baseline``.

    ``predicted_labels`` are labels, or a regressor's values when the baseline keeps its
    predictions as numbers (``prediction_numeric``).
    """
    policy = policy or DriftPolicy()
    rows = len(current)
    minimum = policy.minimum_window(baseline.reference_rows)
    if rows < minimum:
        return DriftReport(
            status=SKIPPED,
            window_rows=rows,
            reference_rows=baseline.reference_rows,
            policy=policy,
            reason=f"window has {rows} rows, fewer than the minimum of {minimum}",
        )
    missing = [name for name in baseline.feature_names if name not in current.columns]
    if missing:
        raise DataValidationError(f"window has no column(s) {', '.join(missing)} of the baseline")
    features = tuple(
        column_drift(reference, current[reference.name], policy, baseline.reference_rows)
        for reference in baseline.features
    )
    prediction = None
    if predicted_labels is not None and len(predicted_labels) > 0:
        if baseline.prediction_numeric is not None:
            # A regressor's predictions: drift of their values, as for a numeric feature.
            values = pd.Series(np.asarray(predicted_labels, dtype=float))
            prediction = column_drift(baseline.prediction_numeric, values, policy, baseline.reference_rows)
        elif baseline.prediction_distribution:
            labels = pd.Series([category_key(v) for v in predicted_labels], dtype=object)
            reference = CategoricalReference(name="prediction", frequencies=baseline.prediction_distribution)
            prediction = column_drift(reference, labels, policy, baseline.reference_rows)
    drifted = tuple(f.name for f in features if f.drifted)
    share = len(drifted) / len(features) if features else 0.0
    return DriftReport(
        status=EVALUATED,
        window_rows=rows,
        reference_rows=baseline.reference_rows,
        policy=policy,
        features=features,
        prediction=prediction,
        drift_share=share,
        dataset_drift=bool(features) and share >= policy.drift_share,
        drifted_features=drifted,
    )
