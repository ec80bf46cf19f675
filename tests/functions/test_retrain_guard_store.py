"""The retrain guard's DynamoDB conditions, on moto: who wins, what is refused, and why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.retraining.guard_policy import BUDGET, COOLDOWN, LOCKED, GuardPolicy
from functions.retraining.guard_store import RetrainGuardStore

POLICY = GuardPolicy(cooldown_s=3600, daily_budget=2, lock_s=1800)
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="guard",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_second_acquire_loses_while_the_first_holds_the_lock(ddb: Any) -> None:
    store = RetrainGuardStore(ddb, "guard", "m")
    assert store.acquire(T0, POLICY, "pending:a")
    assert not store.acquire(T0, POLICY, "pending:b")
    assert store.state(T0).runs_today == 1  # the loser's budget write was rolled back with it
    decision = store.explain(T0, POLICY)
    assert decision is not None and decision.outcome == LOCKED


def test_released_lock_still_leaves_the_cooldown(ddb: Any) -> None:
    store = RetrainGuardStore(ddb, "guard", "m")
    assert store.acquire(T0, POLICY, "pending:a")
    store.started(T0, "pending:a", "arn:exec:1", {"type": "test"})
    assert store.release("arn:exec:1")
    assert not store.release("arn:exec:1")  # a second release is a no-op
    decision = store.explain(T0 + timedelta(minutes=10), POLICY)
    assert decision is not None and decision.outcome == COOLDOWN
    assert not store.acquire(T0 + timedelta(minutes=10), POLICY, "pending:b")
    assert store.acquire(T0 + timedelta(hours=2), POLICY, "pending:c")


def test_expired_lock_of_a_dead_run_can_be_taken(ddb: Any) -> None:
    store = RetrainGuardStore(ddb, "guard", "m")
    assert store.acquire(T0, POLICY, "pending:a")
    store.started(T0, "pending:a", "arn:exec:dead", {"type": "test"})
    later = T0 + timedelta(seconds=POLICY.lock_s + POLICY.cooldown_s)
    assert store.acquire(later, POLICY, "pending:b")


def test_budget_is_per_utc_day_and_abandon_gives_it_back(ddb: Any) -> None:
    store = RetrainGuardStore(ddb, "guard", "m")
    for hour in (0, 2):
        at = T0 + timedelta(hours=hour)
        assert store.acquire(at, POLICY, f"pending:{hour}")
        store.started(at, f"pending:{hour}", f"arn:exec:{hour}", {})
        store.release(f"arn:exec:{hour}")
    decision = store.explain(T0 + timedelta(hours=4), POLICY)
    assert decision is not None and decision.outcome == BUDGET
    assert not store.acquire(T0 + timedelta(hours=4), POLICY, "pending:x")
    # the next UTC day has a fresh budget; a start that could not happen returns its unit
    tomorrow = T0 + timedelta(days=1)
    assert store.acquire(tomorrow, POLICY, "pending:y")
    store.abandon(tomorrow, "pending:y")
    assert store.state(tomorrow).lock_holder is None
    assert store.state(tomorrow).runs_today == 0
