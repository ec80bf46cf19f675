"""Which model version serves: one rule for the inference function, batch inference and the monitor.

A function version published by the rollout deployer is pinned to one model version
(``MLOPS_MODEL_VERSION``): it serves exactly that, so a canary compares two known versions and a
rollback is a traffic shift. Everything else (``$LATEST``, batch inference, the monitor's
reference) serves the registry's ``champion`` alias, which only an approved version can hold:
never the newest, possibly pending or rejected, registration.
"""

from __future__ import annotations

from functions.shared.errors import ModelNotFoundError

SERVING_ALIAS = "champion"


def serving_version(model: str, *, pinned: int | None, champion: int | None) -> int:
    """The version of ``model`` to serve, or ``ModelNotFoundError`` saying what is missing."""
    if pinned is not None:
        return pinned
    if champion is None:
        raise ModelNotFoundError(
            f"model {model!r} has no {SERVING_ALIAS} yet: train a version that passes its gate (and approve it)"
        )
    return champion
