"""The local cloud's partition-only table query (and its index query without the whole-table sort) returns what
moto's own returns, page by page."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

from mlops.local import moto_patches
from mlops.local.cloud import _query_partition

QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p3"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p3"}}, "ScanIndexForward": False},
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "p1"}, ":s": {"S": "EDGE#"}},
    },
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "p2"}, ":a": {"S": "EDGE#03"}, ":b": {"S": "EDGE#07"}},
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "absent"}}},
    {
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":p": {"S": "p4"}, ":n": {"N": "4"}},
    },
    {"IndexName": "by_n", "KeyConditionExpression": "n = :n", "ExpressionAttributeValues": {":n": {"N": "3"}}},
    {
        "IndexName": "by_n",
        "KeyConditionExpression": "n = :n",
        "ExpressionAttributeValues": {":n": {"N": "4"}},
        "ScanIndexForward": False,
    },
]


def _pages(ddb: Any, query: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Every page of ``query`` at 3 items a page (ExclusiveStartKey carried over)."""
    pages, start = [], None
    while True:
        response = ddb.query(TableName="t", Limit=3, **query, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(response["Items"])
        start = response.get("LastEvaluatedKey")
        if start is None:
            return pages


@mock_aws
def test_a_table_query_over_its_partition_only_gives_the_same_pages_as_moto_s() -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": t} for a, t in (("pk", "S"), ("sk", "S"), ("n", "N"))
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_n",
                "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for p in range(6):
        for s in range(10):
            sk = f"EDGE#{s:02d}" if s % 2 else f"NODE#{s:02d}"
            ddb.put_item(TableName="t", Item={"pk": {"S": f"p{p}"}, "sk": {"S": sk}, "n": {"N": str(s)}})
    moto_s = [_pages(ddb, q) for q in QUERIES]
    with moto_patches.patched({"dynamodb.query_partition": _query_partition}):
        ours = [_pages(ddb, q) for q in QUERIES]
    assert ours == moto_s
    assert [sum(map(len, pages)) for pages in ours] == [10, 10, 5, 3, 0, 5, 6, 6]
