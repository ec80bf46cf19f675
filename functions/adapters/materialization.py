"""Materialize offline writes into the online store, incrementally and in bounded memory.

The watermark is the ``created_timestamp`` of the last offline write fully
materialized. A run takes every committed write created after it, oldest
first, streams each file in batches of ``chunk_rows`` rows, reduces each
batch to the latest row per entity and writes it conditionally (so order
across batches does not matter: the online item only ever moves forward).
The watermark advances after each write whose every chunk succeeded; a
failure leaves it at the last complete write, and the next run redoes the
rest (conditional writes make the replay harmless).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from functions.adapters.offline_store import OfflineStore, watermark_of
from functions.adapters.online_store import OnlineStore
from functions.core.features.definitions import FeatureView
from functions.core.features.online import latest_per_entity


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
        for stored in manifest.files:
            for batch in offline.iter_file_batches(stored, chunk_rows):
                counts = online.write(view, latest_per_entity(view, batch))
                rows_read += len(batch)
                written += counts.written
                stale += counts.stale
                if progress is not None:
                    progress(len(batch))
        mark = watermark_of(manifest)
        online.advance_watermark(view, mark)
    return MaterializationResult(view.qualified_name, len(pending), rows_read, written, stale, mark)
