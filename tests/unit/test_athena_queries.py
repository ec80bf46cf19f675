"""Athena queries: a failed, cancelled or timed-out query is an error naming the query and the reason; the
engine rule; the threshold override."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from functions.feature_store.athena import AthenaQueries, AthenaQueryError
from functions.feature_store.join_engine import JoinEngine, join_engine
from functions.shared.errors import DataValidationError
from functions.training.training_sets import athena_threshold_override


class Clock:
    """A clock that moves only when the poll loop sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def queries(states: list[dict[str, str]], *, stop: bool = False) -> tuple[AthenaQueries, Stubber]:
    athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(athena)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    for status in states:
        stub.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}},
            {"QueryExecutionId": "q-1"},
        )
    if stop:
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
    stub.activate()
    clock = Clock()
    runner = AthenaQueries(
        athena,
        None,
        workgroup="wg",
        database="db",
        results="s3://results/training-sets/",
        timeout_s=3,
        poll_s=1,
        sleep=clock.sleep,
        clock=clock,
    )
    return runner, stub


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND: x"}, "Athena query q-1 failed: TABLE_NOT_FOUND: x"),
        ({"State": "CANCELLED", "StateChangeReason": "Bytes scanned limit was exceeded"}, "q-1 was cancelled: Bytes"),
    ],
)
def test_a_failed_or_cancelled_query_is_an_error_with_athenas_reason(status: dict[str, str], message: str) -> None:
    runner, stub = queries([{"State": "QUEUED"}, status])
    with pytest.raises(AthenaQueryError, match=message):
        runner.unload("SELECT 1")
    stub.assert_no_pending_responses()


def test_a_query_past_its_timeout_is_stopped_and_reported() -> None:
    runner, stub = queries([{"State": "RUNNING"}] * 4, stop=True)
    with pytest.raises(AthenaQueryError, match="q-1 did not finish within 3 s \\(it was RUNNING\\); stopped it"):
        runner.unload("SELECT 1")
    stub.assert_no_pending_responses()


def test_a_query_longer_than_athena_accepts_is_refused_before_it_starts() -> None:
    runner, _ = queries([])
    with pytest.raises(AthenaQueryError, match="past Athena's 262144-byte limit"):
        runner.unload("SELECT '" + "x" * 262_144 + "'")


def test_the_join_runs_on_athena_from_the_threshold_on_and_never_without_one() -> None:
    assert join_engine(999, 1000) is JoinEngine.PANDAS
    assert join_engine(1000, 1000) is JoinEngine.ATHENA
    assert join_engine(10**9, None) is JoinEngine.PANDAS
    assert athena_threshold_override({"athena_threshold_rows": 5}) == 5 and athena_threshold_override(None) is None
    with pytest.raises(DataValidationError, match="must be a positive integer"):
        athena_threshold_override({"athena_threshold_rows": "many"})
