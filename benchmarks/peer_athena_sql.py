"""The Athena path's SQL on ``bench_vs_feast``'s files, run by DuckDB as the local cloud's Athena runs it.

    python peer_athena_sql.py <dir> <repeats> <ttl_days>  -> times the query, writes <dir>/athena-sql.parquet

The query is the one the training-set build sends to Athena (functions/feature_store/athena_join.py), over
each view's file registered as its Glue table would read it (typed columns, ``"$path"``, ``event_month``);
only the entity relation differs: the bench's entity file as a table, where the build sends an entity file
inline (``VALUES``) or derives the rows from the label view. Timed from the query to a materialized Arrow
table. Prints one JSON line: {"version", "seconds", "rows"}.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from functions.feature_store import athena_join as sql
from functions.feature_store.definitions import Entity, FeatureView, Field, Transformation, ValueType
from functions.feature_store.manifest import StoredFile

VIEWS = {"view_a": ["a1", "a2"], "view_b": ["b1", "b2"]}
DATABASE = "bench"
MONTH = "2024-01"  # one "partition" per view: the bench's files are not partitioned


def pit(where: Path, repeats: int, ttl_days: int) -> dict[str, object]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE SCHEMA {DATABASE}")
    inputs = []
    for name, features in VIEWS.items():
        view = FeatureView(
            name,
            1,
            (Entity("entity", ("entity_id",)),),
            tuple(Field(f, ValueType.FLOAT64) for f in features),
            timedelta(days=ttl_days),
            name,
            Transformation("none", 1, lambda raw: raw),
        )
        path = where / f"{name}.parquet"
        uri = f"s3://bench/{name}.parquet"
        connection.execute(
            f"CREATE VIEW {sql.table_name(DATABASE, view)} AS SELECT entity_id, "
            "CAST(event_timestamp AS TIMESTAMP) AS event_timestamp, "
            f"CAST(created_timestamp AS TIMESTAMP) AS created_timestamp, {', '.join(features)}, "
            f"'{uri}' AS \"$path\", '{MONTH}' AS event_month FROM read_parquet('{path}')"
        )
        rows = pq.ParquetFile(path).metadata.num_rows
        inputs.append(sql.ViewFiles(view, (StoredFile(uri, "", rows, MONTH),)))
    entities = (
        f"entities AS (SELECT row_id AS {sql.ROW}, entity_id, CAST(event_timestamp AS TIMESTAMP) AS __ts "
        f"FROM read_parquet('{where / 'entities.parquet'}'))"
    )
    query = sql.point_in_time_query(DATABASE, entities, ["entity_id"], inputs)
    seconds, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = connection.sql(query).fetch_arrow_table()
        seconds.append(time.perf_counter() - started)
    assert out is not None
    out = out.rename_columns(["row_id" if c == sql.ROW else c for c in out.column_names])
    pq.write_table(out, where / "athena-sql.parquet")
    return {"version": duckdb.__version__, "seconds": seconds, "rows": out.num_rows}


if __name__ == "__main__":
    print(json.dumps(pit(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
