"""The per-request metrics the rollout's canary alarms watch, by serving model version.

Each metric carries the dimension ``ModelVersion`` (the version pinned by the
rollout deployer, or ``latest`` for an unpinned function), so an alarm sees
the canary's own traffic, not the mixture with the stable version's:

- ``ServerError``: 1 for a 5xx answer, else 0 (Average = 5xx rate);
- ``Latency``: handler time in milliseconds (p99 alarm);
- ``BaselineAgreement``: see ``functions.rollout.canary`` (Average alarm): the predicted labels'
  agreement with the holdout's label shares, or, for a regressor, the share of predicted values
  inside the holdout predictions' [5th, 95th] percentile range over 0.9.

The pre-traffic hook's smoke-test requests are left out (``smoke_test``: one synthetic record is
not a prediction distribution). The handler tells them by ``functions.rollout.canary.is_smoke_test``:
a mark in the event's requestContext, which only a direct invocation can carry, never a header.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.rollout.canary import agreement
from functions.shared import settings as env_names

VERSION_DIMENSION = "ModelVersion"


def serving_version() -> str:
    return os.environ.get(env_names.MODEL_VERSION) or "latest"


def _emit(name: str, unit: MetricUnit, value: float) -> None:
    with single_metric(name=name, unit=unit, value=value) as metric:
        metric.add_dimension(name=VERSION_DIMENSION, value=serving_version())


def record_request(*, status: int, started: float, smoke_test: bool) -> None:
    if smoke_test:
        return
    _emit("ServerError", MetricUnit.Count, 1.0 if status >= 500 else 0.0)
    _emit("Latency", MetricUnit.Milliseconds, (time.perf_counter() - started) * 1e3)


def record_agreement(
    predicted: Sequence[str] | Sequence[float],
    registered_metrics: Mapping[str, float],
    *,
    smoke_test: bool,
) -> None:
    """Emit the request's baseline agreement (labels, or a regressor's values); no baseline, no metric."""
    if smoke_test:
        return
    value = agreement(predicted, registered_metrics)
    if value is not None:
        _emit("BaselineAgreement", MetricUnit.NoUnit, value)
