"""Which live-quality metric a model's alarm watches, and its limit: one pure rule, used by the stack.

Classification: the monitor's ``LiveAccuracy`` below the stage's ``min_live_accuracy``.
Regression: ``LiveRMSE`` (or ``LiveMAE``) above the ceiling the model's own gate declares for
that metric, so a model alarms live where it would not have been approved on its holdout; a
regression model whose gate declares neither ceiling has no live-quality alarm (drift still
alarms and retrains).
"""

from __future__ import annotations

from functions.training.model_spec import ModelSpec, Task

# The monitor's metric per holdout metric (functions/handlers/monitor.py emits these names).
_LIVE_METRICS = {"rmse": "LiveRMSE", "mae": "LiveMAE"}


def live_quality_alarm(spec: ModelSpec, *, min_live_accuracy: float) -> tuple[str, float, bool] | None:
    """``(metric, threshold, higher_is_better)`` of the model's live-quality alarm, or None for none."""
    if spec.task is Task.CLASSIFICATION:
        return "LiveAccuracy", min_live_accuracy, True
    for metric, live in _LIVE_METRICS.items():
        if metric in spec.gate.floors:
            return live, float(spec.gate.floors[metric]), False
    return None
