"""Registry operations on moto's DynamoDB at several registry sizes, against a bare put_item / get_item floor
measured on the same table in the same run.

Sizes: BENCH_REGISTRY_VERSIONS=30,100,300 (approved versions of one model), BENCH_REGISTRY_ROUNDS=20 (timed
calls per operation and size; ``latest``, which lists every version, gets a quarter of them). moto's own cost
per request grows with the table (a transaction copies it), which is what keeps the sizes this small.

Absolute numbers are moto's, not DynamoDB's: moto answers a query by walking the partition, so an operation
that queries grows with the registry here where DynamoDB's would not. The ratios to the floor show how many
round trips and how much serialization each operation costs relative to the simplest request.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.common import summary
from benchmarks.results import growth, row, write_comparison
from functions.registry.model_registry import ModelRegistry

VERSIONS = [int(n) for n in os.environ.get("BENCH_REGISTRY_VERSIONS", "30,100,300").split(",")]
ROUNDS = int(os.environ.get("BENCH_REGISTRY_ROUNDS", "20"))
COMMAND = "make bench (python -m benchmarks.bench_registry)"
WRITES = {"register": "register (counter + conditional put)", "move_alias": "move_alias (3-item transaction)"}
READS = {
    "resolve_alias": "resolve_alias (2 gets)",
    "history_at": "history_at (query, limit 1, + get)",
    "latest": "latest (lists every version)",
}


def _seconds(action: Callable[[int], object], rounds: int) -> list[float]:
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        action(i)
        samples.append(time.perf_counter() - started)
    return samples


def _register(registry: ModelRegistry, i: int) -> int:
    return registry.register(
        model_name="bench", artifact_uri=f"s3://b/{i}", artifact_sha256="ab" * 32, metrics={"accuracy": 0.7},
        params={"n": 100}, signature={"features": []}, training_data_uri="s3://b/d",
        training_data_sha256="cd" * 32, run_id=f"run-{i}",
    ).version  # fmt: skip


def measure(versions: int, rounds: int) -> dict[str, list[float]]:
    """Each operation's seconds on a fresh table holding ``versions`` approved versions."""
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="registry",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        registry = ModelRegistry(ddb, "registry")
        started = time.perf_counter()
        for i in range(versions):
            version = _register(registry, i)
            registry.approve("bench", version, by="bench", reason="benchmark")
        registry.move_alias("bench", "champion", versions, by="bench", reason="bench")
        print(f"  {versions:,} versions filled in {time.perf_counter() - started:.1f} s")
        # The new versions the write rounds add; approved up front so move_alias times the move alone.
        extra = [_register(registry, versions + i) for i in range(rounds)]
        for version in extra:
            registry.approve("bench", version, by="bench", reason="benchmark")
        now = datetime.now(UTC)
        found = {
            "put_item": _seconds(
                lambda i: ddb.put_item(TableName="registry", Item={"pk": {"S": "BASE"}, "sk": {"S": f"{i:010d}"}}),
                rounds,
            ),
            "get_item": _seconds(
                lambda i: ddb.get_item(TableName="registry", Key={"pk": {"S": "BASE"}, "sk": {"S": f"{i:010d}"}}),
                rounds,
            ),
            "register": _seconds(lambda i: _register(registry, versions + rounds + i), rounds),
            "move_alias": _seconds(
                lambda i: registry.move_alias("bench", "champion", extra[i], by="bench", reason="bench"), rounds
            ),
            "resolve_alias": _seconds(lambda i: registry.resolve_alias("bench", "champion"), rounds),
            "history_at": _seconds(lambda i: registry.history_at("bench", "champion", now), rounds),
            "latest": _seconds(lambda i: registry.latest("bench"), max(rounds // 4, 3)),
        }
    for name, samples in found.items():
        print(f"  {name:<14} median {statistics.median(samples) * 1e3:8.3f} ms")
    return found


def main() -> int:
    print(f"registry on moto: versions {VERSIONS}, {ROUNDS} rounds per operation")
    measured = []
    for versions in VERSIONS:
        measured.append(measure(versions, ROUNDS))

    def points(op: str, floor: str) -> list[dict[str, Any]]:
        return [
            {
                "size": f"{versions:,}",
                "x": versions,
                "ours": summary(found[op]),
                "peers": {f"bare {floor} (floor)": summary(found[floor])},
            }
            for versions, found in zip(VERSIONS, measured, strict=True)
        ]

    largest = VERSIONS[-1]
    operations = {**{k: (v, "put_item") for k, v in WRITES.items()}, **{k: (v, "get_item") for k, v in READS.items()}}
    write_comparison(
        "registry",
        title="Registry operations (DynamoDB on moto)",
        command=COMMAND,
        peer="no peer: a bare put_item / get_item on the same table (floor)",
        sizes={"versions": ",".join(map(str, VERSIONS)), "rounds": ROUNDS},
        rows=[
            row(
                f"{label}, {largest:,} versions",
                measured[-1][op],
                None,
                peer_missing="no peer: our own time (the floor is in the growth table)",
            )
            for op, (label, _) in operations.items()
        ],
        notes=[
            "One model with N approved versions on a fresh moto table per size, in the benchmark's process "
            "(the timed move_alias rounds then add their moves to the alias history); ratio = floor / ours, "
            "so below 1 is the cost over one bare request.",
            "moto walks the partition to answer a query and copies the table for a transaction, so history_at, "
            "latest and move_alias grow with N here; on DynamoDB history_at reads one item (Limit 1 on the sort "
            "key), move_alias writes three, and only latest, which lists every version by design, grows with N.",
        ],
        growth=[
            growth(label, "versions in the registry", points(op, floor)) for op, (label, floor) in operations.items()
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
