"""The drift baseline of one model version: a compact picture of its reference data.

Stored as JSON next to the model version (``baselines/model=<name>/version=<n>.json``
in the artifacts bucket) so the monitor never re-reads the training data.

The model's predictions on the reference rows are kept as a category distribution
(``prediction_distribution``: a classifier's labels) or, for a regressor, as a numeric
reference (``prediction_numeric``: bins and a sample, like a numeric feature's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from functions.shared.errors import DataValidationError

# Evidently treats a numeric column with at most this many distinct values as categorical.
CATEGORICAL_MAX_UNIQUE = 5
DEFAULT_SAMPLE_SIZE = 5000
DEFAULT_QUANTILE_BINS = 10
FORMAT_VERSION = 1


def category_key(value: Any) -> str:
    """The canonical text of a categorical value: 1, 1.0 and "1" are the same category."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


@dataclass(frozen=True)
class NumericReference:
    """A numeric feature: quantile bin edges with reference fractions, and a bounded sample."""

    name: str
    bin_edges: tuple[float, ...]
    bin_fractions: tuple[float, ...]
    sample: tuple[float, ...]
    mean: float
    std: float

    kind = "numeric"


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical feature: the reference frequency of each category."""

    name: str
    frequencies: tuple[tuple[str, float], ...]

    kind = "categorical"

    def as_dict(self) -> dict[str, float]:
        return dict(self.frequencies)


FeatureReference = NumericReference | CategoricalReference


@dataclass(frozen=True)
class DriftBaseline:
    """Per-feature references, the predictions' distribution and the reference row count.

    ``prediction_distribution`` holds predicted labels' shares; a regressor's predictions
    are ``prediction_numeric`` instead (and the distribution is empty).
    """

    features: tuple[FeatureReference, ...]
    prediction_distribution: tuple[tuple[str, float], ...]
    reference_rows: int
    sample_size: int
    seed: int
    prediction_numeric: NumericReference | None = None

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def feature(self, name: str) -> FeatureReference:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"baseline has no feature {name!r}; it has {', '.join(self.feature_names)}")

    def to_dict(self) -> dict[str, Any]:
        features: list[dict[str, Any]] = []
        for feature in self.features:
            if isinstance(feature, NumericReference):
                features.append(_numeric_dict(feature))
            else:
                features.append({"name": feature.name, "kind": "categorical", "frequencies": feature.as_dict()})
        return {
            "format_version": FORMAT_VERSION,
            "reference_rows": self.reference_rows,
            "sample_size": self.sample_size,
            "seed": self.seed,
            "prediction_distribution": dict(self.prediction_distribution),
            **(
                {"prediction_numeric": _numeric_dict(self.prediction_numeric)}
                if self.prediction_numeric is not None
                else {}
            ),
            "features": features,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftBaseline:
        if data.get("format_version") != FORMAT_VERSION:
            raise DataValidationError(
                f"drift baseline format_version must be {FORMAT_VERSION}, got {data.get('format_version')!r}"
            )
        try:
            features: list[FeatureReference] = []
            for raw in data["features"]:
                if raw["kind"] == "numeric":
                    features.append(_numeric_from(raw))
                elif raw["kind"] == "categorical":
                    features.append(
                        CategoricalReference(
                            name=raw["name"],
                            frequencies=tuple((str(k), float(v)) for k, v in raw["frequencies"].items()),
                        )
                    )
                else:
                    raise DataValidationError(
                        f"drift baseline feature {raw['name']!r} has unknown kind {raw['kind']!r}"
                    )
            return cls(
                features=tuple(features),
                prediction_distribution=tuple((str(k), float(v)) for k, v in data["prediction_distribution"].items()),
                reference_rows=int(data["reference_rows"]),
                sample_size=int(data["sample_size"]),
                seed=int(data["seed"]),
                prediction_numeric=(
                    _numeric_from(data["prediction_numeric"]) if data.get("prediction_numeric") else None
                ),
            )
        except KeyError as exc:
            raise DataValidationError(f"drift baseline is missing field {exc.args[0]!r}") from None


def _numeric_dict(reference: NumericReference) -> dict[str, Any]:
    return {
        "name": reference.name,
        "kind": "numeric",
        "bin_edges": list(reference.bin_edges),
        "bin_fractions": list(reference.bin_fractions),
        "sample": list(reference.sample),
        "mean": reference.mean,
        "std": reference.std,
    }


def _numeric_from(raw: Mapping[str, Any]) -> NumericReference:
    return NumericReference(
        name=raw["name"],
        bin_edges=tuple(float(x) for x in raw["bin_edges"]),
        bin_fractions=tuple(float(x) for x in raw["bin_fractions"]),
        sample=tuple(float(x) for x in raw["sample"]),
        mean=float(raw["mean"]),
        std=float(raw["std"]),
    )


def frequencies(values: Iterable[Any]) -> tuple[tuple[str, float], ...]:
    """Category -> fraction of values, sorted by category text."""
    counts = pd.Series(values if isinstance(values, np.ndarray) else list(values), dtype=object).value_counts()
    total = int(counts.sum())
    if total == 0:
        return ()
    # Canonicalize the distinct values only (1 and 1.0 may both occur: sum them under one key).
    by_key: dict[str, int] = {}
    for value, count in counts.items():
        key = category_key(value)
        by_key[key] = by_key.get(key, 0) + int(count)
    return tuple((key, by_key[key] / total) for key in sorted(by_key))


def is_categorical(column: pd.Series) -> bool:
    """Evidently's rule: non-numeric columns, and numeric ones with few distinct values."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return True
    return int(column.nunique(dropna=True)) <= CATEGORICAL_MAX_UNIQUE


def build_baseline(
    frame: pd.DataFrame,
    feature_names: Sequence[str],
    predicted_labels: Sequence[Any],
    *,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
    quantile_bins: int = DEFAULT_QUANTILE_BINS,
    numeric_predictions: bool = False,
) -> DriftBaseline:
    """The baseline of ``frame``'s ``feature_names`` and the model's predictions on it.

    Numeric features keep a uniform sample of at most ``sample_size`` rows
    (drawn with ``seed``; rows are sampled together across features) for the
    KS test and the Wasserstein distance, plus quantile bins for PSI.
    ``numeric_predictions`` (a regressor's) are kept the same way; otherwise
    predictions are labels, kept as their shares.
    """
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise DataValidationError(f"reference frame has no column(s) {', '.join(missing)}")
    if len(frame) == 0:
        raise DataValidationError("reference frame is empty; a baseline needs rows")
    if len(predicted_labels) != len(frame):
        raise DataValidationError(
            f"predicted_labels has {len(predicted_labels)} entries for {len(frame)} reference rows"
        )
    if sample_size < 1 or quantile_bins < 2:
        raise ValueError("sample_size must be >= 1 and quantile_bins >= 2")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(frame), size=min(sample_size, len(frame)), replace=False))
    features: list[FeatureReference] = []
    for name in feature_names:
        column = frame[name]
        if column.isna().any():
            raise DataValidationError(f"reference column {name!r} has {int(column.isna().sum())} missing values")
        if is_categorical(column):
            features.append(CategoricalReference(name=name, frequencies=frequencies(column.to_numpy())))
            continue
        features.append(numeric_reference(name, column.to_numpy(dtype=float), rows, quantile_bins))
    if numeric_predictions:
        predicted = np.asarray(predicted_labels, dtype=float).ravel()
        if not np.isfinite(predicted).all():
            raise DataValidationError("the model's predictions on the reference rows are not all finite")
        return DriftBaseline(
            features=tuple(features),
            prediction_distribution=(),
            reference_rows=len(frame),
            sample_size=sample_size,
            seed=seed,
            prediction_numeric=numeric_reference("prediction", predicted, rows, quantile_bins),
        )
    return DriftBaseline(
        features=tuple(features),
        prediction_distribution=frequencies(predicted_labels),
        reference_rows=len(frame),
        sample_size=sample_size,
        seed=seed,
    )


def numeric_reference(name: str, values: np.ndarray, rows: np.ndarray, quantile_bins: int) -> NumericReference:
    """Quantile bins of ``values`` with their fractions, the sample at ``rows``, mean and std."""
    edges = quantile_edges(values, quantile_bins)
    return NumericReference(
        name=name,
        bin_edges=tuple(float(e) for e in edges),
        bin_fractions=tuple(float(f) for f in bin_fractions(values, edges)),
        sample=tuple(float(v) for v in values[rows]),
        mean=float(values.mean()),
        std=float(values.std()),
    )


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Distinct interior quantile edges; the outer bins are open-ended (-inf, inf)."""
    interior = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.concatenate(([-np.inf], interior, [np.inf]))


def bin_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of ``values`` in each ``[edge_i, edge_i+1)`` bin."""
    if len(values) == 0:
        return np.zeros(len(edges) - 1)
    index = np.searchsorted(edges, values, side="right") - 1
    counts = np.bincount(np.clip(index, 0, len(edges) - 2), minlength=len(edges) - 1)
    return counts / len(values)
