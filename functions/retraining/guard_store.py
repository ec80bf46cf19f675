"""The retrain guard's state in DynamoDB: cooldown, single-run lock and daily budget.

Items (``pk`` only, ``expires_at`` is the table's TTL attribute):
- ``GUARD#<model>``: ``lock_holder`` (a token, then the execution ARN), ``lock_expires_at``
  (epoch s: a lock whose run died is free after this), ``last_started_at`` (epoch s),
  ``last_trigger``;
- ``BUDGET#<model>#<YYYY-MM-DD>``: ``runs`` started that UTC day.

Acquiring is one transaction of two conditional writes (lock free and cooldown
over; budget left), so concurrent triggers cannot both win. The lock is
released by the execution's status-change event, or found stale when its
execution is no longer running, or expires.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from functions.retraining.guard_policy import LOCKED, RACE, Decision, GuardPolicy, GuardState, refusal
from functions.shared.aws_errors import storage_error


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


class RetrainGuardStore:
    def __init__(self, dynamodb_client: Any, table_name: str, model: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._model = model
        self._guard_key = {"pk": {"S": f"GUARD#{model}"}}

    def _budget_key(self, at: datetime) -> dict[str, Any]:
        return {"pk": {"S": f"BUDGET#{self._model}#{at:%Y-%m-%d}"}}

    def state(self, at: datetime) -> GuardState:
        """The guard item and today's budget count, read consistently."""
        try:
            guard = self._ddb.get_item(TableName=self._table, Key=self._guard_key, ConsistentRead=True).get("Item", {})
            budget = self._ddb.get_item(TableName=self._table, Key=self._budget_key(at), ConsistentRead=True).get(
                "Item", {}
            )
        except ClientError as exc:
            raise storage_error(exc, "reading retrain guard state") from exc
        return GuardState(
            lock_holder=guard.get("lock_holder", {}).get("S"),
            lock_expires_at=int(guard["lock_expires_at"]["N"]) if "lock_expires_at" in guard else None,
            last_started_at=int(guard["last_started_at"]["N"]) if "last_started_at" in guard else None,
            runs_today=int(budget["runs"]["N"]) if "runs" in budget else 0,
        )

    def explain(self, at: datetime, policy: GuardPolicy) -> Decision | None:
        """Why a start at ``at`` would be refused, or None when it may go ahead (``guard_policy.refusal``)."""
        return refusal(self.state(at), _epoch(at), policy)

    def acquire(self, at: datetime, policy: GuardPolicy, token: str) -> bool:
        """Take the lock and one unit of today's budget, atomically; False when a condition fails."""
        now = _epoch(at)
        expires = now + policy.lock_s
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._guard_key,
                            "UpdateExpression": "SET lock_holder = :token, lock_expires_at = :expires",
                            "ConditionExpression": (
                                "(attribute_not_exists(lock_holder) OR lock_expires_at < :now) AND "
                                "(attribute_not_exists(last_started_at) OR last_started_at <= :cooled)"
                            ),
                            "ExpressionAttributeValues": {
                                ":token": {"S": token},
                                ":expires": {"N": str(expires)},
                                ":now": {"N": str(now)},
                                ":cooled": {"N": str(now - policy.cooldown_s)},
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._budget_key(at),
                            "UpdateExpression": "ADD runs :one SET expires_at = :ttl",
                            "ConditionExpression": "attribute_not_exists(runs) OR runs < :budget",
                            "ExpressionAttributeValues": {
                                ":one": {"N": "1"},
                                ":budget": {"N": str(policy.daily_budget)},
                                ":ttl": {"N": str(_epoch(at + timedelta(days=2)))},
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False
            raise storage_error(exc, "acquiring the retrain lock") from exc
        return True

    def started(self, at: datetime, token: str, execution_arn: str, trigger: dict[str, Any]) -> None:
        """Hand the lock to the execution and start the cooldown."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._guard_key,
                UpdateExpression="SET lock_holder = :arn, last_started_at = :now, last_trigger = :trigger",
                ConditionExpression="lock_holder = :token",
                ExpressionAttributeValues={
                    ":arn": {"S": execution_arn},
                    ":now": {"N": str(_epoch(at))},
                    ":token": {"S": token},
                    ":trigger": {"S": _json(trigger)},
                },
            )
        except ClientError as exc:
            raise storage_error(exc, "recording the started training run") from exc

    def abandon(self, at: datetime, token: str) -> None:
        """Undo ``acquire`` when the run could not be started: free the lock, give the budget back."""
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._guard_key,
                            "UpdateExpression": "REMOVE lock_holder, lock_expires_at",
                            "ConditionExpression": "lock_holder = :token",
                            "ExpressionAttributeValues": {":token": {"S": token}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._budget_key(at),
                            "UpdateExpression": "ADD runs :minus",
                            "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                        }
                    },
                ]
            )
        except ClientError as exc:
            raise storage_error(exc, "abandoning the retrain lock") from exc

    def release(self, holder: str) -> bool:
        """Free the lock if ``holder`` has it; False when it does not (already released or another run's)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._guard_key,
                UpdateExpression="REMOVE lock_holder, lock_expires_at",
                ConditionExpression="lock_holder = :holder",
                ExpressionAttributeValues={":holder": {"S": holder}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise storage_error(exc, "releasing the retrain lock") from exc
        return True


def start_exclusively(
    store: RetrainGuardStore,
    at: datetime,
    policy: GuardPolicy,
    trigger: dict[str, Any],
    *,
    start: Callable[[], str],
    running: Callable[[str], bool],
) -> tuple[str | None, Decision | None]:
    """Start a training run under the guard: (execution ARN, None), or (None, why it was refused).

    A lock whose execution no longer runs (``running`` says so: its status event was lost) is taken over;
    the lock and a unit of budget are taken atomically before ``start`` runs, handed to the execution
    after, and given back if ``start`` raises. Every start of a training run goes through here.
    """
    decision = store.explain(at, policy)
    if (
        decision is not None
        and decision.outcome == LOCKED
        and decision.holder.startswith("arn:")
        and not running(decision.holder)
        and store.release(decision.holder)
    ):
        decision = store.explain(at, policy)
    token = f"pending:{uuid.uuid4()}"
    if decision is None and not store.acquire(at, policy, token):
        decision = Decision(RACE, "another trigger took the lock or budget first")
    if decision is not None:
        return None, decision
    try:
        execution_arn = start()
    except BaseException:
        store.abandon(at, token)
        raise
    store.started(at, token, execution_arn, trigger)
    return execution_arn, None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
