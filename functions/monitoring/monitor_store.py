"""S3 storage of monitoring data: captures and feedback (read), baselines, monitor runs and reports.

Layouts:
- captures bucket: ``captures/model=<name>/YYYY/MM/DD/HH/<object>`` (Firehose's UTC time layout),
  ``feedback/model=<name>/YYYY/MM/DD/HH/<uuid>.jsonl`` (both written by serving; feedback written before it
  was kept per model lies under ``feedback/YYYY/MM/DD/HH/`` and is read too);
- artifacts bucket: ``baselines/model=<name>/version=<n>.json`` (one per model version),
  ``monitoring/model=<name>/runs/<run_id>/{run.json,report.html,rejected.jsonl}``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from functions.monitoring.baseline import DriftBaseline
from functions.monitoring.captures import (
    CAPTURE_COLUMNS,
    FEEDBACK_COLUMNS,
    Rejected,
    parse_captures,
    parse_feedback,
)
from functions.shared.aws_errors import storage_error
from functions.shared.errors import ModelNotFoundError


def baseline_key(model: str, version: int) -> str:
    return f"baselines/model={model}/version={version}.json"


def store_baseline(s3: Any, bucket: str, model: str, version: int, baseline: DriftBaseline) -> str:
    """Write the drift baseline of ``model`` version ``version``; returns its s3:// URI."""
    key = baseline_key(model, version)
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=json.dumps(baseline.to_dict()).encode(), ContentType="application/json"
        )
    except ClientError as exc:
        raise storage_error(exc, f"writing baseline s3://{bucket}/{key}") from exc
    return f"s3://{bucket}/{key}"


def load_baseline(s3: Any, bucket: str, model: str, version: int) -> DriftBaseline:
    """The drift baseline of a model version; ``ModelNotFoundError`` when it was never stored."""
    key = baseline_key(model, version)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise ModelNotFoundError(f"{model} version {version} has no drift baseline at s3://{bucket}/{key}") from exc
        raise storage_error(exc, f"reading baseline s3://{bucket}/{key}") from exc
    return DriftBaseline.from_dict(json.loads(body))


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    out = []
    while hour < end:
        out.append(hour)
        hour += timedelta(hours=1)
    return out


class CaptureStore:
    """Reads prediction captures and feedback for a time window."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except ClientError as exc:
            raise storage_error(exc, f"listing s3://{self._bucket}/{prefix}") from exc
        return sorted(keys)

    def _read(self, key: str) -> str:
        try:
            return str(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode())
        except ClientError as exc:
            raise storage_error(exc, f"reading s3://{self._bucket}/{key}") from exc

    def captures(self, model: str, start: datetime, end: datetime) -> tuple[pd.DataFrame, list[Rejected], int]:
        """Captured predictions of ``model`` with ``start <= timestamp < end``; (rows, rejected, objects read)."""
        frames, rejected, objects = [], [], 0
        hours = {f"captures/model={model}/{hour:%Y/%m/%d/%H}/" for hour in _hours(start, end)}
        # One listing per day (Firehose's hour folders under it), keeping the window's hours: a week is 8
        # requests, not 168.
        days = sorted({prefix.rsplit("/", 2)[0] + "/" for prefix in hours})
        for day in days:
            for key in self._keys(day):
                if key[: key.rindex("/") + 1] not in hours:
                    continue
                objects += 1
                frame, bad = parse_captures(self._read(key), f"s3://{self._bucket}/{key}")
                frames.append(frame)
                rejected.extend(bad)
        frame = _concat(frames, CAPTURE_COLUMNS)
        if not frame.empty:
            frame = frame[(frame["timestamp"] >= start) & (frame["timestamp"] < end)]
        return frame.reset_index(drop=True), rejected, objects

    def feedback(
        self, start: datetime, end: datetime, *, model: str | None = None
    ) -> tuple[pd.DataFrame, list[Rejected]]:
        """Feedback received on the days from ``start`` through ``end`` (``model``'s, and any not kept per model)."""
        frames, rejected = [], []
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        folders = [f"feedback/model={model}/", "feedback/"] if model else ["feedback/"]
        while day <= end:
            for key in (k for folder in folders for k in self._keys(f"{folder}{day:%Y/%m/%d}/")):
                frame, bad = parse_feedback(self._read(key), f"s3://{self._bucket}/{key}")
                frames.append(frame)
                rejected.extend(bad)
            day += timedelta(days=1)
        return _concat(frames, FEEDBACK_COLUMNS), rejected


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    non_empty = [f for f in frames if not f.empty]
    return pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame(columns=list(columns))


class MonitorRunStore:
    """Monitor run records, their HTML reports and quarantined lines, in the artifacts bucket."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def prefix(self, model: str) -> str:
        return f"monitoring/model={model}/runs/"

    def _put(self, key: str, body: bytes, content_type: str) -> str:
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as exc:
            raise storage_error(exc, f"writing s3://{self._bucket}/{key}") from exc
        return f"s3://{self._bucket}/{key}"

    def save(
        self, model: str, run_id: str, record: dict[str, Any], report_html: str, rejected: list[Rejected]
    ) -> dict[str, Any]:
        """Store report and quarantine first, then the run record that links them."""
        base = f"{self.prefix(model)}{run_id}/"
        record = {**record, "report_uri": self._put(f"{base}report.html", report_html.encode(), "text/html")}
        if rejected:
            lines = "\n".join(json.dumps(asdict(r)) for r in rejected).encode()
            record["quarantine_uri"] = self._put(f"{base}rejected.jsonl", lines, "application/x-ndjson")
        record["record_uri"] = self._put(
            f"{base}run.json", json.dumps(record, default=str).encode(), "application/json"
        )
        return record

    def run_ids(self, model: str) -> list[str]:
        """Run ids of ``model``, oldest first (ids start with their UTC time)."""
        prefix = self.prefix(model)
        ids: set[str] = set()
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
                ids.update(item["Key"][len(prefix) :].split("/", 1)[0] for item in page.get("Contents", []))
        except ClientError as exc:
            raise storage_error(exc, f"listing s3://{self._bucket}/{prefix}") from exc
        return sorted(ids)

    def record(self, model: str, run_id: str) -> dict[str, Any]:
        key = f"{self.prefix(model)}{run_id}/run.json"
        try:
            return dict(json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()))
        except ClientError as exc:
            raise storage_error(exc, f"reading s3://{self._bucket}/{key}") from exc

    def report(self, record: dict[str, Any]) -> bytes:
        bucket, _, key = str(record["report_uri"]).removeprefix("s3://").partition("/")
        try:
            return bytes(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            raise storage_error(exc, f"reading {record['report_uri']}") from exc
