"""Materialize offline writes into the online store, incrementally and in bounded memory.

The watermark is the ``created_timestamp`` of the last offline write fully
materialized. A run takes every committed write created after it, oldest
first, streams its files in batches pooled up to ``chunk_rows`` rows, reduces
each chunk to the latest row per entity and writes it conditionally (so order
across batches does not matter: the online item only ever moves forward).
The watermark advances after each write whose every chunk succeeded; a
failure leaves it at the last complete write, and the next run redoes the
rest (conditional writes make the replay harmless). Files are fetched a
window at a time (``OfflineStore.fetch_ahead``), so memory is bounded by
``chunk_rows`` plus one window of files, not by the size of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from functions.feature_store.definitions import FeatureView
from functions.feature_store.offline_store import OfflineStore, file_batches, watermark_of
from functions.feature_store.online import latest_per_entity
from functions.feature_store.online_store import OnlineStore, WriteCounts


@dataclass(frozen=True)
class MaterializationResult:
    view: str
    writes: int
    rows_read: int
    written: int
    stale: int
    watermark: str | None


def materialize(
    view: FeatureView,
    offline: OfflineStore,
    online: OnlineStore,
    *,
    chunk_rows: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> MaterializationResult:
    """Bring the online store up to date with ``view``'s offline writes since the watermark."""
    start = online.watermark(view)
    mark = start
    rows_read = written = stale = 0
    pending = offline.manifests(view, created_after=start)
    for manifest in pending:
        # Batches from consecutive files are pooled up to chunk_rows, so small
        # (daily) files cost one reduced write per entity per chunk, not per file.
        buffered: list[pa.RecordBatch] = []
        size = 0
        for _, data in offline.fetch_ahead(manifest.files):
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
        mark = watermark_of(manifest)
        online.advance_watermark(view, mark)
    return MaterializationResult(view.qualified_name, len(pending), rows_read, written, stale, mark)


def _flush(view: FeatureView, online: OnlineStore, batches: list[pa.RecordBatch]) -> WriteCounts:
    # One pandas conversion per chunk, not per (daily) file.
    return online.write(
        view,
        latest_per_entity(view, pa.Table.from_batches([b.replace_schema_metadata(None) for b in batches]).to_pandas()),
    )
