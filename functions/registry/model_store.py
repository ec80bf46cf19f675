"""Load a registered model version's artifact, verifying its sha256 before deserializing."""

from __future__ import annotations

from sklearn.base import ClassifierMixin

from functions.registry.artifact import load_verified_model
from functions.registry.model_registry import ModelVersion
from functions.shared.objects import ObjectStore, S3Uri


def load_registered_model(objects: ObjectStore, version: ModelVersion) -> ClassifierMixin:
    """The version's model; ``ArtifactIntegrityError`` if the stored bytes are not the registered ones."""
    data = objects.get_bytes(S3Uri.parse(version.artifact_uri))
    return load_verified_model(data, version.artifact_sha256)
