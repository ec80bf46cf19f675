"""Feature store benchmarks: ingestion, point-in-time join (time + peak memory), online reads, materialization.

Sizes come from environment variables (defaults are the issue's targets):

    BENCH_FS_ENTITY_ROWS=1000000  BENCH_FS_FEATURE_ROWS=10000000  BENCH_FS_KEYS=100000
    BENCH_FS_REPEATS=3            BENCH_FS_VALIDATE_ROWS=1000000  BENCH_FS_MATERIALIZE_ROWS=10000

Each figure is the median over repeats, next to a baseline measured in the same
run: the PIT join against a bare ``pandas.merge_asof`` (no TTL, no tie rule,
no strict mode, no output reordering), online reads against a raw
``BatchGetItem`` of the same keys. The PIT join runs in a fresh subprocess per
repeat so its peak RSS (``ru_maxrss``) is its own. Feast is not installed here;
the comparison with Feast's offline retrieval is a later benchmark.
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


def _env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _median(run: Callable[[], float], repeats: int) -> float:
    return statistics.median(run() for _ in range(repeats))


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


def bench_point_in_time(repeats: int) -> None:
    import tempfile

    n_entities = _env("BENCH_FS_ENTITY_ROWS", 1_000_000)
    n_features = _env("BENCH_FS_FEATURE_ROWS", 10_000_000)
    n_keys = _env("BENCH_FS_KEYS", 100_000)
    print(f"point-in-time join: {n_entities:,} entity rows x {n_features:,} feature rows, {n_keys:,} keys, TTL 30 days")
    with tempfile.TemporaryDirectory(prefix="bench-pit-") as where:
        args = [str(n_entities), str(n_features), str(n_keys), where]
        subprocess.run([sys.executable, "-c", _PIT_GENERATE, *args], check=True)
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "pit": [], "strict": []}
        for _ in range(repeats):
            for mode, results in runs.items():
                results.append(_pit(mode, where))
    base = statistics.median(r["seconds"] for r in runs["baseline"])
    labels = {"baseline": "bare merge_asof (baseline)", "pit": "point_in_time_join", "strict": "  ... strict=True"}
    for mode, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        peak = statistics.median(r["peak_mb"] for r in results)
        loaded = statistics.median(r["loaded_mb"] for r in results)
        print(
            f"  {labels[mode]:<28} {seconds:7.2f} s  ({seconds / base:4.2f}x baseline)  "
            f"peak RSS {peak:7.0f} MB (after loading the inputs: {loaded:.0f} MB)"
        )


# -- validation, ingestion, online reads, materialization on moto --------------------------------
def bench_ingestion(repeats: int) -> None:
    import io

    import pandas as pd

    from benchmarks.common import demo_project

    catalog = demo_project()
    from functions.feature_store.transformations import apply_transformation
    from functions.feature_store.validation import validate_rows
    from mlops.demo import shipped_dataset_csv

    raw = pd.read_csv(io.BytesIO(shipped_dataset_csv()), dtype=str, keep_default_na=False)
    n = _env("BENCH_FS_VALIDATE_ROWS", 1_000_000)
    big = pd.concat([raw] * (n // len(raw) + 1), ignore_index=True).head(n)

    def validate() -> float:
        start = time.perf_counter()
        validate_rows(big, catalog.raw_source("seattle_weather").schema)
        return time.perf_counter() - start

    seconds = _median(validate, repeats)
    print(f"validation (core, no I/O): {n:,} rows in {seconds:.2f} s = {n / seconds:,.0f} rows/s")

    with _moto() as (s3, ddb):
        from functions.feature_store.materialization import materialize
        from functions.feature_store.offline_store import OfflineStore
        from functions.feature_store.online_store import OnlineStore

        offline, online = OfflineStore(s3, "offline"), OnlineStore(ddb, "online")
        counter = iter(range(10**6))

        def ingest() -> float:
            run = next(counter)
            start = time.perf_counter()
            valid = validate_rows(raw, catalog.raw_source("seattle_weather").schema, unique_keys=("date",)).valid
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
            return time.perf_counter() - start

        seconds = _median(ingest, repeats)
        print(
            f"ingestion end to end on moto (validate, 2 views: transform, offline write, materialize): "
            f"{len(raw):,} rows in {seconds:.2f} s = {len(raw) / seconds:,.0f} rows/s "
            f"({len(raw) * 2} daily Parquet files; moto per-request cost dominates)"
        )


def bench_online_reads(repeats: int) -> None:
    import pandas as pd

    from benchmarks.common import demo_project

    catalog = demo_project()

    with _moto() as (_, ddb):
        from functions.feature_store.online_store import OnlineStore

        view = catalog.feature_view("daily_weather", 1)
        online = OnlineStore(ddb, "online", clock=lambda: datetime(2024, 1, 1, 12, tzinfo=UTC))
        rows = pd.DataFrame(
            {
                "station_id": [f"s{i}" for i in range(100)],
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
        entities = [{"station_id": f"s{i}"} for i in range(100)]
        keys = [{"pk": {"S": f"station_id=s{i}"}, "sk": {"S": "daily_weather#v1"}} for i in range(100)]

        def ours() -> float:
            start = time.perf_counter()
            online.read(view, entities)
            return time.perf_counter() - start

        def raw() -> float:
            start = time.perf_counter()
            ddb.batch_get_item(RequestItems={"online": {"Keys": keys}})
            return time.perf_counter() - start

        base = _median(raw, max(repeats, 5))
        seconds = _median(ours, max(repeats, 5))
        print(
            f"online read of 100 entities on moto: {seconds * 1000:.1f} ms "
            f"({seconds * 10:.2f} ms/entity); raw BatchGetItem {base * 1000:.1f} ms; "
            f"code-path overhead {(seconds - base) * 10:.3f} ms/entity ({seconds / base:.2f}x)"
        )


def bench_materialization_memory() -> None:
    import numpy as np
    import pandas as pd

    from benchmarks.common import demo_project

    catalog = demo_project()

    n = _env("BENCH_FS_MATERIALIZE_ROWS", 10_000)
    view = catalog.feature_view("daily_weather", 1)
    chunk = 2_000
    print(f"materialization peak Python memory (tracemalloc; S3 on moto, DynamoDB a dict), chunk_rows={chunk}:")
    for size in (n, n * 10):
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


class _LatestItems:
    """The two DynamoDB calls materialization makes, over a dict (one item per key, as in DynamoDB)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, *, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item
        return {}

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get((Key["pk"]["S"], Key["sk"]["S"]))
        return {} if item is None else {"Item": item}


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
    bench_online_reads(repeats)
    bench_ingestion(repeats)
    bench_materialization_memory()
    bench_point_in_time(repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
