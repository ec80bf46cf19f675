"""Registry write paths on moto's DynamoDB: register (counter + conditional put) and move_alias
(one 3-item transaction), against a plain put_item baseline measured in the same run.

Absolute numbers are moto's, not DynamoDB's; the ratios show how many round trips and how much
serialization each operation costs relative to the simplest write.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import boto3
from moto import mock_aws

from functions.registry.model_registry import ModelRegistry

ROUNDS = 200


def _median_ms(action: Callable[[int], object], rounds: int = ROUNDS) -> float:
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        action(i)
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


def main() -> int:
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

        def baseline(i: int) -> object:
            return ddb.put_item(TableName="registry", Item={"pk": {"S": "BASE"}, "sk": {"S": f"{i:010d}"}})

        def register(i: int) -> int:
            return registry.register(
                model_name="bench", artifact_uri=f"s3://b/{i}", artifact_sha256="ab" * 32, metrics={"accuracy": 0.7},
                params={"n": 100}, signature={"features": []}, training_data_uri="s3://b/d",
                training_data_sha256="cd" * 32, run_id=f"run-{i}",
            ).version  # fmt: skip

        base_ms = _median_ms(baseline)
        register_ms = _median_ms(register)
        for version in range(1, ROUNDS + 1):
            registry.approve("bench", version, by="bench", reason="benchmark")
        move_ms = _median_ms(lambda i: registry.move_alias("bench", "champion", i + 1, by="bench", reason="bench"))
        resolve_ms = _median_ms(lambda i: registry.resolve_alias("bench", "champion"))
    print(f"rounds per operation: {ROUNDS} (moto, in-process)")
    print(f"put_item baseline     median {base_ms:7.3f} ms")
    for name, value in (("register", register_ms), ("move_alias", move_ms), ("resolve_alias", resolve_ms)):
        print(f"{name:<21} median {value:7.3f} ms  ({value / base_ms:4.1f}x baseline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
