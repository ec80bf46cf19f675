"""Athena queries of the offline store: start one in the workgroup, wait for it, read what it unloaded.

A query runs in the stack's workgroup (its enforced configuration: results location, KMS encryption,
bytes-scanned cutoff). ``unload`` wraps a SELECT in ``UNLOAD ... WITH (format = 'PARQUET')`` so the rows
come back typed, under a fresh prefix of the results location. A query that fails, is cancelled or does not
finish in time is an ``AthenaQueryError`` naming the query and Athena's reason (a timed-out query is
stopped first); nothing is written by the caller then. The clients are passed in; ``configured`` builds
one from the function's environment, once.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from functions.feature_store.athena_join import (
    COMMITTED_FILES_PARTITION,
    COMMITTED_FILES_PREFIX,
    MAX_QUERY_BYTES,
    unload,
)
from functions.shared.errors import MlopsError
from functions.shared.objects import S3Uri

_ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaQueryError(MlopsError):
    """An Athena query failed, was cancelled or timed out (the message names the query and the reason)."""


@dataclass(frozen=True)
class UnloadedRows:
    frame: pd.DataFrame
    query_id: str
    scanned_bytes: int


class AthenaQueries:
    """Queries in one workgroup over one Glue database, results unloaded under ``results``."""

    def __init__(
        self,
        athena_client: Any,
        s3_client: Any,
        *,
        workgroup: str,
        database: str,
        results: str,
        timeout_s: float = 840.0,
        poll_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._athena, self._s3 = athena_client, s3_client
        self.workgroup, self.database = workgroup, database
        self._results = S3Uri.parse(results.rstrip("/") + "/")
        self._timeout_s, self._poll_s, self._sleep, self._clock = timeout_s, poll_s, sleep, clock

    def stage_files(self, uris: Sequence[str]) -> str:
        """The paths a query may read, as one Parquet file of the committed-files table; the query token."""
        token = uuid.uuid4().hex
        sink = io.BytesIO()
        pq.write_table(pa.table({"path": pa.array(sorted(set(uris)), pa.string())}), sink)
        key = f"{COMMITTED_FILES_PREFIX}{COMMITTED_FILES_PARTITION}={token}/files.parquet"
        try:
            self._s3.put_object(Bucket=self._results.bucket, Key=key, Body=sink.getvalue())
        except ClientError as exc:
            raise AthenaQueryError(
                f"staging the files of an Athena query at s3://{self._results.bucket}/{key}: "
                f"{exc.response.get('Error', {}).get('Code')}"
            ) from exc
        return token

    def unload(self, select: str) -> UnloadedRows:
        """``select``'s rows, typed (Parquet), and the query's id."""
        prefix = f"{self._results.key}{uuid.uuid4().hex}/"
        query = unload(select, f"s3://{self._results.bucket}/{prefix}")
        if len(query.encode()) > MAX_QUERY_BYTES:
            raise AthenaQueryError(
                f"the Athena query is {len(query.encode())} bytes, past Athena's {MAX_QUERY_BYTES}-byte limit"
            )
        query_id = self._start(query)
        scanned = self._wait(query_id)
        return UnloadedRows(self._read(prefix, query_id), query_id, scanned)

    def _start(self, query: str) -> str:
        try:
            response = self._athena.start_query_execution(
                QueryString=query,
                QueryExecutionContext={"Database": self.database},
                WorkGroup=self.workgroup,
                ClientRequestToken=uuid.uuid4().hex,
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AthenaQueryError(
                f"Athena refused the query in workgroup {self.workgroup}: {error.get('Code')}: {error.get('Message')}"
            ) from exc
        query_id: str = response["QueryExecutionId"]
        return query_id

    def _wait(self, query_id: str) -> int:
        deadline = self._clock() + self._timeout_s
        while True:
            execution = self._athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            status = execution["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
            if state in _ENDED:
                reason = status.get("StateChangeReason") or "no reason given"
                verb = "was cancelled" if state == "CANCELLED" else "failed"
                raise AthenaQueryError(f"Athena query {query_id} {verb}: {reason}")
            if self._clock() >= deadline:
                self._athena.stop_query_execution(QueryExecutionId=query_id)
                raise AthenaQueryError(
                    f"Athena query {query_id} did not finish within {self._timeout_s:g} s (it was {state}); stopped it"
                )
            self._sleep(self._poll_s)

    def _read(self, prefix: str, query_id: str) -> pd.DataFrame:
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._results.bucket, Prefix=prefix)
            keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
            tables = [
                pq.read_table(io.BytesIO(self._s3.get_object(Bucket=self._results.bucket, Key=key)["Body"].read()))
                for key in keys
                if not key.endswith(("-manifest.csv", ".metadata"))
            ]
        except ClientError as exc:
            raise AthenaQueryError(
                f"reading the results of Athena query {query_id} under s3://{self._results.bucket}/{prefix}: "
                f"{exc.response.get('Error', {}).get('Code')}"
            ) from exc
        if not tables:
            return pd.DataFrame()
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()


@dataclass(frozen=True)
class AthenaEngine:
    """Athena as a function's environment configures it, and the stage's threshold (feature rows)."""

    queries: AthenaQueries
    threshold_rows: int


@lru_cache(maxsize=1)
def configured() -> AthenaEngine | None:
    """The Athena of this function's environment (the stack sets it on the training-set builders), or None."""
    from functions.shared.clients import client
    from functions.shared.settings import AthenaSettings

    settings = AthenaSettings.from_env()
    if settings is None:
        return None
    queries = AthenaQueries(
        client("athena"),
        client("s3"),
        workgroup=settings.workgroup,
        database=settings.database,
        results=settings.results,
    )
    return AthenaEngine(queries, settings.threshold_rows)
