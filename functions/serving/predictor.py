"""One serving model behind one interface: ONNX or scikit-learn, classifier or regressor.

The model's input follows the training rule (``functions.training.fit.model_input``): an
all-numeric signature gives a float matrix; otherwise the feature columns go by name, as a
dict of arrays to an ONNX model (one tensor per feature, no pandas needed) or as a DataFrame
to a scikit-learn one (its ``ColumnTransformer`` picks columns by name).

A classification answers a label and the probability of each class per record; a
regression answers a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from functions.serving.signature import ModelSignature, columns_to_matrix

ONNX = "onnx"
SKLEARN = "sklearn"


@dataclass(frozen=True)
class Predictions:
    """A batch's predictions, in record order: labels and probabilities, or values (regression)."""

    labels: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    # One row per record, one column per class (as the model gives them, unrounded).
    probabilities: np.ndarray | None = None
    values: tuple[float, ...] = ()
    regression: bool = False

    def __len__(self) -> int:
        return len(self.values) if self.regression else len(self.labels)

    def answer(self, index: int) -> dict[str, Any]:
        """Record ``index``'s answer: ``{"label", "probabilities"}`` (rounded to 6 places) or ``{"value"}``."""
        if self.regression:
            return {"value": round(self.values[index], 6)}
        assert self.probabilities is not None
        row = self.probabilities[index]
        return {
            "label": self.labels[index],
            "probabilities": {c: round(float(p), 6) for c, p in zip(self.classes, row, strict=True)},
        }

    @property
    def outcomes(self) -> list[str] | list[float]:
        """What the canary's distribution signal looks at: labels, or values for a regression."""
        return list(self.values) if self.regression else list(self.labels)


class Predictor:
    """``predict(columns)`` of a loaded model (``runtime``: ``onnx`` or ``sklearn``) with its signature."""

    def __init__(self, model: Any, signature: ModelSignature, *, runtime: str) -> None:
        self.model = model
        self.signature = signature
        self.runtime = runtime

    def model_input(self, columns: Mapping[str, np.ndarray]) -> Any:
        if self.signature.all_numeric:
            return columns_to_matrix(columns, self.signature)
        if self.runtime == ONNX:
            return {name: columns[name] for name in self.signature.names}
        import pandas as pd  # only scikit-learn models with string or bool inputs need a DataFrame

        return pd.DataFrame({name: columns[name] for name in self.signature.names})

    def predict(self, columns: Mapping[str, np.ndarray]) -> Predictions:
        batch = self.model_input(columns)
        if self.signature.is_regression:
            values = np.asarray(self.model.predict(batch), dtype=float).ravel()
            return Predictions(values=tuple(float(v) for v in values), regression=True)
        labels = self.model.predict(batch)
        return Predictions(
            labels=tuple(str(label) for label in labels),
            classes=tuple(str(c) for c in self.model.classes_),
            probabilities=np.atleast_2d(np.asarray(self.model.predict_proba(batch))),
        )
