"""Materialize offline writes into the online store, incrementally, in bounded memory, never skipping one.

The watermark is the position in the view's offline commit log (``commit_log``) materialized
through. Positions follow commit order, so a write that started first but committed last comes
after the watermark and is read by the next run (a watermark of start times skipped it). A run
holds the view's lease (one run of a view at a time: the online store's read-compare writes rely
on it), takes the commits after the watermark in order, streams their files in batches pooled up
to ``chunk_rows`` rows, reduces each chunk to the latest row per entity and writes only rows newer
than the stored ones (so order across chunks does not matter: an item only ever moves forward).
The watermark advances after each commit whose every chunk succeeded; a failure leaves it at the
last complete commit, and the next run redoes the rest (the replay changes nothing). Files are
fetched a window at a time (``OfflineStore.fetch_ahead``): memory is ``chunk_rows`` plus one window.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pyarrow as pa

from functions.feature_store.definitions import FeatureView
from functions.feature_store.offline_store import OfflineStore, file_batches
from functions.feature_store.online import latest_per_entity
from functions.feature_store.online_store import OnlineStore, WriteCounts

# A Lambda that dies frees the lease after this (the Materialize function's timeout is below it).
LEASE_HOLD = timedelta(minutes=15)
LEASE_WAIT = timedelta(minutes=1)


@dataclass(frozen=True)
class MaterializationResult:
    view: str
    writes: int
    rows_read: int
    written: int
    stale: int
    watermark: int


def materialize(
    view: FeatureView,
    offline: OfflineStore,
    online: OnlineStore,
    *,
    chunk_rows: int = 10_000,
    owner: str | None = None,
    lease_hold: timedelta = LEASE_HOLD,
    lease_wait: timedelta = LEASE_WAIT,
    progress: Callable[[int], None] | None = None,
) -> MaterializationResult:
    """Bring the online store up to date with ``view``'s offline commits after the watermark.

    ``owner`` names the run in the lease (a run id); a run finding the lease held waits up to
    ``lease_wait``, then raises ``TransientStoreError`` naming the holder.
    """
    with online.materialization_lease(view, owner or uuid.uuid4().hex, hold=lease_hold, wait=lease_wait) as renew:
        mark = online.watermark(view)
        rows_read = written = stale = 0
        pending = offline.commits(view, after=mark)
        for commit in pending:
            # Batches from consecutive files are pooled up to chunk_rows, so small
            # (daily) files cost one reduced write per entity per chunk, not per file.
            buffered: list[pa.RecordBatch] = []
            size = 0
            for _, data in offline.fetch_ahead(commit.manifest.files):
                for batch in file_batches(data, chunk_rows):
                    buffered.append(batch)
                    size += batch.num_rows
                    if size >= chunk_rows:
                        counts = _flush(view, online, buffered)
                        rows_read, written, stale = rows_read + size, written + counts.written, stale + counts.stale
                        if progress is not None:
                            progress(size)
                        buffered, size = [], 0
            if buffered:
                counts = _flush(view, online, buffered)
                rows_read, written, stale = rows_read + size, written + counts.written, stale + counts.stale
                if progress is not None:
                    progress(size)
            mark = commit.position
            online.advance_watermark(view, mark)
            renew()
    return MaterializationResult(view.qualified_name, len(pending), rows_read, written, stale, mark)


def _flush(view: FeatureView, online: OnlineStore, batches: list[pa.RecordBatch]) -> WriteCounts:
    # One pandas conversion per chunk, not per (daily) file.
    return online.write(
        view,
        latest_per_entity(view, pa.Table.from_batches([b.replace_schema_metadata(None) for b in batches]).to_pandas()),
    )
