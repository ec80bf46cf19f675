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

``ResultWriter`` (S3 ``putObject``): moto writes the manifest with no result
files and drops the children's outputs. AWS writes them under
``<Prefix>/<map run id>/``: ``SUCCEEDED_0.json`` (and ``FAILED_0.json`` for
tolerated failures), JSON arrays of child executions whose ``Output`` is the
child's output as a JSON string, listed in ``manifest.json``'s ``ResultFiles``;
the Map state's output is then only ``{MapRunArn, ResultWriterDetails}``, so
the 256 KiB state limit (which moto enforces on every state's output) no
longer grows with the number of items. Locally the entries carry ``Name`` (the
item's position), ``Status``, ``Output`` and ``OutputDetails``; AWS adds the
child's ARN, input and times, which no step here reads. A failed child's error
is in its history, not in ``FAILED_0.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
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
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from mlops.local import moto_patches

THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"
MANIFEST = "manifest.json"


def exceeds_tolerance(failed: int, total: int, *, count: int, percentage: float) -> bool:
    """AWS's rule: the Map Run fails when failed items exceed the count or the percentage tolerated."""
    return failed > count or (total > 0 and 100.0 * failed / total > percentage)


def result_files(outputs: Sequence[Any], prefix: str) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """The result files a Map Run's ResultWriter writes: status -> (key, entries); ``None`` is a failed child."""
    files: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for index, output in enumerate(outputs):
        status = "FAILED" if output is None else "SUCCEEDED"
        entry: dict[str, Any] = {"Name": str(index), "Status": status}
        if output is not None:
            entry |= {"Output": json.dumps(output, separators=(",", ":")), "OutputDetails": {"Included": True}}
        files.setdefault(status, (f"{prefix}{status}_0.json", []))[1].append(entry)
    return files


def _write_results(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """ResultWriter's ``s3:putObject``: the children's result files and the manifest listing them, as AWS writes."""
    parameters = env.stack.pop()
    outputs = env.stack.pop()
    s3 = ResourceEvalS3._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
    record = env.map_run_record_pool_manager.get_all()[-1]
    bucket, prefix = parameters["Bucket"], parameters.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
    listed: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, (key, entries) in result_files(outputs, folder).items():
        body = json.dumps(entries).encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        listed[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": record.map_run_arn, "ResultFiles": listed}
    s3.put_object(Bucket=bucket, Key=f"{folder}{MANIFEST}", Body=json.dumps(manifest, indent=2).encode())
    env.stack.append(
        {"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": f"{folder}{MANIFEST}"}}
    )


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

    with moto_patches.patched(
        {
            "sfn.map_tolerated_failures": map_run,
            "sfn.fail_with_states_error": _error_name,
            "sfn.map_result_writer": staticmethod(_write_results),
        }
    ):
        yield
