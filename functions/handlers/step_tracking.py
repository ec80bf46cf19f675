"""Record every pipeline step in the metadata store, whatever its outcome."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from functions.metadata.metadata_store import MetadataStore, StepRun, now_iso

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def tracked_step(step: str, store: Callable[[], MetadataStore]) -> Callable[[Handler], Handler]:
    """Wrap a step handler so its start, end, status and outputs are recorded.

    The error is recorded and then re-raised unchanged: Step Functions must
    see it to apply the state's Retry and Catch.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
            run_id = event["run_id"]
            started_at, clock = now_iso(), time.perf_counter()
            try:
                result = handler(event, context)
            except Exception as exc:
                store().record_step(
                    run_id,
                    StepRun(
                        step,
                        "FAILED",
                        started_at,
                        now_iso(),
                        time.perf_counter() - clock,
                        error=f"{type(exc).__name__}: {exc}",
                        inputs=event,
                    ),
                )
                raise
            store().record_step(
                run_id,
                StepRun(
                    step, "SUCCEEDED", started_at, now_iso(), time.perf_counter() - clock, outputs=result, inputs=event
                ),
            )
            return result

        return wrapper

    return decorate
