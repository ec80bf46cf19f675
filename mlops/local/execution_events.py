"""Step Functions "Execution Status Change" events for the local cloud.

AWS puts one on the default event bus whenever a standard execution ends;
moto does not. While installed, every execution that moto's interpreter
finishes (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) is put on the local
default bus through the router, shaped as AWS shapes it, so rules on
``aws.states`` (e.g. the retrain guard's lock release) fire. Events for
RUNNING are not emitted locally.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

from mlops.local import moto_patches
from mlops.local.events import EventRouter


def _millis(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def status_change_event(execution: Any, account: str, region: str, now: datetime) -> dict[str, Any]:
    """The event AWS emits for a finished execution (``execution`` is moto's), stamped ``now``."""
    output = execution.output
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account,
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": execution.name,
            "status": execution.exec_status.value,
            "startDate": _millis(execution.start_date),
            "stopDate": _millis(execution.stop_date),
            "input": json.dumps(execution.input_data),
            "output": json.dumps(output) if output is not None and not isinstance(output, str) else output,
            "error": execution.error,
            "cause": execution.cause,
        },
    }


@contextmanager
def execution_status_events(
    router: EventRouter, *, account: str, region: str, on_emitted: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Emit a status-change event on every execution end; yields the list of emitted events.

    ``on_emitted`` is called with each event once its targets ran (the execution's status is final by then).
    """
    original = moto_patches.original("sfn.status_change_events")
    emitted: list[dict[str, Any]] = []

    def terminated(comm: BaseExecutionWorkerCommunication) -> None:
        original(comm)
        event = status_change_event(comm.execution, account, region, router.clock)
        try:
            router.put_event(event)
        finally:
            # After delivery (or its failure, which still propagates): a waiter sees the event once its targets ran,
            # and never waits on an event whose delivery broke.
            emitted.append(event)
            if on_emitted is not None:
                on_emitted(event)

    with moto_patches.patched({"sfn.status_change_events": terminated}):
        yield emitted
