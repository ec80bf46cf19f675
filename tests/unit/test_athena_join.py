"""The Athena point-in-time SQL (run on DuckDB, as the local cloud's Athena runs it), the pandas join and a
brute-force reference agree on randomized edge cases: ties, the TTL's edge, strict mode, unknown and null
keys, several views, rows outside the committed files."""

from __future__ import annotations

import io
import random
from datetime import timedelta

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.feature_store import athena_join as sql
from functions.feature_store import offline_layout as layout
from functions.feature_store.definitions import Entity, FeatureView, Field, Transformation, ValueType
from functions.feature_store.manifest import StoredFile, sha256_hex
from functions.feature_store.point_in_time import point_in_time_join
from functions.shared.errors import DataValidationError
from mlops.local.athena import GlueTable, duckdb_connection, register_table

DATABASE = "mlops_test_features"
BASE = pd.Timestamp("2024-01-31T00:00:00Z")
USER, SHOP = Entity("user", join_keys=("user_id",)), Entity("shop", join_keys=("shop_id",))


def view(name: str, entities: tuple[Entity, ...], ttl: timedelta, features: tuple[str, ...]) -> FeatureView:
    return FeatureView(
        name=name,
        version=1,
        entities=entities,
        schema=tuple(Field(f, ValueType.FLOAT64, nullable=True) for f in features),
        ttl=ttl,
        source="test",
        transformation=Transformation("identity", 1, lambda raw: raw),
    )


def stamp(rng: random.Random) -> pd.Timestamp:
    # Whole minutes over ~3 days across a month boundary: many exact ties and TTL edges.
    return BASE + pd.Timedelta(minutes=rng.randrange(-36, 36) * 60)


def feature_rows(rng: random.Random, fv: FeatureView, n: int) -> pd.DataFrame:
    seen, records = set(), []
    while len(records) < n:
        keys = tuple(rng.choice(["a", "b", "c", None]) if rng.random() < 0.9 else None for _ in fv.join_keys)
        event = stamp(rng)
        created = event + pd.Timedelta(hours=rng.choice([0, 0, 1, 5, 30]))
        if (keys, event, created) in seen:  # the store keeps one row per (keys, event, created)
            continue
        seen.add((keys, event, created))
        values = [None if rng.random() < 0.1 else round(rng.uniform(0, 100), 3) for _ in fv.feature_names]
        records.append(
            {
                **dict(zip(fv.join_keys, keys, strict=True)),
                "event_timestamp": event,
                "created_timestamp": created,
                **dict(zip(fv.feature_names, values, strict=True)),
            }
        )
    return pd.DataFrame(records)


def stored_files(fv: FeatureView, rows: pd.DataFrame, writes: int) -> list[tuple[StoredFile, bytes]]:
    """The rows as the offline store writes them: several writes, one file per write and month."""
    out = []
    for write in range(writes):
        part = rows.iloc[write::writes]
        for month, data, count in layout.parquet_partitions(fv, part):
            uri = f"s3://offline/{layout.partition_key(fv, month, f'w{write}', 0)}"
            out.append((StoredFile(uri, sha256_hex(data), count, month), data))
    return out


def brute_force(entities: pd.DataFrame, views: list[tuple[FeatureView, pd.DataFrame]], *, strict: bool) -> pd.DataFrame:
    """The documented semantics, row by row, in plain Python."""
    out = entities.copy()
    for fv, rows in views:
        records = rows.to_dict("records")
        picked: list[dict[str, object] | None] = []
        for entity in entities.to_dict("records"):
            at = pd.Timestamp(entity["event_timestamp"])
            candidates = [
                r
                for r in records
                if all(pd.notna(entity[k]) and r[k] == entity[k] for k in fv.join_keys)
                and r["event_timestamp"] <= at
                and (not strict or r["created_timestamp"] <= at)
            ]
            best = max(candidates, key=lambda r: (r["event_timestamp"], r["created_timestamp"]), default=None)
            picked.append(best if best is not None and at - best["event_timestamp"] <= fv.ttl else None)
        for feature in fv.feature_names:
            out[feature] = [None if best is None else best[feature] for best in picked]
    return out


def values(frame: pd.DataFrame, columns: list[str]) -> list[tuple[object, ...]]:
    return [tuple(None if pd.isna(v) else float(v) for v in row) for row in frame[columns].itertuples(index=False)]


def catalog(tables: dict[FeatureView, list[tuple[StoredFile, bytes]]]) -> duckdb.DuckDBPyConnection:
    """The views' Glue tables over all their files (committed or not), as the local Athena builds them."""
    connection = duckdb_connection()
    for fv, files in tables.items():
        table = GlueTable(
            DATABASE,
            f"{fv.name}_v{fv.version}",
            "s3://offline/",
            tuple((f.name, f.dtype.glue_type) for f in fv.stored_schema),
            ("event_month",),
        )
        register_table(connection, table, [(stored.uri, data) for stored, data in files])
    return connection


def stage_committed_files(
    connection: duckdb.DuckDBPyConnection, uris: list[str], token: str, *, others: list[str]
) -> None:
    """The committed-files table with one query's paths (and another query's, which must not count)."""
    files = []
    for name, paths in ((token, uris), ("other", others)):
        sink = io.BytesIO()
        pq.write_table(pa.table({"path": paths}), sink)
        files.append((f"s3://results/committed-files/query={name}/files.parquet", sink.getvalue()))
    table = GlueTable(
        DATABASE, sql.COMMITTED_FILES_TABLE, "s3://results/committed-files/", (("path", "string"),), ("query",)
    )
    register_table(connection, table, files)


def run_sql(query: str, tables: dict[FeatureView, list[tuple[StoredFile, bytes]]]) -> pd.DataFrame:
    return catalog(tables).execute(query).df()


@pytest.mark.parametrize("seed", range(4))
def test_athena_sql_pandas_join_and_brute_force_agree(seed: int) -> None:
    # Given two views (one keyed by two entities), TTLs whose edge falls on whole hours, rows in several writes
    # of which one is not committed, and entity rows with unknown and null keys
    rng = random.Random(seed)
    spend = view("spend", (USER,), timedelta(hours=rng.choice([1, 6, 24])), ("amount", "count"))
    visits = view("visits", (USER, SHOP), timedelta(hours=rng.choice([2, 12])), ("visits",))
    strict = seed % 2 == 1
    rows = {spend: feature_rows(rng, spend, 60), visits: feature_rows(rng, visits, 40)}
    files = {fv: stored_files(fv, frame, writes=3) for fv, frame in rows.items()}
    uncommitted = {fv: files[fv][-1] for fv in files}
    committed = {fv: [f for f in files[fv] if f is not uncommitted[fv]] for fv in files}
    visible = {
        fv: pd.concat([layout.from_parquet_bytes(data) for _, data in committed[fv]], ignore_index=True) for fv in files
    }
    entities = pd.DataFrame(
        {
            "user_id": [rng.choice(["a", "b", "c", "zz", None]) for _ in range(40)],
            "shop_id": [rng.choice(["a", "b", "zz", None]) for _ in range(40)],
            "event_timestamp": [stamp(rng) + pd.Timedelta(minutes=rng.choice([0, 0, 30])) for _ in range(40)],
        }
    )
    # When the three joins run
    expected = brute_force(entities, list(visible.items()), strict=strict)
    ours = point_in_time_join(entities, list(visible.items()), strict=strict)
    lines = sql.entity_values(entities, ["user_id", "shop_id"])
    inputs = [sql.ViewFiles(fv, tuple(stored for stored, _ in committed[fv])) for fv in files]
    # (in chunks, one query each, as a long entity file is queried: the rows keep their numbers)
    chunks = sql.chunks_within(lines, budget=len("".join(lines)) // 2 + 100)
    assert len(chunks) > 1
    connection = catalog(files)
    # (the committed files listed in the query, or staged as rows of the committed-files table, as the build does)
    staged = None
    if seed % 2 == 0:
        staged = sql.committed_files_relation(DATABASE, "q1")
        stage_committed_files(
            connection,
            [stored.uri for fv in committed for stored, _ in committed[fv]],
            "q1",
            others=[stored.uri for stored, _ in uncommitted.values()],
        )
    athena = pd.concat(
        [
            connection.execute(
                sql.point_in_time_query(
                    DATABASE,
                    sql.values_entities(chunk, ["user_id", "shop_id"]),
                    ["user_id", "shop_id"],
                    inputs,
                    strict=strict,
                    committed=staged,
                )
            ).df()
            for chunk in chunks
        ],
        ignore_index=True,
    )
    # Then every row has the same features (the uncommitted write's file is on "S3" but never read)
    columns = ["amount", "count", "visits"]
    assert athena["__row"].tolist() == list(range(len(entities)))
    assert values(athena, columns) == values(ours, columns) == values(expected, columns)
    assert any(v is not None for row in values(athena, columns) for v in row)


def test_label_view_events_are_the_entity_rows_in_the_pandas_order() -> None:
    # Given a label view's rows in two writes, duplicates of one event included
    rng = random.Random(7)
    label = view("label", (USER,), timedelta(hours=3), ("amount",))
    rows = feature_rows(rng, label, 50)
    files = stored_files(label, rows, writes=2)
    start, end = BASE - pd.Timedelta(hours=20), BASE + pd.Timedelta(hours=20)
    # When the entity rows are the view's distinct events in the window, joined to the view itself
    entity_sql = sql.event_entities(DATABASE, sql.ViewFiles(label, tuple(f for f, _ in files)), start=start, end=end)
    query = sql.point_in_time_query(
        DATABASE, entity_sql, ["user_id"], [sql.ViewFiles(label, tuple(f for f, _ in files))]
    )
    athena = run_sql(query, {label: files})
    # Then they are the pandas path's entity rows, in its order, with its features
    from functions.feature_store.training_sets import entity_events

    events = entity_events(rows, label, start=start.to_pydatetime(), end=end.to_pydatetime())
    ours = point_in_time_join(events, [(label, rows)])
    assert athena["user_id"].tolist() == events["user_id"].tolist()
    assert list(athena["event_timestamp"]) == [t.tz_localize(None) for t in events["event_timestamp"]]
    assert values(athena, ["amount"]) == values(ours, ["amount"])


def test_a_view_without_committed_files_joins_nothing_and_a_name_clash_is_refused() -> None:
    spend = view("spend", (USER,), timedelta(hours=1), ("amount",))
    entities = pd.DataFrame({"user_id": ["a"], "event_timestamp": [BASE]})
    entity_sql = sql.values_entities(sql.entity_values(entities, ["user_id"]), ["user_id"])
    query = sql.point_in_time_query(DATABASE, entity_sql, ["user_id"], [sql.ViewFiles(spend, ())])
    assert values(run_sql(query, {spend: []}), ["amount"]) == [(None,)]
    with pytest.raises(DataValidationError, match="clash"):
        sql.point_in_time_query(DATABASE, entity_sql, ["user_id"], [sql.ViewFiles(spend, ()), sql.ViewFiles(spend, ())])
