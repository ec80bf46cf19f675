"""The quality gate: one pure rule, applied by the pipeline's Evaluate step and by experiments.

A candidate passes when it meets every floor of the model's gate on its holdout, every
per-class F1 floor (classification), and, when there is a champion, is not worse than the
champion re-scored on the same holdout by more than the gate's tolerance on the primary
metric. Only declared quality metrics are compared: the canary baseline recorded beside
them (``predicted_share.*``) describes a model, it does not rank one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from functions.training.model_spec import METRICS, QualityGate, Task


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "quality gate passed"


def decide(
    gate: QualityGate,
    task: Task,
    candidate: Mapping[str, float],
    *,
    per_class_f1: Mapping[str, float] | None = None,
    champion: Mapping[str, float] | None = None,
    champion_version: int | None = None,
) -> GateDecision:
    """Apply ``gate`` to a candidate's holdout metrics (and the champion's, on the same holdout)."""
    higher = METRICS[task]
    reasons: list[str] = []
    for metric, bound in gate.floors.items():
        value = candidate[metric]
        if higher[metric] and value < bound:
            reasons.append(f"holdout {metric} {value:.4f} is below the floor {bound}")
        elif not higher[metric] and value > bound:
            reasons.append(f"holdout {metric} {value:.4f} is above the ceiling {bound}")
    for label, score in (per_class_f1 or {}).items():
        floor = gate.per_class_floors.get(label, gate.per_class_floors.get("*"))
        if floor is not None and score < floor:
            reasons.append(f"holdout F1 of class {label!r} {score:.4f} is below the floor {floor}")
    if champion is not None:
        metric = gate.primary_metric
        ours, theirs = candidate[metric], champion[metric]
        worse_by = (theirs - ours) if higher[metric] else (ours - theirs)
        if worse_by > gate.tolerance:
            reasons.append(
                f"holdout {metric} {ours:.4f} is worse than champion version {champion_version}'s {theirs:.4f} "
                f"on the same holdout (tolerance {gate.tolerance})"
            )
    return GateDecision(passed=not reasons, reasons=tuple(reasons))
