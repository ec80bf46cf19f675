"""Distributed Map failure semantics for the local cloud, as AWS applies them.

moto's interpreter runs a Distributed Map's child executions but ignores
``ToleratedFailureCount`` / ``ToleratedFailurePercentage`` (its own TODO): a
failed child just yields ``null`` and the Map succeeds. AWS fails the Map Run
with ``States.ExceedToleratedFailureThreshold`` as soon as failures exceed
either threshold (both default to 0: any failed item fails the Map), and the
state's ``Catch`` sees that error. While installed, the local cloud does the same.

A ``Fail`` state whose ``ErrorPath`` yields such a ``States.*`` name (a
pipeline re-raising what it caught) is legal in AWS; moto rejects it as a
custom error name, so the name is passed through as the States error it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name import custom_error_name
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from mlops.local import moto_patches

THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"


def exceeds_tolerance(failed: int, total: int, *, count: int, percentage: float) -> bool:
    """AWS's rule: the Map Run fails when failed items exceed the count or the percentage tolerated."""
    return failed > count or (total > 0 and 100.0 * failed / total > percentage)


def _error_name(name: str) -> ErrorName:
    if name.startswith("States."):
        return StatesErrorName.from_name(name)
    return custom_error_name.CustomErrorName(name)


@contextmanager
def installed() -> Iterator[None]:
    original = moto_patches.original("sfn.map_tolerated_failures")

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        original(self, env, eval_input)
        record = eval_input.map_run_record
        items = record.item_counter
        failed = items.failed.get() + items.timed_out.get() + items.aborted.get()
        total = items.total.get()
        count, percentage = record.tolerated_failure_count, record.tolerated_failure_percentage
        if exceeds_tolerance(failed, total, count=count, percentage=percentage):
            cause = (
                f"{failed} of {total} items failed; tolerated: {count} items or {percentage:g}% "
                "(each child execution's own error is in its history and the step records)"
            )
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(StatesErrorNameType.StatesExceedToleratedFailureThreshold),
                    event_type=HistoryEventType.ExecutionFailed,
                    event_details=EventDetails(executionFailedEventDetails={"error": THRESHOLD_ERROR, "cause": cause}),
                )
            )

    with moto_patches.patched({"sfn.map_tolerated_failures": map_run, "sfn.fail_with_states_error": _error_name}):
        yield
