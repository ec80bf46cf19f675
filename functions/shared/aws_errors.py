"""Translate botocore failures into the domain hierarchy."""

from __future__ import annotations

from botocore.exceptions import ClientError

from functions.shared.errors import MlopsError, StorageError, TransientStoreError

_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def storage_error(exc: ClientError, doing: str) -> MlopsError:
    """``TransientStoreError`` for throttling and 5xx, ``StorageError`` otherwise."""
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    message = exc.response.get("Error", {}).get("Message", str(exc))
    if code in _TRANSIENT_CODES:
        return TransientStoreError(f"{doing}: {code}: {message}")
    return StorageError(f"{doing}: {code}: {message}")
