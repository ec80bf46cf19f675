"""Per-feature drift statistics, computed with scipy the way Evidently computes them.

Tests return p-values (drift when ``p < threshold``); distances return a
distance (drift when ``distance >= threshold``). Categorical inputs are
category -> fraction (reference) and category -> count or fraction (current).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats
from scipy.spatial import distance

# Evidently replaces empty categorical bins with this fraction before JS and PSI,
# so a category seen on one side only gives a large but finite value.
EMPTY_BIN_FRACTION = 1e-4
# Floor of the reference standard deviation that normalizes the Wasserstein distance.
MIN_NORMALIZING_STD = 1e-3


def ks_p_value(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (``scipy.stats.ks_2samp``)."""
    return float(stats.ks_2samp(reference, current).pvalue)


def normalized_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance in units of the reference standard deviation."""
    scale = max(float(np.std(reference)), MIN_NORMALIZING_STD)
    return float(stats.wasserstein_distance(reference, current)) / scale


def _aligned(reference: Mapping[str, float], current: Mapping[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    categories = sorted(set(reference) | set(current))
    ref = np.array([reference.get(c, 0.0) for c in categories], dtype=float)
    cur = np.array([current.get(c, 0.0) for c in categories], dtype=float)
    return categories, ref, cur


def chi_square_p_value(reference_fractions: Mapping[str, float], current_counts: Mapping[str, float]) -> float:
    """Goodness of fit of the current counts to the reference fractions (``scipy.stats.chisquare``).

    A category the reference never saw makes the expected count zero: the
    statistic is infinite and the p-value 0 (scipy would divide by zero).
    """
    _, ref, observed = _aligned(reference_fractions, current_counts)
    total = observed.sum()
    if total <= 0:
        raise ValueError("chi-square needs at least one current observation")
    expected = ref / ref.sum() * total
    if np.any((expected == 0) & (observed > 0)):
        return 0.0
    keep = expected > 0
    return float(stats.chisquare(observed[keep], expected[keep]).pvalue)


def jensen_shannon(reference_fractions: Mapping[str, float], current_fractions: Mapping[str, float]) -> float:
    """Jensen-Shannon distance (natural log, ``scipy.spatial.distance.jensenshannon``)."""
    _, ref, cur = _aligned(reference_fractions, current_fractions)
    ref = np.where(ref == 0, EMPTY_BIN_FRACTION, ref)
    cur = np.where(cur == 0, EMPTY_BIN_FRACTION, cur)
    return float(distance.jensenshannon(ref, cur))


def psi(reference_fractions: np.ndarray, current_fractions: np.ndarray) -> float:
    """Population stability index over matching bins; empty bins count as ``EMPTY_BIN_FRACTION``."""
    ref = np.where(reference_fractions == 0, EMPTY_BIN_FRACTION, reference_fractions)
    cur = np.where(current_fractions == 0, EMPTY_BIN_FRACTION, current_fractions)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def categorical_psi(reference_fractions: Mapping[str, float], current_fractions: Mapping[str, float]) -> float:
    """PSI with one bin per category."""
    _, ref, cur = _aligned(reference_fractions, current_fractions)
    return psi(ref, cur)
