"""A model's input signature and the validation of prediction requests against it.

Each feature has a dtype, and a request's value for it must be of that type:

- ``float``: a JSON number (not ``true``/``false``), finite;
- ``int``: a JSON number with an integral value (``3`` or ``3.0``), finite, within int64;
- ``string``: a JSON string;
- ``bool``: JSON ``true`` or ``false``.

Neither ranges (``minimum``/``maximum``) nor a string's ``allowed`` values are enforced:
out-of-range numbers and out-of-vocabulary categories are what drift monitoring is for, and
refusing them would hide the drift. A category the model never saw is still served (a
``OneHotEncoder(handle_unknown="ignore")`` encodes it as all zeros, i.e. as none of the known
categories); the monitor's categorical drift test then counts it against the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from functions.shared.errors import InvalidRequestError

if TYPE_CHECKING:
    from functions.training.model_spec import ModelSpec

# How a feature's value type reads in a signature (and in the API's request model).
_DTYPES = {"float64": "float", "int64": "int", "bool": "bool", "string": "string"}
NUMERIC_DTYPES = frozenset({"float", "int"})
REGRESSION = "regression"
_INT64_MAX = 2**63 - 1
# Served models are ONNX graphs with 32-bit float inputs: a larger number would reach the model as infinity.
FLOAT32_MAX = float(np.finfo(np.float32).max)


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

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def all_numeric(self) -> bool:
        """Every input is a number: the model takes one float matrix (and ONNX one float tensor)."""
        return all(f.dtype in NUMERIC_DTYPES for f in self.features)

    @property
    def is_regression(self) -> bool:
        return self.task == REGRESSION

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
                    f.get("dtype", "float"),
                    None if f.get("minimum") is None else float(f["minimum"]),
                    None if f.get("maximum") is None else float(f["maximum"]),
                    tuple(f["allowed"]) if f.get("allowed") is not None else None,
                )
                for f in raw["features"]
            ),
            labels=tuple(raw.get("labels", ())),
            task=raw.get("task", "classification"),
        )


def value_problem(value: Any, dtype: str) -> str | None:
    """Why ``value`` (as JSON decoded it) is not a valid ``dtype`` input, or None when it is."""
    if dtype in NUMERIC_DTYPES:
        # bool is an int subclass in Python; a JSON true is not a number.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {type(value).__name__}"
        if not math.isfinite(value):
            return f"must be finite, got {value}"
        if abs(value) > FLOAT32_MAX:
            return f"{value:g} is out of the model's 32-bit float range (at most {FLOAT32_MAX:.4g} in magnitude)"
        if dtype == "int":
            if isinstance(value, float) and not value.is_integer():
                return f"expected an integer, got {value}"
            if abs(value) > _INT64_MAX:
                return f"{value} is out of the 64-bit integer range"
        return None
    if dtype == "string":
        return None if isinstance(value, str) else f"expected a string, got {type(value).__name__}"
    if dtype == "bool":
        return None if isinstance(value, bool) else f"expected true or false, got {type(value).__name__}"
    return f"has unknown signature dtype {dtype!r}"


# An entity id (a join key's value in POST /predict's ``entities``): its characters, at most (the online store's
# key holds 2048 bytes; 256 characters of UTF-8 stay within 1024).
MAX_ENTITY_ID_CHARS = 256


def entity_id_problem(value: Any) -> str | None:
    """Why ``value`` is not an entity id (a string, or an integer as ids like ``customer_id=42`` are), or None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"expected a string or an integer entity id, got {type(value).__name__}"
    if isinstance(value, int) and abs(value) > _INT64_MAX:
        return f"{value} is out of the 64-bit integer range"
    if isinstance(value, str) and len(value) > MAX_ENTITY_ID_CHARS:
        return f"entity id of {len(value)} characters, the limit is {MAX_ENTITY_ID_CHARS}"
    return None


def _column(values: list[Any], dtype: str) -> np.ndarray:
    if dtype == "float":
        return np.asarray(values, dtype=float)
    if dtype == "int":
        return np.asarray([int(v) for v in values], dtype=np.int64)
    if dtype == "bool":
        return np.asarray(values, dtype=bool)
    return np.asarray(values, dtype=object)


def records_to_columns(records: Any, signature: ModelSignature, *, max_records: int) -> dict[str, np.ndarray]:
    """Validate a request's ``records``: one array per feature (signature order), or raise naming record and field.

    Each record is an object with exactly the signature's feature names, each value of its
    feature's dtype (see the module's docstring). Columns: float64 for ``float``, int64 for
    ``int``, bool for ``bool``, Python strings (object) for ``string``.
    """
    if not isinstance(records, list):
        raise InvalidRequestError("'records' must be a list of objects")
    if not records:
        raise InvalidRequestError("'records' is empty; send at least one record", status=422)
    if len(records) > max_records:
        raise InvalidRequestError(f"'records' has {len(records)} items, the limit is {max_records}", status=413)
    names = signature.names
    expected = set(names)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidRequestError(f"records[{index}] must be an object")
        missing = [n for n in names if n not in record]
        if missing:
            raise InvalidRequestError(f"records[{index}]: missing field {missing[0]!r}")
        extra = sorted(set(record) - expected)
        if extra:
            raise InvalidRequestError(f"records[{index}]: unknown field {extra[0]!r}")
        for feature in signature.features:
            problem = value_problem(record[feature.name], feature.dtype)
            if problem is not None:
                raise InvalidRequestError(f"records[{index}].{feature.name}: {problem}")
    return {f.name: _column([r[f.name] for r in records], f.dtype) for f in signature.features}


def columns_to_matrix(columns: Mapping[str, np.ndarray], signature: ModelSignature) -> np.ndarray:
    """The float matrix of an all-numeric signature's columns, in signature order."""
    return np.column_stack([np.asarray(columns[name], dtype=float) for name in signature.names])


def records_to_matrix(records: Any, signature: ModelSignature, *, max_records: int) -> np.ndarray:
    """Validate ``records`` of an all-numeric signature and return them as a float matrix (signature order)."""
    if not signature.all_numeric:
        raise ValueError("records_to_matrix needs an all-numeric signature; use records_to_columns")
    return columns_to_matrix(records_to_columns(records, signature, max_records=max_records), signature)
