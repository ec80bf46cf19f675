"""Load registered model versions: the one loader of serving, batch inference, evaluation and the monitor.

Every load verifies the artifact's sha256 before deserializing. Serving prefers the version's
ONNX form (fast to load, no scikit-learn import) and falls back to the joblib artifact when
skl2onnx could not convert the model (the reason is recorded with the version) and scikit-learn
is installed: the full image and the local cloud, not the serving image, where such a version is
``ModelNotFoundError`` with ``serving_rule.unservable_reason``. Evaluation re-scores with the
joblib artifact, the model exactly as trained.
"""

from __future__ import annotations

from typing import Any

from functions.registry.artifact import load_verified_model
from functions.registry.model_registry import ModelRegistry, ModelVersion
from functions.registry.serving_rule import SERVING_ALIAS, serving_version, unservable_reason
from functions.serving.predictor import ONNX, SKLEARN
from functions.shared.errors import ModelNotFoundError
from functions.shared.objects import ObjectStore, S3Uri


def load_registered_model(objects: ObjectStore, version: ModelVersion) -> Any:
    """The version's joblib model; ``ArtifactIntegrityError`` if the stored bytes are not the registered ones."""
    data = objects.get_bytes(S3Uri.parse(version.artifact_uri))
    return load_verified_model(data, version.artifact_sha256)


def load_serving_model(objects: ObjectStore, version: ModelVersion) -> tuple[Any, str]:
    """``(model, runtime)``: the ONNX form when the registry has one, else the joblib artifact."""
    if version.onnx_uri and version.onnx_sha256:
        from functions.registry.onnx_model import OnnxModel

        return OnnxModel(objects.get_bytes(S3Uri.parse(version.onnx_uri)), version.onnx_sha256), ONNX
    try:
        return load_registered_model(objects, version), SKLEARN
    except ModuleNotFoundError as exc:  # the serving image: no joblib, no scikit-learn
        reason = unservable_reason(
            version.model_name, version.version, onnx_unsupported_reason=version.onnx_unsupported_reason
        )
        raise ModelNotFoundError(f"{reason} (missing: {exc.name})") from exc


def resolve_serving(registry: ModelRegistry, model: str, *, pinned: int | None = None) -> ModelVersion:
    """The registered version that serves ``model`` (see ``serving_rule``)."""
    champion = None if pinned is not None else registry.alias_version(model, SERVING_ALIAS)
    return registry.get(model, serving_version(model, pinned=pinned, champion=champion))
