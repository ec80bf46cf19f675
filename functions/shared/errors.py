"""The one error hierarchy.

Class names are part of the Step Functions contract: ASL ``Retry`` and
``Catch`` blocks match them by name (``ErrorEquals``), so renaming a class
is a breaking change checked by ``tests/stepfunctions/test_contract.py``.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base of every error this toolkit raises on purpose."""


class ConfigurationError(MlopsError):
    """A required setting is missing or malformed (a deployment fault)."""


class DataValidationError(MlopsError):
    """Input data breaks its schema: not retryable, the data must be fixed."""


class ArtifactIntegrityError(MlopsError):
    """An artifact's bytes do not match the sha256 recorded for it."""


class ModelNotFoundError(MlopsError):
    """No registered model version matches the request."""


class ModelNotApprovedError(MlopsError):
    """An alias may only point at an approved model version."""


class RegistryConflictError(MlopsError):
    """A registry write lost a race it must not win silently."""


class TransientStoreError(MlopsError):
    """A storage call was throttled or timed out; retrying may succeed."""


class StorageError(MlopsError):
    """A storage call failed for a reason retrying will not fix."""


class InvalidRequestError(MlopsError):
    """A client request is malformed; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RolloutError(MlopsError):
    """A model rollout cannot start or its deployment is not one the rollout made."""


class ProjectError(ConfigurationError):
    """A project folder does not load or its definitions are inconsistent; the message names file and field."""
