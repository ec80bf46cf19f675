"""ONNX export of scikit-learn classifiers, and an onnxruntime classifier for serving.

Serving a converted model with onnxruntime keeps the inference function
free of scikit-learn and pandas at import, which is what makes its cold
start short. Models whose type skl2onnx cannot convert are served by
scikit-learn instead (``OnnxUnsupported`` says why, and the registry keeps it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from functions.shared.errors import ArtifactIntegrityError

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin

_CLASSES_KEY = "mlops.classes"


@dataclass(frozen=True)
class OnnxExport:
    data: bytes
    sha256: str


@dataclass(frozen=True)
class OnnxUnsupported:
    reason: str


def export_onnx(model: ClassifierMixin, n_features: int) -> OnnxExport | OnnxUnsupported:
    """Convert ``model`` (float inputs, ``n_features`` wide) to ONNX, or say why it cannot be."""
    from skl2onnx import to_onnx
    from skl2onnx.common.exceptions import MissingShapeCalculator

    sample = np.zeros((1, n_features), dtype=np.float32)
    try:
        onnx_model = to_onnx(model, sample, options={id(model): {"zipmap": False}}, target_opset=17)
    except (MissingShapeCalculator, RuntimeError, NotImplementedError) as exc:
        return OnnxUnsupported(f"{type(model).__name__}: {exc}")
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = _CLASSES_KEY, json.dumps([str(c) for c in model.classes_])
    data = onnx_model.SerializeToString()
    return OnnxExport(data=data, sha256=hashlib.sha256(data).hexdigest())


class OnnxClassifier:
    """``predict`` / ``predict_proba`` / ``classes_`` over an onnxruntime session."""

    def __init__(self, data: bytes, expected_sha256: str) -> None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise ArtifactIntegrityError(f"ONNX artifact sha256 {actual} does not match the recorded {expected_sha256}")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.classes_ = np.array(json.loads(metadata[_CLASSES_KEY]))

    def _run(self, matrix: np.ndarray) -> tuple[Any, np.ndarray]:
        labels, probabilities = self._session.run(None, {self._input: matrix.astype(np.float32, copy=False)})
        return labels, np.asarray(probabilities)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self._run(matrix)[0])

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        return self._run(matrix)[1]
