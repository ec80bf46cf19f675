"""Every state machine's TimeoutSeconds covers its longest run (infra/asl_timeouts.py), and the checker itself."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.asl import ASL_DIR
from infra.asl_timeouts import longest_path, task_seconds, timeout_problem
from infra.constructs.state_machines import MAP_ROUNDS_METADATA
from mlops.local.assembly import load_assembly


def _task(timeout: int | None, *retries: dict[str, Any], next_state: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Retry": list(retries)}
    if timeout is not None:
        state["TimeoutSeconds"] = timeout
    return {**state, **({"Next": next_state} if next_state else {"End": True})}


def test_a_task_costs_its_timeout_per_attempt_plus_its_backoff() -> None:
    # 1 attempt + 3 retries of 100 s, backoff 2 + 4 + 8; a second retrier adds its own attempts (other errors)
    assert task_seconds(_task(100, {"ErrorEquals": ["X"], "IntervalSeconds": 2, "MaxAttempts": 3})) == 414
    capped = {"ErrorEquals": ["X"], "IntervalSeconds": 10, "MaxAttempts": 3, "BackoffRate": 3.0, "MaxDelaySeconds": 20}
    assert task_seconds(_task(100, capped)) == 400 + 10 + 20 + 20
    two = _task(10, {"ErrorEquals": ["X"], "MaxAttempts": 1}, {"ErrorEquals": ["Y"], "MaxAttempts": 2})
    assert task_seconds(two) == 10 * 4 + 1 + (1 + 2)


def test_the_longest_path_takes_the_slowest_branch_and_a_choice_loop_once_more() -> None:
    document = {
        "StartAt": "Choose",
        "TimeoutSeconds": 1000,
        "States": {
            "Choose": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.slow", "BooleanEquals": True, "Next": "Slow"}],
                "Default": "Fast",
            },
            "Slow": _task(300, next_state="Choose"),  # loops back: the Choice is passed a second time, then Fast
            "Fast": {**_task(50), "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Record"}]},
            "Record": _task(20),
        },
    }
    found = longest_path(document)
    assert (found.seconds, found.states) == (370, ("Choose", "Slow", "Choose", "Fast", "Record"))
    assert timeout_problem("m", document) is None
    problem = timeout_problem("m", {**document, "TimeoutSeconds": 300})
    assert problem == "m: TimeoutSeconds 300 is shorter than its longest run, 370 s: " + " -> ".join(found.states)


def test_a_map_costs_its_rounds_and_what_has_no_bound_is_reported() -> None:
    item = {"StartAt": "Item", "States": {"Item": _task(60)}}
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "ReaderConfig": {"MaxItems": 10}}
    fixed = {"Type": "Map", "ItemProcessor": item, "MaxConcurrency": 4, "ItemReader": reader, "End": True}
    assert longest_path({"StartAt": "M", "States": {"M": fixed}}).seconds == 3 * 60
    unbounded = {"Type": "Map", "ItemProcessor": item, "ItemsPath": "$.items", "MaxConcurrency": 4, "End": True}
    document = {"StartAt": "M", "TimeoutSeconds": 10_000, "States": {"M": unbounded}}
    assert "Map M has no bound on its items" in (timeout_problem("m", document) or "")
    # The construct declares the bound: 5 rounds of one item's maximum
    assert longest_path(document, {"M": 5}).seconds == 300 and timeout_problem("m", document, {"M": 5}) is None
    no_timeout = {"StartAt": "T", "TimeoutSeconds": 10, "States": {"T": _task(None)}}
    assert timeout_problem("m", no_timeout) == "m: unbounded: Task T has no TimeoutSeconds"
    assert "no TimeoutSeconds" in (timeout_problem("m", {"StartAt": "T", "States": {"T": _task(5)}}) or "")


def _deployed(assembly: Path) -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    """Each deployed state machine's definition (ARNs left as placeholders) and its Map bounds, by Comment."""
    found = {}
    for stack in load_assembly(assembly):
        for spec in stack.resources.values():
            if spec["Type"] != "AWS::StepFunctions::StateMachine":
                continue
            text = spec["Properties"]["DefinitionString"]
            text = "".join(text["Fn::Join"][1]) if isinstance(text, dict) else text
            document = json.loads(re.sub(r"\$\{[A-Za-z0-9]+\}", "x", text))
            found[document["Comment"]] = (document, dict(spec.get("Metadata", {}).get(MAP_ROUNDS_METADATA, {})))
    return found


@pytest.mark.parametrize("path", sorted(ASL_DIR.glob("*.asl.json")), ids=lambda p: p.name)
def test_every_state_machine_timeout_covers_its_longest_run(assembly: Path, path: Path) -> None:
    deployed = _deployed(assembly)
    comment = json.loads(path.read_text())["Comment"]
    assert comment in deployed, f"{path.name} is not deployed by the stack"
    document, map_rounds = deployed[comment]
    problem = timeout_problem(path.name, document, map_rounds)
    assert problem is None, problem


def _lambda_tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state.get("Type") == "Task" and state.get("Resource") == "arn:aws:states:::lambda:invoke":
            yield name, state
        for nested in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if nested:
                yield from _lambda_tasks(nested["States"])


def test_no_lambda_task_state_times_out_before_the_function_it_invokes(assembly: Path) -> None:
    # Given every deployed state machine, its substitutions and the functions' own timeouts
    checked, short = 0, []
    for stack in load_assembly(assembly):
        timeouts = {
            logical: spec["Properties"]["Timeout"]
            for logical, spec in stack.resources.items()
            if spec["Type"] == "AWS::Lambda::Function"
        }
        for spec in stack.resources.values():
            if spec["Type"] != "AWS::StepFunctions::StateMachine":
                continue
            values = spec["Properties"].get("DefinitionSubstitutions", {})
            document = json.loads(spec["Properties"]["DefinitionString"])
            for name, state in _lambda_tasks(document["States"]):
                function = state["Parameters"]["FunctionName"]
                placeholder = re.fullmatch(r"\$\{(\w+)\}", function)
                assert placeholder, f"{name}: FunctionName {function!r} is not a substituted function ARN"
                logical = values[placeholder.group(1)]["Fn::GetAtt"][0]
                limit = re.fullmatch(r"\$\{(\w+)\}", str(state["TimeoutSeconds"]))
                state_timeout = int(values[limit.group(1)] if limit else state["TimeoutSeconds"])
                if state_timeout < timeouts[logical]:
                    short.append(f"{name} ({state_timeout} s < {logical}'s {timeouts[logical]} s)")
                checked += 1
    # Then each state waits at least as long as its function may run (else Step Functions cuts off a long
    # step while the function still works, and a retry runs beside it)
    assert checked > 20 and not short, "; ".join(short)
