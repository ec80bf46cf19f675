"""Which rollout, if any, brings alias ``live`` to the registry's ``champion``: the pure decision.

One rule for every trigger of the deployer (a champion move, the end of a rollout, the schedule):
the registry's ``champion`` is what must serve, the model version pinned in the function version
``live`` points at is what serves, and CodeDeploy runs one deployment of a group at a time.

- Nothing to do when no champion exists, when the champion already serves, when the rollout in
  progress is the champion's own, or when the rollout made for the champion's latest move failed
  (retrying it on every run would fail it again; a new move of champion retries).
- A rollout in progress of another version is left to end (its canary is the evidence its alarms
  judge): the champion's rollout is deferred, with the reason recorded, and the deployer runs again
  when that rollout ends ("Model Rollout Ended") and on its schedule.
- An operator's rollback (a champion move whose reason starts with ``rollback: ``, as
  ``mlops models rollback`` writes it) is an emergency: it stops a rollout in progress (CodeDeploy
  points the alias back at once) and is itself rolled out all at once, never through a canary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The reason prefix of an operator's rollback (``mlops models rollback``): such a move takes effect at once.
ROLLBACK_PREFIX = "rollback: "


class Strategy(StrEnum):
    CANARY = "canary"
    IMMEDIATE = "immediate"


class Action(StrEnum):
    NONE = "none"
    ROLL_OUT = "roll_out"
    DEFER = "defer"
    STOP = "stop"


def rollout_strategy(reason: str) -> Strategy:
    """How a champion move with this (audited) reason reaches serving."""
    return Strategy.IMMEDIATE if reason.startswith(ROLLBACK_PREFIX) else Strategy.CANARY


@dataclass(frozen=True)
class ActiveRollout:
    """The deployment in progress in the serving deployment group."""

    deployment_id: str
    # None: a deployment the deployer did not start (CloudFormation shifting live to a new code version).
    model_version: int | None
    previous_model_version: int | None


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    strategy: Strategy = Strategy.CANARY


def decide(
    *,
    model: str,
    champion: int | None,
    served: int | None,
    active: ActiveRollout | None,
    strategy: Strategy,
    ended: str | None = None,
) -> Decision:
    """What the deployer does now.

    ``served`` is None when ``live`` runs an unpinned version; ``ended`` is how the rollout already made
    for the champion's latest move ended (CodeDeploy's status), None when none ended yet.
    """
    if champion is None:
        return Decision(Action.NONE, f"model {model!r} has no champion: nothing to serve")
    if active is not None:
        if active.model_version == champion:
            return Decision(Action.NONE, f"the rollout of v{champion} is in progress ({active.deployment_id})")
        if strategy is Strategy.IMMEDIATE:
            return Decision(
                Action.STOP,
                f"rollback to v{champion}: deployment {active.deployment_id} of {_served(active.model_version)} is "
                "stopped at once (CodeDeploy points live back at the version it shifted from)",
                strategy,
            )
        return Decision(
            Action.DEFER,
            f"deployment {active.deployment_id} of {_served(active.model_version)} is in progress: "
            f"v{champion} rolls out when it ends (the deployer runs again on its end and on schedule)",
        )
    if served == champion:
        return Decision(Action.NONE, f"v{champion} already serves")
    if ended is not None and ended != "Succeeded":
        # Its canary or smoke test refused it: retrying on every run would refuse it again, in a loop.
        return Decision(
            Action.NONE,
            f"the rollout of v{champion} for its latest move ended {ended}: not retried (move champion again to retry)",
        )
    return Decision(Action.ROLL_OUT, f"v{champion} is champion, live serves {_served(served)}", strategy)


def _served(served: int | None) -> str:
    return f"v{served}" if served is not None else "an unpinned version"
