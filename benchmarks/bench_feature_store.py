"""Feature store internals at several sizes: ingestion, point-in-time join (time + peak memory), online reads,
materialization; each next to a floor measured in the same run where one exists.

Sizes come from environment variables (comma lists, one value per size):

    BENCH_FS_ENTITY_ROWS=100000,300000  BENCH_FS_FEATURE_ROWS=1000000,3000000 (keys: feature rows / 100)
    BENCH_FS_PIT_REPEATS=3,1             BENCH_FS_REPEATS=3 (everything else)
    BENCH_FS_VALIDATE_ROWS=100000,1000000  BENCH_FS_INGEST_DAYS=365,1461  BENCH_FS_ONLINE_ENTITIES=10,100,300
    BENCH_FS_MATERIALIZE_ROWS=10000,100000  BENCH_FS_THROUGHPUT_ENTITIES=1000,4000

The floors: the PIT join against a bare ``pandas.merge_asof`` (no TTL, no tie rule, no strict mode, no output
reordering), online reads against raw ``BatchGetItem`` calls for the same keys. Materialization throughput is
measured against the write path it replaced (one conditional ``PutItem`` per entity, kept here as the baseline). The PIT join runs in a fresh
subprocess per repeat so its peak RSS (``ru_maxrss``) is its own. The comparison with peers (Feast, DuckDB,
Polars) on the same semantics is ``bench_vs_feast``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from benchmarks.common import summary
from benchmarks.results import growth, row_of_stats, write_comparison

COMMAND = "make bench (python -m benchmarks.bench_feature_store)"


def _env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _sizes(name: str, default: str) -> list[int]:
    return [int(float(n)) for n in os.environ.get(name, default).split(",") if n.strip()]


def _samples(action: Callable[..., object], repeats: int, *args: Any) -> list[float]:
    """Seconds of ``repeats`` calls of ``action(*args, i)``, ``i`` the call's number."""
    seconds = []
    for i in range(repeats):
        start = time.perf_counter()
        action(*args, i)
        seconds.append(time.perf_counter() - start)
    return seconds


def _point(
    size: int, ours: list[float], peers: dict[str, list[float]] | None = None, check: str = ""
) -> dict[str, Any]:
    return {
        "size": f"{size:,}",
        "x": size,
        "ours": summary(ours),
        "peers": {name: summary(s) for name, s in (peers or {}).items()},
        "check": check,
    }


# -- point-in-time join, in a subprocess ------------------------------------------------------
_PIT_GENERATE = r"""
import sys
import numpy as np, pandas as pd
n_entities, n_features, n_keys, where = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(42)
base = np.datetime64("2024-01-01T00:00:00", "ns")
span = np.int64(365 * 24 * 3600) * 10**9
keys = pd.array([f"k{i}" for i in range(n_keys)], dtype="string")
event = base + rng.integers(0, span, n_features).astype("timedelta64[ns]")
created = event + rng.integers(0, 3600 * 10**9, n_features).astype("timedelta64[ns]")
pd.DataFrame({
    "entity_id": keys.take(rng.integers(0, n_keys, n_features)),
    "event_timestamp": pd.DatetimeIndex(event).tz_localize("UTC"),
    "created_timestamp": pd.DatetimeIndex(created).tz_localize("UTC"),
    "f1": rng.normal(size=n_features), "f2": rng.normal(size=n_features),
}).to_parquet(f"{where}/features.parquet")
pd.DataFrame({
    "entity_id": keys.take(rng.integers(0, n_keys, n_entities)),
    "event_timestamp": pd.DatetimeIndex(
        base + rng.integers(0, span, n_entities).astype("timedelta64[ns]")
    ).tz_localize("UTC"),
}).to_parquet(f"{where}/entities.parquet")
"""

_PIT_RUN = r"""
import json, resource, sys, time
from datetime import timedelta
import pandas as pd
from functions.feature_store.definitions import Entity, FeatureView, Field, Transformation, ValueType
from functions.feature_store.point_in_time import point_in_time_join

where, mode = sys.argv[1], sys.argv[2]
features = pd.read_parquet(f"{where}/features.parquet")
entities = pd.read_parquet(f"{where}/entities.parquet")
view = FeatureView("bench", 1, (Entity("e", ("entity_id",)),),
                   (Field("f1", ValueType.FLOAT64), Field("f2", ValueType.FLOAT64)), timedelta(days=30), "bench",
                   Transformation("none", 1, lambda raw: raw))
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if mode == "baseline":
    out = pd.merge_asof(entities.sort_values("event_timestamp"), features.sort_values("event_timestamp"),
                        on="event_timestamp", by="entity_id", direction="backward")
else:
    out = point_in_time_join(entities, [(view, features)], strict=(mode == "strict"))
seconds = time.perf_counter() - start
assert len(out) == len(entities)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "loaded_mb": loaded / 1024}))
"""


def _pit(mode: str, where: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _PIT_RUN, where, mode], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_point_in_time() -> list[dict[str, Any]]:
    import tempfile

    entity_sizes = _sizes("BENCH_FS_ENTITY_ROWS", "100000,300000")
    feature_sizes = _sizes("BENCH_FS_FEATURE_ROWS", "1000000,3000000")
    repeats = _sizes("BENCH_FS_PIT_REPEATS", "3,1")
    repeats = repeats * len(entity_sizes) if len(repeats) == 1 else repeats
    labels = {"baseline": "bare merge_asof (floor)", "pit": "point_in_time_join", "strict": "  ... strict=True"}
    points: dict[str, list[dict[str, Any]]] = {"pit": [], "strict": []}
    for n_entities, n_features, times in zip(entity_sizes, feature_sizes, repeats, strict=True):
        n_keys = max(n_features // 100, 1)
        print(
            f"point-in-time join: {n_entities:,} entity rows x {n_features:,} feature rows, {n_keys:,} keys, TTL 30 days"
        )
        with tempfile.TemporaryDirectory(prefix="bench-pit-") as where:
            args = [str(n_entities), str(n_features), str(n_keys), where]
            subprocess.run([sys.executable, "-c", _PIT_GENERATE, *args], check=True)
            runs: dict[str, list[dict[str, float]]] = {"baseline": [], "pit": [], "strict": []}
            for _ in range(times):
                for mode, results in runs.items():
                    results.append(_pit(mode, where))
        base = statistics.median(r["seconds"] for r in runs["baseline"])
        for mode, results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            peak = statistics.median(r["peak_mb"] for r in results)
            loaded = statistics.median(r["loaded_mb"] for r in results)
            print(
                f"  {labels[mode]:<28} {seconds:7.2f} s  ({seconds / base:4.2f}x baseline)  "
                f"peak RSS {peak:7.0f} MB (after loading the inputs: {loaded:.0f} MB)"
            )
            if mode != "baseline":
                points[mode].append(
                    {
                        **_point(n_features, [r["seconds"] for r in results],
                                 {labels["baseline"]: [r["seconds"] for r in runs["baseline"]]},
                                 f"{peak:,.0f} MB ({loaded:,.0f} MB after loading)"),
                        "size": f"{n_entities:,} x {n_features:,}",
                    }
                )  # fmt: skip
    return [
        growth(labels["pit"], "entity x feature rows", points["pit"], check_name="peak RSS"),
        growth("point_in_time_join, strict=True", "entity x feature rows", points["strict"], check_name="peak RSS"),
    ]


# -- validation, ingestion, online reads, materialization on moto --------------------------------
def bench_ingestion(repeats: int) -> list[dict[str, Any]]:
    import io

    import pandas as pd

    from benchmarks.common import demo_project

    catalog = demo_project()
    from functions.feature_store.transformations import apply_transformation
    from functions.feature_store.validation import validate_rows
    from mlops.demo import shipped_dataset_csv

    raw = pd.read_csv(io.BytesIO(shipped_dataset_csv()), dtype=str, keep_default_na=False)
    schema = catalog.raw_source("seattle_weather").schema
    validation = []
    for n in _sizes("BENCH_FS_VALIDATE_ROWS", "100000,1000000"):
        big = pd.concat([raw] * (n // len(raw) + 1), ignore_index=True).head(n)
        seconds = _samples(lambda frame, _: validate_rows(frame, schema), repeats, big)
        rate = n / statistics.median(seconds)
        print(f"validation (core, no I/O): {n:,} rows in {statistics.median(seconds):.2f} s = {rate:,.0f} rows/s")
        validation.append(_point(n, seconds, check=f"{rate:,.0f} rows/s"))

    ingestion = []
    for days in _sizes("BENCH_FS_INGEST_DAYS", "365,1461"):
        rows_in = raw.head(days)
        with _moto() as (s3, ddb):
            from functions.feature_store.materialization import materialize
            from functions.feature_store.offline_store import OfflineStore
            from functions.feature_store.online_store import OnlineStore

            def ingest(frame: pd.DataFrame, offline: OfflineStore, online: OnlineStore, run: int) -> None:
                valid = validate_rows(frame, schema, unique_keys=("date",)).valid
                for view in catalog.feature_views:
                    rows = apply_transformation(view, valid)
                    offline.write(
                        view,
                        rows,
                        source_uri="bench",
                        source_sha256=f"s{run}",
                        created=datetime.now(UTC),
                        write_id=f"w{run}",
                    )
                    materialize(view, offline, online)

            stores = OfflineStore(s3, "offline"), OnlineStore(ddb, "online")
            seconds = _samples(ingest, repeats, rows_in, *stores)
        rate = len(rows_in) / statistics.median(seconds)
        print(
            f"ingestion end to end on moto (validate, 2 views: transform, offline write, materialize): "
            f"{len(rows_in):,} rows in {statistics.median(seconds):.2f} s = {rate:,.0f} rows/s "
            f"({len(rows_in) * 2} daily Parquet files; moto per-request cost dominates)"
        )
        ingestion.append(_point(len(rows_in), seconds, check=f"{rate:,.0f} rows/s"))
    return [
        growth("validation (core, no I/O)", "rows", validation, check_name="rate"),
        growth("ingestion end to end on moto (2 views, one Parquet file per month)", "daily rows", ingestion,
               check_name="rate"),
    ]  # fmt: skip


def _batch_get(ddb: Any, keys: list[dict[str, Any]], _: int) -> None:
    for i in range(0, len(keys), 100):  # BatchGetItem takes at most 100 keys a call
        ddb.batch_get_item(RequestItems={"online": {"Keys": keys[i : i + 100]}})


def bench_online_reads(repeats: int) -> list[dict[str, Any]]:
    import pandas as pd

    from benchmarks.common import demo_project

    catalog = demo_project()
    counts = _sizes("BENCH_FS_ONLINE_ENTITIES", "10,100,300")
    points = []
    with _moto() as (_, ddb):
        from functions.feature_store.online_store import OnlineStore

        view = catalog.feature_view("daily_weather", 1)
        online = OnlineStore(ddb, "online", clock=lambda: datetime(2024, 1, 1, 12, tzinfo=UTC))
        rows = pd.DataFrame(
            {
                "station_id": [f"s{i}" for i in range(max(counts))],
                "event_timestamp": pd.Timestamp("2024-01-01", tz="UTC"),
                "created_timestamp": pd.Timestamp("2024-01-01", tz="UTC"),
                "precipitation": 1.0,
                "temp_max": 10.0,
                "temp_min": 2.0,
                "wind": 3.0,
                "weather": "rain",
                "temp_range": 8.0,
            }
        )
        online.write(view, rows)
        for count in counts:
            entities = [{"station_id": f"s{i}"} for i in range(count)]
            keys = [{"pk": {"S": f"station_id=s{i}"}, "sk": {"S": "daily_weather#v1"}} for i in range(count)]
            base = _samples(_batch_get, max(repeats, 5), ddb, keys)
            seconds = _samples(lambda chosen, _: online.read(view, chosen), max(repeats, 5), entities)
            b, o = statistics.median(base), statistics.median(seconds)
            print(
                f"online read of {count} entities on moto: {o * 1000:.1f} ms ({o / count * 1000:.2f} ms/entity); "
                f"raw BatchGetItem {b * 1000:.1f} ms; code-path overhead {(o - b) / count * 1000:.3f} ms/entity "
                f"({o / b:.2f}x)"
            )
            points.append(_point(count, seconds, {"raw BatchGetItem (floor)": base}))
    return [growth("online read (6 features, TTL check, typed values)", "entities per read", points)]


def bench_materialization_memory() -> list[dict[str, Any]]:
    import numpy as np
    import pandas as pd

    from benchmarks.common import demo_project

    catalog = demo_project()

    view = catalog.feature_view("daily_weather", 1)
    chunk = 2_000
    print(f"materialization peak Python memory (tracemalloc; S3 on moto, DynamoDB a dict), chunk_rows={chunk}:")
    points = []
    for size in _sizes("BENCH_FS_MATERIALIZE_ROWS", "10000,100000"):
        with _moto() as (s3, _):
            from functions.feature_store.materialization import materialize
            from functions.feature_store.offline_store import OfflineStore
            from functions.feature_store.online_store import OnlineStore

            # DynamoDB is a dict here: moto's table bookkeeping grows with every request,
            # which would be counted by tracemalloc and hide what materialization holds.
            offline, online = OfflineStore(s3, "offline"), OnlineStore(_LatestItems(), "online")
            rng = np.random.default_rng(1)
            rows = pd.DataFrame(
                {
                    "station_id": [f"s{i % 50}" for i in range(size)],
                    "event_timestamp": pd.Timestamp("2024-01-01", tz="UTC")
                    # More data means more days (500 rows a day), as it does when a store grows.
                    + pd.to_timedelta(rng.integers(0, (size // 500) * 86400, size), unit="s"),
                    "precipitation": 1.0,
                    "temp_max": 10.0,
                    "temp_min": 2.0,
                    "wind": 3.0,
                    "weather": "rain",
                    "temp_range": 8.0,
                }
            )
            offline.write(view, rows, source_uri="b", source_sha256=f"m{size}", created=datetime.now(UTC), write_id="w")
            tracemalloc.start()
            start = time.perf_counter()
            result = materialize(view, offline, online, chunk_rows=chunk)
            seconds = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"  {size:>9,} rows: peak {peak / 2**20:6.1f} MB, {seconds:.1f} s "
                f"({result.written} online writes, {result.rows_read:,} rows read)"
            )
            points.append(_point(size, [seconds], check=f"{peak / 2**20:.1f} MB"))
    return [
        growth(
            f"materialization (chunk_rows={chunk}; one traced run, so its time includes tracemalloc)",
            "offline rows",
            points,
            check_name="peak Python memory",
        )
    ]


class _LatestItems:
    """The DynamoDB calls materialization makes, over a dict (one item per key, as in DynamoDB; no conditions)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, *, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item
        return {}

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get((Key["pk"]["S"], Key["sk"]["S"]))
        return {} if item is None else {"Item": item}

    def delete_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.items.pop((Key["pk"]["S"], Key["sk"]["S"]), None)
        return {}

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        (table, request), *_ = RequestItems.items()
        found = [self.items[(k["pk"]["S"], k["sk"]["S"])] for k in request["Keys"]]
        return {"Responses": {table: found}}

    def batch_write_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        for puts in RequestItems.values():
            for put in puts:
                self.put_item(TableName="", Item=put["PutRequest"]["Item"])
        return {"UnprocessedItems": {}}


def bench_materialization_throughput(repeats: int) -> list[dict[str, Any]]:
    """Rows/s of materialization on moto's DynamoDB: this write path against the one it replaced, same run."""
    import pandas as pd

    from benchmarks.common import demo_project

    view = demo_project().feature_view("daily_weather", 1)
    points = []
    print("materialization throughput on moto (one offline write, one row per entity, a fresh table per run):")
    for entities in _sizes("BENCH_FS_THROUGHPUT_ENTITIES", "1000,4000"):
        rows = pd.DataFrame(
            {
                "station_id": [f"s{i}" for i in range(entities)],
                "event_timestamp": pd.Timestamp("2024-01-01", tz="UTC"),
                "precipitation": 1.0,
                "temp_max": 10.0,
                "temp_min": 2.0,
                "wind": 3.0,
                "weather": "rain",
                "temp_range": 8.0,
            }
        )
        timings: dict[str, list[float]] = {"ours": [], "baseline": []}
        for run in range(repeats):
            for name in ("baseline", "ours") if run % 2 else ("ours", "baseline"):
                with _moto() as (s3, ddb):
                    from functions.feature_store.materialization import materialize
                    from functions.feature_store.offline_store import OfflineStore
                    from functions.feature_store.online_store import OnlineStore

                    offline = OfflineStore(s3, "offline")
                    offline.write(
                        view, rows, source_uri="b", source_sha256="t", created=datetime.now(UTC), write_id="w"
                    )
                    online = OnlineStore(ddb, "online") if name == "ours" else _put_item_store(ddb, "online")
                    start = time.perf_counter()
                    result = materialize(view, offline, online, chunk_rows=10_000)
                    timings[name].append(time.perf_counter() - start)
                    assert result.written == entities, result
        ours, base = statistics.median(timings["ours"]), statistics.median(timings["baseline"])
        print(
            f"  {entities:>7,} entities: {entities / ours:,.0f} rows/s (BatchWriteItem), "
            f"{entities / base:,.0f} rows/s before (PutItem per entity): {base / ours:.2f}x"
        )
        points.append(
            _point(entities, timings["ours"], {"one conditional PutItem per entity (before)": timings["baseline"]},
                   check=f"{entities / ours:,.0f} vs {entities / base:,.0f} rows/s")
        )  # fmt: skip
    return [growth("materialization throughput on moto (8 writer threads)", "entities", points, check_name="rows/s")]


def _put_item_online_store() -> type:
    from botocore.exceptions import ClientError

    from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP
    from functions.feature_store.online import entity_key, view_sort_key
    from functions.feature_store.online_store import TTL_ATTRIBUTE, OnlineStore, WriteCounts, _micros, _plain
    from functions.shared.dynamo_items import to_item

    newer = "attribute_not_exists(pk) OR event_ts < :event OR (event_ts = :event AND created_ts < :created)"

    class PutItemOnlineStore(OnlineStore):
        """The online write path before BatchWriteItem (one conditional PutItem per entity), as the baseline."""

        def write(self, view: Any, rows: Any) -> Any:
            written = stale = 0
            ttl_s = int(view.ttl.total_seconds())
            for record in rows.to_dict("records"):
                event, created = _micros(record[EVENT_TIMESTAMP]), _micros(record[CREATED_TIMESTAMP])
                features = {name: _plain(record[name]) for name in view.feature_names}
                item = to_item(
                    {
                        "pk": entity_key(view, record),
                        "sk": view_sort_key(view),
                        "event_ts": event,
                        "created_ts": created,
                        TTL_ATTRIBUTE: event // 1_000_000 + ttl_s,
                        "features": {k: v for k, v in features.items() if v is not None},
                    }
                )
                try:
                    self._ddb.put_item(
                        TableName=self.table,
                        Item=item,
                        ConditionExpression=newer,
                        ExpressionAttributeValues={":event": {"N": str(event)}, ":created": {"N": str(created)}},
                    )
                    written += 1
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                    stale += 1
            return WriteCounts(written=written, stale=stale)

    return PutItemOnlineStore


def _put_item_store(ddb: Any, table: str) -> Any:
    return _put_item_online_store()(ddb, table)


class _moto:
    """moto with a bucket ``offline`` and a table ``online``."""

    def __enter__(self) -> tuple[Any, Any]:
        import boto3
        from moto import mock_aws

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        self._mock = mock_aws()
        self._mock.start()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="offline")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="online",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        return s3, ddb

    def __exit__(self, *exc: object) -> None:
        self._mock.stop()


def main() -> int:
    repeats = _env("BENCH_FS_REPEATS", 3)
    print(f"cpus: {os.cpu_count()}, repeats: {repeats} (medians)")
    tables = [
        *bench_online_reads(repeats),
        *bench_ingestion(repeats),
        *bench_materialization_memory(),
        *bench_materialization_throughput(repeats),
        *bench_point_in_time(),
    ]
    write_comparison(
        "feature_store",
        title="Feature store internals",
        command=COMMAND,
        peer="no peer: floors measured in the same run (bare merge_asof, raw BatchGetItem) where one exists",
        sizes={
            "entity_rows": os.environ.get("BENCH_FS_ENTITY_ROWS", "100000,300000"),
            "feature_rows": os.environ.get("BENCH_FS_FEATURE_ROWS", "1000000,3000000"),
            "pit_repeats": os.environ.get("BENCH_FS_PIT_REPEATS", "3,1"),
            "repeats": repeats,
        },
        rows=[
            row_of_stats(
                f"{table['measure']}, {table['points'][-1]['size']}",
                table["points"][-1]["ours"],
                None,
                peer_missing="no peer" + (": the floor is in the growth table" if table["points"][-1]["peers"] else ""),
            )
            for table in tables
        ],
        notes=[
            "In the benchmark's process on moto, except the point-in-time join (a fresh subprocess per repeat, "
            "so its peak RSS is its own). Floors: bare pandas.merge_asof (no TTL, no tie rule, no strict mode, "
            "no output reordering) and raw BatchGetItem calls for the same keys; ratio = floor / ours, so below "
            "1 is what the feature store adds.",
            "Point-in-time data: one view of 2 float features, 100 feature rows per key, event times over one "
            "year, TTL 30 days; the peers on the same semantics are in 'Point-in-time training set'.",
        ],
        growth=tables,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
