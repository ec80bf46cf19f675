"""ONNX export of scikit-learn models, and an onnxruntime model for serving.

Serving a converted model with onnxruntime keeps the inference function
free of scikit-learn and pandas at import, which is what makes its cold
start short. Models whose type skl2onnx cannot convert are served by
scikit-learn instead (``OnnxUnsupported`` says why, and the registry keeps it).

Two input layouts:

- all-numeric models (what ``functions.training.fit.model_input`` gives a float matrix)
  take one float tensor ``X`` of shape ``(n, features)``; a classifier's export is exactly
  what it always was (same bytes);
- models with a string or bool input (a ``Pipeline`` whose ``ColumnTransformer`` picks
  columns by name) take one ``(n, 1)`` tensor per feature, named after it: string for
  ``string``, int64 for ``int`` and ``bool`` (0/1, which a ``OneHotEncoder`` fitted on
  booleans matches), float for ``float``. skl2onnx converts some such pipelines wrongly
  rather than not at all (an encoder fed the wrong tensor type), so this export is only
  kept when onnxruntime's predictions on a sample of the training rows match
  scikit-learn's.

Classifiers carry their classes in the model's metadata (``mlops.classes``) and answer
``label`` and ``probabilities`` (no ZipMap); regressors answer one value per row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from functions.shared.errors import ArtifactIntegrityError

if TYPE_CHECKING:
    import pandas as pd

    from functions.serving.signature import ModelSignature

_CLASSES_KEY = "mlops.classes"
_OPSET = 17
# Parity of a per-column export with scikit-learn on the check sample: probabilities (classification)
# within this, values (regression) within this times the largest magnitude, on all but a sliver of rows
# (float32 thresholds may send a value lying on a split the other way, as for the float-tensor export).
_PROBABILITY_TOLERANCE = 1e-3
_RELATIVE_VALUE_TOLERANCE = 1e-4
_MAX_MISMATCH_SHARE = 0.005
_MAX_CHECK_ROWS = 1000


@dataclass(frozen=True)
class OnnxExport:
    data: bytes
    sha256: str


@dataclass(frozen=True)
class OnnxUnsupported:
    reason: str


def export_onnx(
    model: Any, inputs: int | ModelSignature, *, sample: pd.DataFrame | None = None
) -> OnnxExport | OnnxUnsupported:
    """Convert ``model`` to ONNX, or say why it cannot be served that way.

    ``inputs``: the number of float features of a classifier (the original form), or the
    model's signature. An all-numeric signature gives the single float tensor input; any
    other one tensor per feature, checked against scikit-learn on ``sample`` (the feature
    columns of training rows, as ``model_input`` gives them), which it then requires.
    """
    if isinstance(inputs, int):
        return _export_matrix(model, inputs, classifier=True)
    if inputs.all_numeric:
        return _export_matrix(model, len(inputs.features), classifier=not inputs.is_regression)
    if sample is None or len(sample) == 0:
        raise ValueError("a per-column ONNX export needs a sample of training rows to check it against")
    return _export_columns(model, inputs, sample)


def _export_matrix(model: Any, n_features: int, *, classifier: bool) -> OnnxExport | OnnxUnsupported:
    from skl2onnx import to_onnx

    sample = np.zeros((1, n_features), dtype=np.float32)
    options = {id(model): {"zipmap": False}} if classifier else None
    try:
        onnx_model = to_onnx(model, sample, options=options, target_opset=_OPSET)
    except Exception as exc:  # skl2onnx raises many types for "cannot convert this"
        return OnnxUnsupported(f"{type(model).__name__}: {exc}")
    return _finish(onnx_model, model, classifier=classifier)


def _export_columns(model: Any, signature: ModelSignature, sample: pd.DataFrame) -> OnnxExport | OnnxUnsupported:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    tensor = {"float": FloatTensorType, "int": Int64TensorType, "bool": Int64TensorType, "string": StringTensorType}
    initial_types = [(f.name, tensor[f.dtype]([None, 1])) for f in signature.features]
    classifier = not signature.is_regression
    options = {id(model): {"zipmap": False}} if classifier else None
    try:
        onnx_model = to_onnx(model, initial_types=initial_types, options=options, target_opset=_OPSET)
    except Exception as exc:  # skl2onnx raises many types for "cannot convert this"
        return OnnxUnsupported(f"{type(model).__name__} with per-column inputs: {exc}")
    export = _finish(onnx_model, model, classifier=classifier)
    problem = _parity_problem(export, model, signature, sample)
    return OnnxUnsupported(f"{type(model).__name__} with per-column inputs: {problem}") if problem else export


def _finish(onnx_model: Any, model: Any, *, classifier: bool) -> OnnxExport:
    if classifier:
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = _CLASSES_KEY, json.dumps([str(c) for c in model.classes_])
    data = onnx_model.SerializeToString()
    return OnnxExport(data=data, sha256=hashlib.sha256(data).hexdigest())


def _parity_problem(export: OnnxExport, model: Any, signature: ModelSignature, sample: pd.DataFrame) -> str | None:
    """Why the export does not predict what ``model`` does on (evenly spaced rows of) ``sample``, or None."""
    rows = sample.iloc[np.unique(np.linspace(0, len(sample) - 1, min(len(sample), _MAX_CHECK_ROWS)).astype(int))]
    frame = rows[signature.names]
    try:
        onnx = OnnxModel(export.data, export.sha256)
        if signature.is_regression:
            expected = np.asarray(model.predict(frame), dtype=float).ravel()
            got = onnx.predict(frame).astype(float)
            tolerance = _RELATIVE_VALUE_TOLERANCE * max(1.0, float(np.abs(expected).max()))
            off = np.abs(got - expected) > tolerance
        else:
            expected = np.asarray(model.predict_proba(frame), dtype=float)
            got = np.asarray(onnx.predict_proba(frame), dtype=float)
            if got.shape != expected.shape:
                return f"onnxruntime gives probabilities of shape {got.shape}, scikit-learn {expected.shape}"
            off = (np.abs(got - expected) > _PROBABILITY_TOLERANCE).any(axis=1)
    except Exception as exc:  # onnxruntime refuses a graph it cannot run: not servable as ONNX
        return f"onnxruntime cannot run the converted model: {exc}"
    if off.mean() > _MAX_MISMATCH_SHARE:
        return (
            f"onnxruntime's predictions differ from scikit-learn's on {int(off.sum())} of {len(off)} "
            "training rows checked"
        )
    return None


class OnnxModel:
    """``predict`` (and, for a classifier, ``predict_proba`` / ``classes_``) over an onnxruntime session.

    A single-input model takes a float matrix; a per-column model takes a mapping from
    feature name to its values (a dict of arrays or a DataFrame), cast to each input's type.
    """

    def __init__(self, data: bytes, expected_sha256: str) -> None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise ArtifactIntegrityError(f"ONNX artifact sha256 {actual} does not match the recorded {expected_sha256}")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self._inputs = [(i.name, i.type) for i in self._session.get_inputs()]
        self._input = self._inputs[0][0]
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.is_classifier = _CLASSES_KEY in metadata
        if self.is_classifier:
            self.classes_ = np.array(json.loads(metadata[_CLASSES_KEY]))

    @property
    def input_names(self) -> list[str]:
        return [name for name, _ in self._inputs]

    def _feed(self, batch: Any) -> dict[str, np.ndarray]:
        if isinstance(batch, np.ndarray):
            if len(self._inputs) != 1:
                raise ValueError(f"this model takes one input per feature ({', '.join(self.input_names)})")
            return {self._input: batch.astype(np.float32, copy=False)}
        if not isinstance(batch, Mapping) and not hasattr(batch, "columns"):
            raise TypeError(f"expected a float matrix or a mapping of feature columns, got {type(batch).__name__}")
        return {name: _cast(batch[name], kind) for name, kind in self._inputs}

    def _run(self, batch: Any) -> list[Any]:
        return list(self._session.run(None, self._feed(batch)))

    def predict(self, batch: Any) -> np.ndarray:
        outputs = self._run(batch)
        return np.asarray(outputs[0]) if self.is_classifier else np.asarray(outputs[0]).ravel()

    def predict_proba(self, batch: Any) -> np.ndarray:
        if not self.is_classifier:
            raise TypeError("a regressor has no class probabilities")
        return np.asarray(self._run(batch)[1])


# The original name: every ONNX model the registry held was a classifier.
OnnxClassifier = OnnxModel


def _cast(values: Any, kind: str) -> np.ndarray:
    """One feature's values as the ``(n, 1)`` tensor an input of ONNX type ``kind`` takes."""
    column = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    if kind == "tensor(string)":
        return np.array([str(v) for v in column], dtype=object).reshape(-1, 1)
    if kind == "tensor(int64)":
        return column.astype(np.int64).reshape(-1, 1)
    if kind == "tensor(double)":
        return column.astype(np.float64).reshape(-1, 1)
    if kind == "tensor(float)":
        return column.astype(np.float32).reshape(-1, 1)
    raise ValueError(f"unsupported ONNX input type {kind}")
