"""Model artifacts: serialized bytes plus the sha256 that guards loading them.

Format: joblib (pickle). Unpickling runs code, so bytes are deserialized only
after their sha256 matches the one the registry recorded when the pipeline
produced them; a mismatch raises before ``joblib.load`` is reached.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from functions.shared.errors import ArtifactIntegrityError

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin


@dataclass(frozen=True)
class SerializedModel:
    data: bytes
    sha256: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serialize_model(model: ClassifierMixin) -> SerializedModel:
    import joblib  # imported here: serving ONNX models never needs it

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    return SerializedModel(data=data, sha256=sha256_hex(data))


def load_verified_model(data: bytes, expected_sha256: str) -> ClassifierMixin:
    """Deserialize ``data`` only if its sha256 equals ``expected_sha256``."""
    actual = sha256_hex(data)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"artifact sha256 {actual} does not match the recorded {expected_sha256}; refusing to load it"
        )
    import joblib

    model: ClassifierMixin = joblib.load(io.BytesIO(data))
    return model
