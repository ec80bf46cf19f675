"""``mlops monitor report``: fetch a monitor run's HTML drift report, save it, optionally open it.

From the deployed stage (``--stage``) or the running local cloud (``--local``): the same artifacts bucket
layout, read through the target's S3 client.
"""

from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path
from typing import Any

from functions.monitoring.monitor_store import MonitorRunStore


def save_report(s3: Any, bucket: str, model: str, out: Path, run_id: str | None = None) -> tuple[str, Path]:
    """Write the report of ``run_id`` (the latest run by default) to ``out``; returns (run id, path)."""
    store = MonitorRunStore(s3, bucket)
    runs = store.run_ids(model)
    if run_id is None:
        if not runs:
            raise LookupError(
                f"no monitor runs for model {model!r} in s3://{bucket}/{store.prefix(model)}: the monitor runs on "
                "its schedule once predictions are captured"
            )
        run_id = runs[-1]
    elif run_id not in runs:
        raise LookupError(f"no monitor run {run_id!r} of model {model!r} (latest: {runs[-1] if runs else 'none'})")
    record = store.record(model, run_id)
    path = out / f"drift-report-{model}-{run_id}.html" if out.is_dir() else out
    path.write_bytes(store.report(record))
    return run_id, path


def report_command(args: argparse.Namespace) -> int:
    from functions.project import load_project
    from mlops import targets

    if not args.out.is_dir() and not args.out.parent.is_dir():
        raise targets.UsageError(f"--out {args.out}: its folder {args.out.parent} does not exist")
    target = targets.resolve(args)
    project = load_project(targets.project_of(target, args.project))
    model = args.model or project.models[0].name
    if model not in [m.name for m in project.models]:
        raise targets.UsageError(f"project {project.name!r} has no model {model!r} "
                                 f"(models: {', '.join(m.name for m in project.models)})")  # fmt: skip
    bucket = args.bucket or target.output("ArtifactBucketName")
    run, path = save_report(target.clients("s3"), bucket, model, args.out, args.run)
    print(f"monitor run {run}: report saved to {path}")
    if args.open:
        webbrowser.open(path.resolve().as_uri())
    return 0
