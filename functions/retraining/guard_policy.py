"""The retrain guard's decision, pure: may a retrain start now, and if not, why.

The guard's store reads its state from DynamoDB and enforces the same conditions atomically
when it takes the lock (``guard_store.RetrainGuardStore.acquire``); this rule is what the guard
explains to a refused trigger, and what the unit tests pin down.
"""

from __future__ import annotations

from dataclasses import dataclass

STARTED = "started"
COOLDOWN = "cooldown"
LOCKED = "locked"
BUDGET = "budget_exhausted"
RACE = "lost_race"


@dataclass(frozen=True)
class GuardPolicy:
    cooldown_s: int
    daily_budget: int
    lock_s: int


@dataclass(frozen=True)
class GuardState:
    """What the guard knows at a moment (epoch seconds): the lock, the last start, today's runs."""

    lock_holder: str | None
    lock_expires_at: int | None
    last_started_at: int | None
    runs_today: int


@dataclass(frozen=True)
class Decision:
    outcome: str
    message: str
    holder: str = ""


def refusal(state: GuardState, now: int, policy: GuardPolicy) -> Decision | None:
    """Why a start at ``now`` is refused (a live lock, the cooldown, the daily budget), or None: it may start."""
    if state.lock_holder and (state.lock_expires_at or 0) >= now:
        return Decision(LOCKED, f"a training run holds the lock: {state.lock_holder}", state.lock_holder)
    if state.last_started_at is not None and now - state.last_started_at < policy.cooldown_s:
        elapsed = now - state.last_started_at
        return Decision(COOLDOWN, f"last run started {elapsed} s ago; {policy.cooldown_s - elapsed} s of cooldown left")
    if state.runs_today >= policy.daily_budget:
        return Decision(BUDGET, f"{state.runs_today} runs today, the daily budget is {policy.daily_budget}")
    return None
