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


def unservable_reason(model: str, version: int, *, onnx_unsupported_reason: str | None) -> str:
    """Why the serving image cannot serve ``model`` ``version``, a version without an ONNX form, in one line.

    The serving image (``functions/Dockerfile.serving``) has onnxruntime and no scikit-learn: it
    serves a version only through its ONNX form. A version skl2onnx could not convert is still
    registered, evaluated and scored by batch inference (full image), but the inference function
    answers 503 with this line, so the pre-traffic hook's smoke test fails and no canary shifts to it.
    """
    why = f" ({onnx_unsupported_reason})" if onnx_unsupported_reason else ""
    return (
        f"model {model!r} version {version} has no ONNX form{why}: the serving image runs ONNX models only; "
        "use an estimator skl2onnx converts"
    )


def rollout_refusal(model: str, version: int, *, approval_status: str, champion: int | None) -> str | None:
    """Why a rollout of ``model`` ``version`` must not get traffic, or None: it must still be the approved champion.

    A version can be withdrawn (its run failed after Promote) or moved off ``champion`` (rolled back)
    between the move that started its rollout and the pre-traffic hook: serving must then not shift to it.
    """
    if approval_status != "approved":
        return f"model {model!r} version {version} is {approval_status}, not approved: no traffic shifts to it"
    if champion != version:
        return (
            f"model {model!r} version {version} is no longer {SERVING_ALIAS} (now {champion}): "
            "no traffic shifts to it"
        )
    return None
