"""CollectBatchStep: after a data-prep step ran as an AWS Batch job, its outcome back into the execution.

A Batch job returns no payload: the job (``batch_train.py``) left ``{"result": ...}`` or ``{"error": ...}``
at ``runs/<run id>/batch/<step>.json``. Both the Batch state's success and its Catch come here (``job`` is
the job's status or the caught failure): a result is returned as the step's Lambda would have returned it;
a step's failure is raised again under the step's own error name and reason (so the run records
``DataValidationError: ...``, not a container exit code); a job that failed before writing its outcome
(no image, out of memory, timed out) raises ``BatchJobFailed`` with what Batch said.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.batch_train import step_result_key
from functions.handlers.pipeline_context import SETTINGS, objects, settings
from functions.shared import errors
from functions.shared.errors import MlopsError, StorageError
from functions.shared.objects import S3Uri

__all__ = ["SETTINGS", "BatchJobFailed", "handler"]

logger = Logger()


class BatchJobFailed(MlopsError):
    """A Batch job of the pipeline stopped before its step wrote an outcome."""


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id, step, job = event["run_id"], event["step"], event.get("job") or {}
    uri = S3Uri(settings().artifact_bucket, step_result_key(run_id, step))
    try:
        outcome: dict[str, Any] = json.loads(objects().get_bytes(uri))
    except StorageError as exc:
        if "Error" in job:
            raise BatchJobFailed(f"{step} on AWS Batch: {job['Error']}: {_reason(job)}") from exc
        raise
    if "error" in outcome:
        failure = outcome["error"]
        raise _named(failure["Error"])(failure["Cause"])
    if "Error" in job:
        raise BatchJobFailed(f"{step} on AWS Batch wrote a result but the job failed: {job['Error']}: {_reason(job)}")
    logger.info("batch step collected", extra={"step": step, "job": job})
    result: dict[str, Any] = outcome["result"]
    return result


def _named(name: str) -> type[Exception]:
    """The step's error class by name: the domain's own, or one of that name (the name is what Step Functions sees)."""
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    return type(name, (MlopsError,), {})


def _reason(job: dict[str, Any]) -> str:
    """Batch's reason from a caught ``submitJob.sync`` failure (its Cause is the job's description, as JSON)."""
    cause = job.get("Cause") or ""
    try:
        described = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)[:500]
    if not isinstance(described, dict):
        return str(cause)[:500]
    attempts = described.get("Attempts") or []
    last = attempts[-1] if attempts else {}
    container = last.get("Container") or {}
    reason = described.get("StatusReason") or container.get("Reason") or ""
    code = container.get("ExitCode")
    return f"{reason} (exit code {code})" if code is not None else str(reason)
