"""Polars' side of ``bench_vs_feast``'s point-in-time join; runs in ``.venv-bench`` (no product imports).

    python peer_polars.py <dir> <repeats> <ttl_days>  -> times the join, writes <dir>/polars.parquet

One lazy query over the same parquet files: per view, one row per (key, event time) keeping the latest
created_timestamp (``join_asof`` picks an arbitrary row among equal event times), then ``join_asof`` by key,
backward, with ``tolerance`` = the TTL (rows older than it give nulls; TTL inclusive, as ours). Timed from
scanning the files to a collected DataFrame (Polars' own result form).
Prints one JSON line: {"version", "seconds", "rows"}.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

VIEWS = {"view_a": ["a1", "a2"], "view_b": ["b1", "b2"]}


def plan(where: Path, ttl_days: int) -> pl.LazyFrame:
    joined = pl.scan_parquet(where / "entities.parquet").sort("event_timestamp")
    for name, features in VIEWS.items():
        latest = (
            pl.scan_parquet(where / f"{name}.parquet")
            .select("entity_id", "event_timestamp", "created_timestamp", *features)
            .sort("event_timestamp", "created_timestamp")
            .unique(subset=["entity_id", "event_timestamp"], keep="last", maintain_order=True)
            .drop("created_timestamp")
        )
        joined = joined.join_asof(
            latest,
            on="event_timestamp",
            by="entity_id",
            strategy="backward",
            tolerance=timedelta(days=ttl_days),
            check_sortedness=False,  # both sides are sorted on event_timestamp just above
        )
    return joined


def pit(where: Path, repeats: int, ttl_days: int) -> dict[str, object]:
    seconds, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = plan(where, ttl_days).collect()
        seconds.append(time.perf_counter() - started)
    assert out is not None
    out.write_parquet(where / "polars.parquet")
    return {"version": pl.__version__, "seconds": seconds, "rows": out.height}


if __name__ == "__main__":
    print(json.dumps(pit(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
