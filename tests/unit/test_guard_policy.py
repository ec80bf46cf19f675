"""The retrain guard's rule: a live lock, then the cooldown, then the daily budget refuse a start."""

from __future__ import annotations

from functions.retraining.guard_policy import BUDGET, COOLDOWN, LOCKED, GuardPolicy, GuardState, refusal

POLICY = GuardPolicy(cooldown_s=3600, daily_budget=2, lock_s=600)
NOW = 1_000_000
FREE = GuardState(lock_holder=None, lock_expires_at=None, last_started_at=None, runs_today=0)


def test_a_free_guard_lets_a_retrain_start() -> None:
    assert refusal(FREE, NOW, POLICY) is None


def test_a_live_lock_refuses_and_names_its_holder() -> None:
    state = GuardState("arn:exec", NOW + 10, None, 0)
    decision = refusal(state, NOW, POLICY)
    assert decision is not None and (decision.outcome, decision.holder) == (LOCKED, "arn:exec")


def test_an_expired_lock_does_not_refuse() -> None:
    assert refusal(GuardState("arn:exec", NOW - 1, None, 0), NOW, POLICY) is None


def test_inside_the_cooldown_the_message_says_how_long_is_left() -> None:
    decision = refusal(GuardState(None, None, NOW - 600, 1), NOW, POLICY)
    assert decision is not None and decision.outcome == COOLDOWN
    assert decision.message == "last run started 600 s ago; 3000 s of cooldown left"


def test_after_the_cooldown_a_spent_budget_refuses() -> None:
    decision = refusal(GuardState(None, None, NOW - 3600, 2), NOW, POLICY)
    assert decision is not None and decision.outcome == BUDGET
    assert refusal(GuardState(None, None, NOW - 3600, 1), NOW, POLICY) is None
