"""A model's input signature and the validation of prediction requests against it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from functions.shared.errors import InvalidRequestError

if TYPE_CHECKING:
    from functions.training.model_spec import ModelSpec

# How a feature's value type reads in a signature (and in the API's request model).
_DTYPES = {"float64": "float", "int64": "int", "bool": "bool", "string": "string"}


@dataclass(frozen=True)
class FeatureSignature:
    name: str
    dtype: str  # "float", "int", "bool" or "string"
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModelSignature:
    features: tuple[FeatureSignature, ...]
    labels: tuple[str, ...]
    task: str = "classification"

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ModelSignature:
        return cls(
            features=tuple(
                FeatureSignature(f.name, _DTYPES[f.dtype], f.minimum, f.maximum, f.allowed) for f in spec.inputs
            ),
            labels=tuple(spec.labels),
            task=str(spec.task),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [
                {
                    "name": f.name,
                    "dtype": f.dtype,
                    "minimum": f.minimum,
                    "maximum": f.maximum,
                    **({"allowed": list(f.allowed)} if f.allowed is not None else {}),
                }
                for f in self.features
            ],
            "labels": list(self.labels),
            "task": self.task,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelSignature:
        return cls(
            features=tuple(
                FeatureSignature(
                    f["name"],
                    f["dtype"],
                    None if f.get("minimum") is None else float(f["minimum"]),
                    None if f.get("maximum") is None else float(f["maximum"]),
                    tuple(f["allowed"]) if f.get("allowed") is not None else None,
                )
                for f in raw["features"]
            ),
            labels=tuple(raw.get("labels", ())),
            task=raw.get("task", "classification"),
        )


def records_to_matrix(records: Any, signature: ModelSignature, *, max_records: int) -> np.ndarray:
    """Turn a request's ``records`` into a float matrix, or raise naming the record and field.

    Each record is an object with exactly the signature's feature names, each a
    finite number. Range is not enforced here: out-of-range inputs are what
    drift monitoring is for, and refusing them would hide the drift.
    """
    if not isinstance(records, list):
        raise InvalidRequestError("'records' must be a list of objects")
    if not records:
        raise InvalidRequestError("'records' is empty; send at least one record", status=422)
    if len(records) > max_records:
        raise InvalidRequestError(f"'records' has {len(records)} items, the limit is {max_records}", status=413)
    names = [f.name for f in signature.features]
    expected = set(names)
    matrix = np.empty((len(records), len(names)), dtype=float)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidRequestError(f"records[{index}] must be an object")
        missing = [n for n in names if n not in record]
        if missing:
            raise InvalidRequestError(f"records[{index}]: missing field {missing[0]!r}")
        extra = sorted(set(record) - expected)
        if extra:
            raise InvalidRequestError(f"records[{index}]: unknown field {extra[0]!r}")
        for column, name in enumerate(names):
            value = record[name]
            # bool is an int subclass in Python; a JSON true is not a number.
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequestError(f"records[{index}].{name}: expected a number, got {type(value).__name__}")
            if not math.isfinite(value):
                raise InvalidRequestError(f"records[{index}].{name}: must be finite, got {value}")
            matrix[index, column] = float(value)
    return matrix
