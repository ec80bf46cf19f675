"""Where offline rows live, and which partitions a read needs (pure: keys and dates).

Layout under the offline store's root::

    features/<view>/v<version>/event_date=YYYY-MM-DD/<write_id>-<n>.parquet
    manifests/<view>/v<version>/<write_id>.json
    ingested/<view>/v<version>/<source sha256>.json   (idempotent re-ingest)
    quarantine/<source>/<run id>.parquet

Partitions are Hive-style (``event_date=``) so Athena's partition projection
and pyarrow's ``partitioning="hive"`` read them as a column.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP, FeatureView, ValueType

_PARTITION = re.compile(r"/event_date=(\d{4}-\d{2}-\d{2})/")


def view_prefix(view: FeatureView) -> str:
    return f"features/{view.name}/v{view.version}/"


def partition_key(view: FeatureView, event_date: str, write_id: str, part: int) -> str:
    return f"{view_prefix(view)}event_date={event_date}/{write_id}-{part:05d}.parquet"


def manifest_key(view: FeatureView, write_id: str) -> str:
    """One manifest per write id: a retried write (same run) replaces its own manifest, never adds one."""
    return f"manifests/{view.name}/v{view.version}/{write_id}.json"


def manifests_prefix(view: FeatureView) -> str:
    return f"manifests/{view.name}/v{view.version}/"


def ingested_key(view: FeatureView, source_sha256: str) -> str:
    return f"ingested/{view.name}/v{view.version}/{source_sha256}.json"


def event_date_of(key: str) -> date | None:
    match = _PARTITION.search(key)
    return date.fromisoformat(match.group(1)) if match else None


def needed_dates(view: FeatureView, start: datetime, end: datetime) -> tuple[date, date]:
    """The partition date range a point-in-time read of ``[start, end]`` needs: TTL back from start."""
    return (start - view.ttl).date(), end.date()


def arrow_schema(view: FeatureView) -> pa.Schema:
    """The Parquet schema of an offline file (``event_date`` lives in the path, not the file)."""
    types = {
        ValueType.INT64: pa.int64(),
        ValueType.FLOAT64: pa.float64(),
        ValueType.STRING: pa.string(),
        ValueType.BOOL: pa.bool_(),
        ValueType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(f.name, types[f.dtype], nullable=True) for f in view.stored_schema])


def parquet_partitions(view: FeatureView, rows: pd.DataFrame) -> Iterator[tuple[str, bytes, int]]:
    """``(YYYY-MM-DD, Parquet bytes, row count)`` per UTC event day, by date.

    The rows are converted to Arrow once and sliced per day (a per-day pandas conversion costs
    more than the write itself when a backfill spans years of daily partitions).
    """
    days = rows[EVENT_TIMESTAMP].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d").to_numpy(dtype=str)
    order = np.argsort(days, kind="stable")
    table = pa.Table.from_pandas(
        rows.iloc[order][[f.name for f in view.stored_schema]], schema=arrow_schema(view), preserve_index=False
    )
    ordered = days[order]
    firsts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.array([], dtype=int)
    for start, end in zip(firsts, [*firsts[1:], len(ordered)], strict=True):
        sink = io.BytesIO()
        pq.write_table(table.slice(start, end - start), sink, compression="zstd")
        yield str(ordered[start]), sink.getvalue(), int(end - start)


def to_parquet_bytes(view: FeatureView, rows: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(
        rows[[f.name for f in view.stored_schema]], schema=arrow_schema(view), preserve_index=False
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet_bytes(data: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(data)).to_pandas()


def stamp_created(rows: pd.DataFrame, created: datetime) -> pd.DataFrame:
    out = rows.copy()
    stamp = pd.Timestamp(created)
    out[CREATED_TIMESTAMP] = stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")
    return out


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
