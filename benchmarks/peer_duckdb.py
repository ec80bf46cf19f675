"""DuckDB's side of ``bench_vs_feast``'s point-in-time join; runs in ``.venv-bench`` (no product imports).

    python peer_duckdb.py <dir> <repeats> <ttl_days>  -> times the join, writes <dir>/duckdb.parquet

One SQL query over the same parquet files: per view, one row per (key, event time) keeping the latest
created_timestamp (an ASOF JOIN picks an arbitrary row among equal event times), then ``ASOF LEFT JOIN`` on
``entity.event_timestamp >= view.event_timestamp`` per view, and features older than the TTL set to null
(``feature ts >= entity ts - TTL``: TTL inclusive, as ours). Timed from the query to a materialized Arrow table (DuckDB's own result form).
Prints one JSON line: {"version", "seconds", "rows"}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

VIEWS = {"view_a": ["a1", "a2"], "view_b": ["b1", "b2"]}


def query(where: Path, ttl_days: int) -> str:
    latest = ",\n".join(
        f"""{name} AS (
    SELECT entity_id, event_timestamp, {", ".join(features)}
    FROM read_parquet('{where / f"{name}.parquet"}')
    QUALIFY row_number() OVER (PARTITION BY entity_id, event_timestamp ORDER BY created_timestamp DESC) = 1
)"""
        for name, features in VIEWS.items()
    )
    picked = ",\n    ".join(
        f"CASE WHEN {name}.event_timestamp >= e.event_timestamp - INTERVAL {ttl_days} DAY THEN {name}.{f} END AS {f}"
        for name, features in VIEWS.items()
        for f in features
    )
    joins = "\n".join(
        f"ASOF LEFT JOIN {name} ON e.entity_id = {name}.entity_id AND e.event_timestamp >= {name}.event_timestamp"
        for name in VIEWS
    )
    return f"""WITH entities AS (SELECT * FROM read_parquet('{where / "entities.parquet"}')),
{latest}
SELECT e.row_id, e.entity_id, e.event_timestamp,
    {picked}
FROM entities e
{joins}"""


def pit(where: Path, repeats: int, ttl_days: int) -> dict[str, object]:
    connection = duckdb.connect()
    # Day arithmetic on TIMESTAMPTZ follows the session time zone; UTC has no DST, so a day is 24 hours.
    connection.execute("SET TimeZone = 'UTC'")
    sql = query(where, ttl_days)
    seconds, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = connection.sql(sql).fetch_arrow_table()
        seconds.append(time.perf_counter() - started)
    assert out is not None
    pq.write_table(out, where / "duckdb.parquet")
    return {"version": duckdb.__version__, "seconds": seconds, "rows": out.num_rows}


if __name__ == "__main__":
    print(json.dumps(pit(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
