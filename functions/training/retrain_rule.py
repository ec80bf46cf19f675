"""Is a retrain worth running? One pure rule: not when its data and code are the champion's (pure).

A retrain whose training set has the same sha256 as the one the current champion was trained on, built
by the same code, would reproduce the champion byte for byte (training is seeded and joblib output is
stable): registering and promoting it would count one model twice. The same holds for the newest version
when the gate rejected it or it awaits approval: the run would register that candidate again. The training
pipeline asks this right after it built the training set and, when nothing changed, records the run as
``SKIPPED``. (A version withdrawn because its run failed is not such a verdict: its retrain runs.)

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
    """What a model version was trained on: its training set's sha256 and its code version.

    ``standing``: what the version is (``champion``, ``rejected by the quality gate``, ``pending approval``).
    """

    version: int
    data_sha256: str
    code_version: Mapping[str, str]
    standing: str = "champion"

    @property
    def name(self) -> str:
        return f"{self.standing} v{self.version}"


@dataclass(frozen=True)
class RetrainDecision:
    changed: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"changed": self.changed, "reason": self.reason}


def retrain_decision(
    *, data_sha256: str, code_version: Mapping[str, str], champion: TrainedOn | None, newest: TrainedOn | None = None
) -> RetrainDecision:
    """Train unless ``champion`` (or the ``newest`` version's verdict) came from exactly this set and code."""
    if champion is None and newest is None:
        return RetrainDecision(True, "no champion yet")
    reasons = []
    for previous in (p for p in (champion, newest) if p is not None):
        difference = _difference(data_sha256, code_version, previous)
        if difference is None:
            return RetrainDecision(
                False,
                f"unchanged: training set sha256 {data_sha256[:12]} and code ({', '.join(CODE_IDENTITY)}) "
                f"are those {previous.name} was trained on",
            )
        reasons.append(difference)
    return RetrainDecision(True, "; ".join(reasons))


def _difference(data_sha256: str, code_version: Mapping[str, str], previous: TrainedOn) -> str | None:
    if data_sha256 != previous.data_sha256:
        return f"training set sha256 {data_sha256[:12]} differs from {previous.name}'s {previous.data_sha256[:12]}"
    for key in CODE_IDENTITY:
        now, then = code_version.get(key), previous.code_version.get(key)
        if not now or not then:
            return f"same training set as {previous.name}, but {key} is not recorded for both"
        if now != then:
            return f"same training set as {previous.name}, but {key} changed ({then[:12]} -> {now[:12]})"
    return None
