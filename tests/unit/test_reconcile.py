"""The deployer's one decision: which rollout, if any, brings alias live to the registry's champion."""

from __future__ import annotations

from functions.registry.alias_events import announce_alias_move
from functions.registry.model_registry import AliasChange
from functions.rollout.reconcile import Action, ActiveRollout, Strategy, decide, rollout_strategy

CANARY, IMMEDIATE = Strategy.CANARY, Strategy.IMMEDIATE


def test_a_champion_that_does_not_serve_is_rolled_out_by_canary() -> None:
    decision = decide(model="m", champion=3, served=2, active=None, strategy=CANARY)
    assert (decision.action, decision.strategy) == (Action.ROLL_OUT, CANARY)
    # an unpinned version (the stack's own) is rolled out too: the canary compares two known versions
    assert decide(model="m", champion=3, served=None, active=None, strategy=CANARY).action is Action.ROLL_OUT


def test_reconciling_what_already_agrees_does_nothing() -> None:
    assert decide(model="m", champion=3, served=3, active=None, strategy=CANARY).action is Action.NONE
    assert decide(model="m", champion=None, served=2, active=None, strategy=CANARY).action is Action.NONE
    # the champion's own rollout running (a redelivered move): nothing more
    running = ActiveRollout("d-1", 3, 2)
    assert decide(model="m", champion=3, served=2, active=running, strategy=CANARY).action is Action.NONE


def test_a_move_during_another_rollout_is_deferred_with_its_reason() -> None:
    decision = decide(model="m", champion=4, served=2, active=ActiveRollout("d-1", 3, 2), strategy=CANARY)
    assert decision.action is Action.DEFER
    assert "d-1" in decision.reason and "v3 is in progress" in decision.reason and "v4" in decision.reason
    # a deployment the deployer did not start (CloudFormation shifting live after `cdk deploy`) defers it too
    stack_deploy = ActiveRollout("d-2", None, None)
    assert decide(model="m", champion=4, served=2, active=stack_deploy, strategy=CANARY).action is Action.DEFER


def test_an_operators_rollback_stops_a_running_canary_and_goes_all_at_once() -> None:
    running = ActiveRollout("d-1", 3, 2)
    assert decide(model="m", champion=2, served=2, active=running, strategy=IMMEDIATE).action is Action.STOP
    decision = decide(model="m", champion=2, served=3, active=None, strategy=IMMEDIATE)
    assert (decision.action, decision.strategy) == (Action.ROLL_OUT, IMMEDIATE)


def test_a_rollout_that_failed_for_this_move_is_not_retried() -> None:
    for ended in ("Failed", "Stopped"):
        decision = decide(model="m", champion=3, served=2, active=None, strategy=CANARY, ended=ended)
        assert decision.action is Action.NONE and ended in decision.reason
    assert decide(model="m", champion=3, served=2, active=None, strategy=CANARY, ended="Succeeded").action is (
        Action.ROLL_OUT
    )


def test_the_alias_event_says_how_serving_takes_the_move() -> None:
    assert rollout_strategy("rollback: v3 answers 500s") is IMMEDIATE
    assert rollout_strategy("run r-1 passed the quality gate") is CANARY
    assert rollout_strategy("canary rollback: LatencyAlarm (deployment d-1)") is CANARY

    class Events:
        detail: str = ""

        def put_events(self, Entries: list[dict[str, str]]) -> dict[str, object]:
            Events.detail = Entries[0]["Detail"]
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}

    change = AliasChange("m", "champion", "c-1", "2026-01-01T00:00:00Z", "arn:op", "rollback: bad", 2, 3)
    assert announce_alias_move(Events(), change) == "e-1"
    assert '"rollout": "immediate"' in Events.detail
