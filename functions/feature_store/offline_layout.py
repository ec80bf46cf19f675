"""Where offline rows live, and which partitions a read needs (pure: keys and dates).

Layout under the offline store's root::

    features/<view>/v<version>/event_month=YYYY-MM/<write_id>-<n>.parquet
    manifests/<view>/v<version>/commits/<position>.json   (the commit log: one write manifest each)
    manifests/<view>/v<version>/index.json.gz             (the log compacted up to a position)
    ingested/<view>/v<version>/<source sha256>.json   (idempotent re-ingest)
    quarantine/<source>/<run id>.parquet

Partitions are Hive-style (``event_month=``) so Athena's partition projection
and pyarrow's ``partitioning="hive"`` read them as a column. A partition is a
UTC calendar month: a write stores one file per month it has rows in (a
four-year daily backfill is 48 files, not 1,461), and each row keeps its full
``event_timestamp``, so the point-in-time join is as exact as before; pruning
picks the months that overlap the TTL window, a superset of the rows it needs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from functions.feature_store.commit_log import position_name
from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP, FeatureView, ValueType

_PARTITION = re.compile(r"/event_month=(\d{4}-\d{2})/")
PARTITION_COLUMN = "event_month"
_MONTH = "%Y-%m"


def view_prefix(view: FeatureView) -> str:
    return f"features/{view.name}/v{view.version}/"


def partition_key(view: FeatureView, event_month: str, write_id: str, part: int) -> str:
    return f"{view_prefix(view)}{PARTITION_COLUMN}={event_month}/{write_id}-{part:05d}.parquet"


def manifests_prefix(view: FeatureView) -> str:
    return f"manifests/{view.name}/v{view.version}/"


def commits_prefix(view: FeatureView) -> str:
    """The view's commit log: ``<position>.json`` objects, in key order = commit order."""
    return f"{manifests_prefix(view)}commits/"


def commit_key(view: FeatureView, position: int) -> str:
    return f"{commits_prefix(view)}{position_name(position)}"


def index_key(view: FeatureView) -> str:
    return f"{manifests_prefix(view)}index.json.gz"


def ingested_key(view: FeatureView, source_sha256: str) -> str:
    return f"ingested/{view.name}/v{view.version}/{source_sha256}.json"


def event_month_of(key: str) -> str | None:
    match = _PARTITION.search(key)
    return match.group(1) if match else None


def month_of(moment: datetime) -> str:
    """The partition (``YYYY-MM``, UTC) an event time belongs to."""
    stamp = pd.Timestamp(moment)
    return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp).strftime(_MONTH)


def needed_months(view: FeatureView, start: datetime, end: datetime) -> tuple[str, str]:
    """The partitions a point-in-time read of entity times ``[start, end]`` needs: TTL back from start.

    ``YYYY-MM`` strings order as the months do, so a file is needed when its month is in the range.
    """
    return month_of(start - view.ttl), month_of(end)


def arrow_schema(view: FeatureView) -> pa.Schema:
    """The Parquet schema of an offline file (``event_month`` lives in the path, not the file)."""
    types = {
        ValueType.INT64: pa.int64(),
        ValueType.FLOAT64: pa.float64(),
        ValueType.STRING: pa.string(),
        ValueType.BOOL: pa.bool_(),
        ValueType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(f.name, types[f.dtype], nullable=True) for f in view.stored_schema])


def parquet_partitions(view: FeatureView, rows: pd.DataFrame) -> Iterator[tuple[str, bytes, int]]:
    """``(YYYY-MM, Parquet bytes, row count)`` per UTC event month, by month.

    The rows are converted to Arrow once and sliced per month (rows within a month keep their order).
    """
    months = rows[EVENT_TIMESTAMP].dt.tz_convert("UTC").dt.strftime(_MONTH).to_numpy(dtype=str)
    order = np.argsort(months, kind="stable")
    table = pa.Table.from_pandas(
        rows.iloc[order][[f.name for f in view.stored_schema]], schema=arrow_schema(view), preserve_index=False
    )
    ordered = months[order]
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
