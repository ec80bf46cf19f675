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

A big backfill is materialized by shards instead (a Distributed Map, ``plan_shards`` ->
``materialize_shard`` per item -> ``finish_shards``): the run takes the lease once, fixes the
commits ``(watermark, through]``, and each shard writes the entities whose key falls in it
(``online.shard_of``), so shards never write the same item and run in parallel. Every shard reads
every pending file (reads are multiplied by the shard count; the online writes, the cost, are
split). The watermark moves to ``through`` only after every shard succeeded.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import pyarrow as pa

from functions.feature_store.commit_log import Commit
from functions.feature_store.definitions import FeatureView
from functions.feature_store.offline_store import OfflineStore, file_batches
from functions.feature_store.online import entity_key, latest_per_entity, shard_of
from functions.feature_store.online_store import OnlineStore, WriteCounts
from functions.shared.errors import StorageError

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
        pending = offline.commits(view, after=mark)
        totals = WriteCounts(0, 0)
        rows_read = 0
        for commit in pending:
            for size, counts in _chunks(view, offline, online, commit, chunk_rows=chunk_rows):
                rows_read += size
                totals = WriteCounts(totals.written + counts.written, totals.stale + counts.stale)
                if progress is not None:
                    progress(size)
            mark = commit.position
            online.advance_watermark(view, mark)
            renew()
    return MaterializationResult(view.qualified_name, len(pending), rows_read, totals.written, totals.stale, mark)


def _chunks(
    view: FeatureView,
    offline: OfflineStore,
    online: OnlineStore,
    commit: Commit,
    *,
    chunk_rows: int,
    keep: Callable[[Any], Any] | None = None,
) -> Iterator[tuple[int, WriteCounts]]:
    """Write one commit's rows chunk by chunk (``keep``: a filter of the reduced rows); (rows read, counts)."""
    # Batches from consecutive files are pooled up to chunk_rows, so small
    # (daily) files cost one reduced write per entity per chunk, not per file.
    buffered: list[pa.RecordBatch] = []
    size = 0
    for _, data in offline.fetch_ahead(commit.manifest.files):
        for batch in file_batches(data, chunk_rows):
            buffered.append(batch)
            size += batch.num_rows
            if size >= chunk_rows:
                yield size, _flush(view, online, buffered, keep)
                buffered, size = [], 0
    if buffered:
        yield size, _flush(view, online, buffered, keep)


def _flush(
    view: FeatureView, online: OnlineStore, batches: list[pa.RecordBatch], keep: Callable[[Any], Any] | None
) -> WriteCounts:
    # One pandas conversion per chunk, not per (daily) file.
    table = pa.Table.from_batches([b.replace_schema_metadata(None) for b in batches])
    rows = latest_per_entity(view, table.to_pandas())
    return online.write(view, rows if keep is None else keep(rows))


# -- a backfill, in shards ------------------------------------------------------------------
@dataclass(frozen=True)
class Shard:
    """One item of a backfill's materialization Map: the entities of a view in shard ``shard`` of ``shards``."""

    view: str
    version: int
    after: int
    through: int
    shard: int
    shards: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shard:
        return cls(**data)


@dataclass(frozen=True)
class ShardResult:
    view: str
    version: int
    shard: int
    rows_read: int
    written: int
    stale: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardResult:
        return cls(**data)


# Rows of pending commits per shard, and the most shards of one view in a batch's materialization (the state
# machine's Map is sized for them: infra/constructs/feature_store.py).
SHARD_ROWS = 200_000
MAX_SHARDS = 10


def shard_count(rows: int, shard_rows: int, max_shards: int) -> int:
    """Shards for ``rows`` pending rows: one per ``shard_rows``, at least 1, at most ``max_shards``."""
    return max(1, min(max_shards, math.ceil(rows / shard_rows)))


def plan_shards(
    views: Sequence[FeatureView],
    offline: OfflineStore,
    online: OnlineStore,
    *,
    owner: str,
    hold: timedelta,
    shard_rows: int,
    max_shards: int,
    wait: timedelta = LEASE_WAIT,
) -> list[Shard]:
    """Take each view's lease for ``owner`` and fix the commits to materialize; the Map's items.

    The leases stay held until ``finish_shards`` (or the run's failure) gives them back; a view
    whose lease is held elsewhere fails the plan, with the leases taken so far given back.
    """
    plan: list[Shard] = []
    taken: list[FeatureView] = []
    try:
        for view in views:
            online.take_lease(view, owner, hold=hold, wait=wait)
            taken.append(view)
            after = online.watermark(view)
            pending = offline.commits(view, after=after)
            through = pending[-1].position if pending else after
            shards = shard_count(sum(c.manifest.rows for c in pending), shard_rows, max_shards)
            plan.extend(Shard(view.name, view.version, after, through, n, shards) for n in range(shards))
    except BaseException:
        for view in taken:
            online.release_lease(view, owner)
        raise
    return plan


def materialize_shard(
    view: FeatureView, offline: OfflineStore, online: OnlineStore, shard: Shard, *, chunk_rows: int
) -> ShardResult:
    """Write the newest row of each entity of ``shard`` from the commits ``(after, through]``."""

    def mine(rows: Any) -> Any:
        keys = [entity_key(view, record) for record in rows[list(view.join_keys)].to_dict("records")]
        return rows[[shard_of(key, shard.shards) == shard.shard for key in keys]]

    commits = [c for c in offline.commits(view, after=shard.after) if c.position <= shard.through]
    rows_read = written = stale = 0
    for commit in commits:
        for size, counts in _chunks(view, offline, online, commit, chunk_rows=chunk_rows, keep=mine):
            rows_read, written, stale = rows_read + size, written + counts.written, stale + counts.stale
    return ShardResult(view.name, view.version, shard.shard, rows_read, written, stale)


def finish_shards(
    views: Sequence[FeatureView],
    online: OnlineStore,
    plan: Sequence[Shard],
    results: Sequence[ShardResult],
    *,
    owner: str,
    hold: timedelta,
) -> list[MaterializationResult]:
    """After every shard succeeded: move each view's watermark to its planned ``through``, give the lease back."""
    summaries = []
    for view in views:
        shards = [s for s in plan if (s.view, s.version) == (view.name, view.version)]
        done = [r for r in results if (r.view, r.version) == (view.name, view.version)]
        if not shards or {r.shard for r in done} != {s.shard for s in shards}:
            raise StorageError(f"materialization of {view.qualified_name}: not every planned shard reported")
        online.take_lease(view, owner, hold=hold, wait=timedelta(0))  # still ours, or this raises
        online.advance_watermark(view, shards[0].through)
        online.release_lease(view, owner)
        summaries.append(
            MaterializationResult(
                view.qualified_name,
                shards[0].through - shards[0].after,
                # Every shard reads every pending row: count them once.
                max(r.rows_read for r in done),
                sum(r.written for r in done),
                sum(r.stale for r in done),
                shards[0].through,
            )
        )
    return summaries
