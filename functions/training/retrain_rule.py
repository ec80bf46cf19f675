"""Is a retrain worth running? One pure rule: not when its data and code are the champion's (pure).

A retrain whose training set has the same sha256 as the one the current champion was trained on, built
by the same code, would reproduce the champion byte for byte (training is seeded and joblib output is
stable): registering and promoting it would count one model twice. The training pipeline asks this
right after it built the training set and, when nothing changed, records the run as ``SKIPPED``.

The code is identified by content hashes (``CODE_IDENTITY``): the toolkit's source, its pinned
requirements and the project folder. The git commit is recorded but not compared: a commit that changed
only documentation is the same code, and a dirty tree's ``<commit>-dirty`` is not one code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CODE_IDENTITY = ("code_sha256", "requirements_sha256", "project_sha256")


@dataclass(frozen=True)
class TrainedOn:
    """What a model version was trained on: its training set's sha256 and its code version."""

    version: int
    data_sha256: str
    code_version: Mapping[str, str]


@dataclass(frozen=True)
class RetrainDecision:
    changed: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"changed": self.changed, "reason": self.reason}


def retrain_decision(
    *, data_sha256: str, code_version: Mapping[str, str], champion: TrainedOn | None
) -> RetrainDecision:
    """Train unless the champion was trained on exactly this training set by exactly this code."""
    if champion is None:
        return RetrainDecision(True, "no champion yet")
    name = f"champion v{champion.version}"
    if data_sha256 != champion.data_sha256:
        return RetrainDecision(
            True, f"training set sha256 {data_sha256[:12]} differs from {name}'s {champion.data_sha256[:12]}"
        )
    for key in CODE_IDENTITY:
        now, then = code_version.get(key), champion.code_version.get(key)
        if not now or not then:
            return RetrainDecision(True, f"same training set as {name}, but {key} is not recorded for both")
        if now != then:
            return RetrainDecision(True, f"same training set as {name}, but {key} changed ({then[:12]} -> {now[:12]})")
    return RetrainDecision(
        False,
        f"unchanged: training set sha256 {data_sha256[:12]} and code ({', '.join(CODE_IDENTITY)}) "
        f"are those {name} was trained on",
    )
