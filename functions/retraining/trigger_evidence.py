"""The evidence behind an alarm trigger: the monitor run (record and drift report) whose metrics fired it.

The guard attaches it to the trigger it starts a run with (``detail.monitor_run``), so the run's
lineage reaches the monitor run and the HTML drift report that explain why the model retrained.
Which run is the rule ``triggers.monitor_run_behind``; this module only lists and reads them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from functions.monitoring.monitor_store import MonitorRunStore
from functions.retraining.triggers import monitor_run_behind
from functions.shared.aws_errors import storage_error


def monitor_evidence(s3_client: Any, bucket: str, model: str, at: datetime, period: timedelta) -> dict[str, Any] | None:
    """The monitor run behind an alarm of ``model`` at ``at`` on a metric of ``period``, as lineage facts."""
    runs = MonitorRunStore(s3_client, bucket)
    prefix = runs.prefix(model)
    # Run ids start with their window's end (UTC): list only the runs of the last two periods.
    start_after = f"{prefix}{(at - 2 * period):%Y%m%dT%H%M%SZ}"
    run_ids: set[str] = set()
    try:
        pages = s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, StartAfter=start_after
        )
        for page in pages:
            run_ids.update(item["Key"][len(prefix) :].split("/", 1)[0] for item in page.get("Contents", []))
    except ClientError as exc:
        raise storage_error(exc, f"listing monitor runs s3://{bucket}/{prefix}") from exc
    chosen = monitor_run_behind(sorted(run_ids), at, period)
    if chosen is None:
        return None
    record = runs.record(model, chosen)
    drift, quality = record.get("drift") or {}, record.get("quality") or {}
    return {
        "model_name": model,
        "run_id": chosen,
        "model_version": record.get("model_version"),
        "window_end": record.get("window_end"),
        "report_uri": record.get("report_uri"),
        # (the stored record cannot name itself: MonitorRunStore.save adds record_uri after writing it)
        "record_uri": f"s3://{bucket}/{prefix}{chosen}/run.json",
        "drift_status": drift.get("status"),
        "dataset_drift": drift.get("dataset_drift"),
        "drift_share": drift.get("drift_share"),
        "quality_status": quality.get("status"),
        "quality_metrics": quality.get("metrics") or {},
    }
