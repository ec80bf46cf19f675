"""Feast's side of ``bench_vs_feast``; runs in ``.venv-bench-feast`` (no product imports).

    python peer_feast.py pit <dir> <repeats> <ttl_days>     -> times get_historical_features, writes <dir>/feast.parquet
    python peer_feast.py online <entities,...> <features> <repeats,...>  -> times get_online_features on moto
        DynamoDB, reading the first N of max(entities) written entities for each N

Prints one JSON line: {"version": ..., "seconds": [...], ...}.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import feast
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.types import Float64

VIEWS = {"view_a": ["a1", "a2"], "view_b": ["b1", "b2"]}


def _store(repo: Path, online: dict[str, str]) -> FeatureStore:
    config = RepoConfig(
        project="bench",
        registry=str(repo / "registry.db"),
        provider="local",
        offline_store={"type": "file"},
        online_store=online,
        entity_key_serialization_version=3,
        repo_path=str(repo),
    )
    return FeatureStore(config=config)


def pit(where: Path, repeats: int, ttl_days: int) -> dict[str, object]:
    entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.STRING)
    views = [
        FeatureView(
            name=name,
            entities=[entity],
            ttl=timedelta(days=ttl_days),
            schema=[Field(name=f, dtype=Float64) for f in features],
            source=FileSource(
                path=str(where / f"{name}.parquet"),
                timestamp_field="event_timestamp",
                created_timestamp_column="created_timestamp",
            ),
            online=False,
        )
        for name, features in VIEWS.items()
    ]
    with tempfile.TemporaryDirectory() as repo:
        store = _store(Path(repo), {"type": "sqlite", "path": str(Path(repo) / "online.db")})
        store.apply([entity, *views])
        refs = [f"{name}:{f}" for name, features in VIEWS.items() for f in features]
        seconds, out = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            entities = pd.read_parquet(where / "entities.parquet")
            out = store.get_historical_features(entity_df=entities, features=refs).to_df()
            seconds.append(time.perf_counter() - started)
    assert out is not None
    out.to_parquet(where / "feast.parquet")
    return {"version": feast.__version__, "seconds": seconds, "rows": len(out)}


def online(counts: list[int], n_features: int, repeats: list[int]) -> dict[str, object]:
    from moto import mock_aws

    n_entities = max(counts)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    names = [f"f{i}" for i in range(n_features)]
    now = pd.Timestamp.now(tz="UTC").floor("s")
    rows = pd.DataFrame(
        {
            "entity_id": [f"e{i}" for i in range(n_entities)],
            "event_timestamp": now,
            "created_timestamp": now,
            **{n: [float(i + j) for i in range(n_entities)] for j, n in enumerate(names)},
        }
    )
    with mock_aws(), tempfile.TemporaryDirectory() as repo:
        path = Path(repo) / "rows.parquet"
        rows.to_parquet(path)
        entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.STRING)
        view = FeatureView(
            name="wide",
            entities=[entity],
            ttl=timedelta(days=30),
            schema=[Field(name=n, dtype=Float64) for n in names],
            source=FileSource(path=str(path), timestamp_field="event_timestamp"),
            online=True,
        )
        store = _store(Path(repo), {"type": "dynamodb", "region": "us-east-1"})
        store.apply([entity, view])
        store.write_to_online_store("wide", rows)
        refs = [f"wide:{n}" for n in names]
        seconds: dict[int, list[float]] = {}
        for count, times in zip(counts, repeats, strict=True):
            entity_rows = [{"entity_id": f"e{i}"} for i in range(count)]
            first = store.get_online_features(features=refs, entity_rows=entity_rows).to_dict()
            assert first["f0"] == [float(i) for i in range(count)], "Feast read back other values"
            seconds[count] = []
            for _ in range(times):
                started = time.perf_counter()
                store.get_online_features(features=refs, entity_rows=entity_rows).to_dict()
                seconds[count].append(time.perf_counter() - started)
    return {"version": feast.__version__, "seconds": seconds}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "pit":
        result = pit(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        result = online(
            [int(n) for n in sys.argv[2].split(",")], int(sys.argv[3]), [int(n) for n in sys.argv[4].split(",")]
        )
    print(json.dumps(result))
