"""How long a search may run in the training pipeline: the bound its timeout is computed from.

The ``RunTrials`` Map runs a search's trials ``max_concurrency`` at a time, so it takes
``ceil(trials / concurrency)`` rounds of one trial's maximum. The pipeline's ``TimeoutSeconds`` covers
``MAX_SEARCH_ROUNDS`` rounds (``infra/constructs/training_pipeline.py``), and ``PlanTrials`` refuses a
search that needs more, naming what to change, before any trial starts.
"""

from __future__ import annotations

import math

from functions.shared.errors import InvalidRequestError

MAX_SEARCH_ROUNDS = 5


def search_rounds(trials: int, concurrency: int) -> int:
    """Rounds of a search of ``trials`` run ``concurrency`` at a time."""
    if trials <= 0:
        return 0
    return math.ceil(trials / max(1, min(concurrency, trials)))


def check_search_rounds(model: str, trials: int, concurrency: int) -> None:
    """Refuse a search the pipeline's timeout does not cover."""
    rounds = search_rounds(trials, concurrency)
    if rounds > MAX_SEARCH_ROUNDS:
        raise InvalidRequestError(
            f"search of model {model!r}: {trials} trials at max_concurrency {concurrency} take {rounds} rounds; "
            f"the training pipeline's timeout covers {MAX_SEARCH_ROUNDS}: raise max_concurrency or lower max_trials"
        )
