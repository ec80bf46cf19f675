"""``mlops monitor report``: fetch a monitor run's HTML drift report, save it, optionally open it."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Any

from functions.monitoring.monitor_store import MonitorRunStore


def artifact_bucket_of_stack(cloudformation: Any, stack_name: str) -> str:
    """The ``ArtifactBucketName`` output of a deployed stack."""
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    for output in stack.get("Outputs", []):
        if output["OutputKey"] == "ArtifactBucketName":
            return str(output["OutputValue"])
    raise KeyError(f"stack {stack_name} has no ArtifactBucketName output")


def save_report(s3: Any, bucket: str, model: str, out: Path, run_id: str | None = None) -> tuple[str, Path]:
    """Write the report of ``run_id`` (the latest run by default) to ``out``; returns (run id, path)."""
    store = MonitorRunStore(s3, bucket)
    if run_id is None:
        runs = store.run_ids(model)
        if not runs:
            raise LookupError(f"no monitor runs for model {model!r} in s3://{bucket}/{store.prefix(model)}")
        run_id = runs[-1]
    record = store.record(model, run_id)
    path = out / f"drift-report-{model}-{run_id}.html" if out.is_dir() else out
    path.write_bytes(store.report(record))
    return run_id, path


def report_command(*, stage: str, model: str, bucket: str | None, run_id: str | None, out: Path, open_it: bool) -> int:
    import boto3

    bucket = bucket or artifact_bucket_of_stack(boto3.client("cloudformation"), f"Mlops-{stage}")
    run, path = save_report(boto3.client("s3"), bucket, model, out, run_id)
    print(f"monitor run {run}: report saved to {path}")
    if open_it:
        webbrowser.open(path.resolve().as_uri())
    return 0
