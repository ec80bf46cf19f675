"""Does a state machine's ``TimeoutSeconds`` cover its steps? The longest run its definition allows.

A rendered ASL document (numbers in place, ARNs may stay ``${...}``) is walked from ``StartAt`` along every
transition (``Next``, each Choice branch and ``Default``, each ``Catch``), and each state costs its maximum:

- a Task: its ``TimeoutSeconds`` times its attempts (one, plus every retrier's ``MaxAttempts``: different
  errors can each use theirs), plus every retrier's backoff (``IntervalSeconds`` x ``BackoffRate`` ^ n,
  capped by ``MaxDelaySeconds``; jitter only shortens it). A Task with no ``TimeoutSeconds`` waits up to a
  year: it is reported, never assumed short. (A ``batch:submitJob.sync`` state bounds its job with its own
  ``TimeoutSeconds``; the job definition's timeout must be shorter, which the construct sets.)
- a Map: its item path's maximum times its rounds, the most items one slot of its concurrency runs in a row:
  ``ceil(MaxItems / MaxConcurrency)`` when both are fixed in the document, else the bound its construct
  declares (``map_rounds``); a Map with neither is reported as unbounded. A Map's own Retry multiplies it.
- a Parallel: its longest branch; a Wait: its ``Seconds``; Pass, Choice, Succeed and Fail: nothing.

A loop goes back through a Choice: each Choice is passed at most twice on one path (the training
pipeline's search loops once, ChooseBest -> SearchOrTrain, and then trains), every other state once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What Step Functions waits for a Task with no TimeoutSeconds (a Standard execution's maximum, one year).
UNBOUNDED = 31_536_000


@dataclass(frozen=True)
class LongestPath:
    seconds: float
    states: tuple[str, ...]
    problems: tuple[str, ...]  # states whose maximum is unbounded (no timeout, no Map bound)


def task_seconds(state: Mapping[str, Any]) -> float:
    """A Task's maximum: timeout x attempts, plus the retries' backoff."""
    timeout = state.get("TimeoutSeconds")
    timeout = UNBOUNDED if not isinstance(timeout, int) else timeout
    return timeout * attempts(state) + backoff_seconds(state)


def attempts(state: Mapping[str, Any]) -> int:
    return 1 + sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))


def backoff_seconds(state: Mapping[str, Any]) -> float:
    total = 0.0
    for rule in state.get("Retry", []):
        interval, rate = float(rule.get("IntervalSeconds", 1)), float(rule.get("BackoffRate", 2.0))
        cap = float(rule.get("MaxDelaySeconds", math.inf))
        total += sum(min(interval * rate**n, cap) for n in range(int(rule.get("MaxAttempts", 3))))
    return total


def longest_path(document: Mapping[str, Any], map_rounds: Mapping[str, int] | None = None) -> LongestPath:
    """The longest run ``document`` allows, the states on it, and what has no bound (see the module)."""
    return _Walker(map_rounds or {}).walk(document)


def timeout_problem(name: str, document: Mapping[str, Any], map_rounds: Mapping[str, int] | None = None) -> str | None:
    """Why ``document``'s ``TimeoutSeconds`` does not cover its longest run, or None when it does."""
    found = longest_path(document, map_rounds)
    if found.problems:
        return f"{name}: unbounded: {'; '.join(found.problems)}"
    timeout = document.get("TimeoutSeconds")
    if not isinstance(timeout, int):
        return f"{name}: no TimeoutSeconds (an execution may then run a year); its longest run is {found.seconds:.0f} s"
    if timeout < found.seconds:
        return (
            f"{name}: TimeoutSeconds {timeout} is shorter than its longest run, {found.seconds:.0f} s: "
            f"{' -> '.join(found.states)}"
        )
    return None


class _Walker:
    def __init__(self, map_rounds: Mapping[str, int]) -> None:
        self._rounds = map_rounds
        self._problems: list[str] = []

    def walk(self, document: Mapping[str, Any]) -> LongestPath:
        seconds, states = self._machine(document)
        return LongestPath(seconds, states, tuple(dict.fromkeys(self._problems)))

    def _machine(self, document: Mapping[str, Any]) -> tuple[float, tuple[str, ...]]:
        states: Mapping[str, Any] = document["States"]
        costs = {name: self._cost(name, state) for name, state in states.items()}

        def longest(name: str, seen: tuple[str, ...]) -> tuple[float, tuple[str, ...]]:
            state = states[name]
            limit = 2 if state["Type"] == "Choice" else 1
            if seen.count(name) >= limit:
                return -math.inf, ()
            here = (*seen, name)
            best: tuple[float, tuple[str, ...]] = (0.0, ())
            for target in _successors(state):
                found = longest(target, here)
                if found[0] > best[0]:
                    best = found
            return costs[name] + best[0], (name, *best[1])

        return longest(document["StartAt"], ())

    def _cost(self, name: str, state: Mapping[str, Any]) -> float:
        kind = state["Type"]
        if kind == "Task":
            if not isinstance(state.get("TimeoutSeconds"), int):
                self._problems.append(f"Task {name} has no TimeoutSeconds")
            return task_seconds(state)
        if kind == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            item = self._machine(processor)[0]
            rounds = self._map_rounds(name, state)
            return item * rounds * attempts(state) + backoff_seconds(state)
        if kind == "Parallel":
            return max((self._machine(branch)[0] for branch in state.get("Branches", [])), default=0.0)
        if kind == "Wait":
            seconds = state.get("Seconds")
            if not isinstance(seconds, int):
                self._problems.append(f"Wait {name} waits a time from its input")
                return UNBOUNDED
            return float(seconds)
        return 0.0

    def _map_rounds(self, name: str, state: Mapping[str, Any]) -> int:
        if name in self._rounds:
            return self._rounds[name]
        items = ((state.get("ItemReader") or {}).get("ReaderConfig") or {}).get("MaxItems")
        concurrency = state.get("MaxConcurrency")
        if isinstance(items, int) and items > 0:
            return math.ceil(items / concurrency) if isinstance(concurrency, int) and concurrency > 0 else 1
        self._problems.append(f"Map {name} has no bound on its items (ReaderConfig.MaxItems or its construct's)")
        return 1


def _successors(state: Mapping[str, Any]) -> list[str]:
    found = [c["Next"] for c in state.get("Choices", [])]
    found += [state[k] for k in ("Next", "Default") if k in state]
    found += [c["Next"] for c in state.get("Catch", [])]
    return list(dict.fromkeys(found))
