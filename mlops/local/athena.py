"""Athena, locally: the workgroup's queries run on DuckDB over the offline store's files in moto's S3.

moto's Athena records queries and never runs them. Here ``StartQueryExecution`` runs the query when it is
started (so the first ``GetQueryExecution`` already sees it ended): the Glue tables it names are read from
moto's Glue catalog (columns, types, S3 location), their Parquet files are read from S3 *as the caller*
(local IAM decides, as Athena reads with the caller's credentials), each table becomes a DuckDB view with
Athena's hidden ``"$path"`` column and its partition column, and the statement runs:

- ``UNLOAD (SELECT ...) TO 's3://...' WITH (format = 'PARQUET')`` writes the rows as Parquet under that
  (empty) prefix, as the caller;
- a plain ``SELECT`` keeps its rows for ``GetQueryResults`` and writes them as CSV to the workgroup's
  results location.

The workgroup is enforced as Athena enforces it: its results location, and its bytes-scanned cutoff (the
bytes of the files the query reads; over it, the query fails with Athena's reason). A failed query is
``FAILED`` with ``Status.StateChangeReason``. Not emulated: Athena's own SQL dialect beyond what DuckDB
shares with it (the toolkit writes only that subset: functions/feature_store/athena_join.py), millisecond
timestamp precision, query queueing, result reuse, DDL.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from mlops.local import moto_patches
from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext

_UNLOAD = re.compile(
    r"^\s*UNLOAD\s*\((?P<select>.*)\)\s*TO\s*'(?P<location>[^']+)'\s*WITH\s*\((?P<options>.*)\)\s*$", re.S | re.I
)
_TABLE = re.compile(r'"((?:[^"]|"")+)"\."((?:[^"]|"")+)"')
_S3_URI = re.compile(r"^s3://([^/]+)/?(.*)$")
_DUCKDB_TYPES = {
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}
_PATH = "$path"


class QueryFailed(Exception):
    """A query Athena would fail, with the reason it would give."""


@dataclass(frozen=True)
class GlueTable:
    database: str
    name: str
    location: str
    columns: tuple[tuple[str, str], ...]  # (name, Glue type)
    partition_keys: tuple[str, ...]


def _split_uri(uri: str) -> tuple[str, str]:
    match = _S3_URI.match(uri)
    if match is None:
        raise QueryFailed(f"not an S3 location: {uri!r}")
    return match.group(1), match.group(2)


def register_table(connection: duckdb.DuckDBPyConnection, table: GlueTable, files: Sequence[tuple[str, bytes]]) -> int:
    """``table`` as a DuckDB view over ``files`` (``(s3 uri, Parquet bytes)``), typed as Glue declares it, with
    ``"$path"`` and the Hive partition columns taken from each file's key. Returns the bytes read."""
    parts, scanned = [], 0
    for uri, data in files:
        scanned += len(data)
        frame = pq.read_table(io.BytesIO(data))
        frame = frame.append_column(_PATH, pa.array([uri] * frame.num_rows, pa.string()))
        for key in table.partition_keys:
            match = re.search(rf"/{re.escape(key)}=([^/]+)/", uri)
            frame = frame.append_column(
                key, pa.array([match.group(1) if match else None] * frame.num_rows, pa.string())
            )
        parts.append(frame)
    internal = f"__files_{table.database}_{table.name}"
    casts = [
        f'CAST("{name}" AS {_DUCKDB_TYPES.get(glue_type, "VARCHAR")}) AS "{name}"' for name, glue_type in table.columns
    ]
    casts += [f'"{key}"' for key in table.partition_keys] + [f'"{_PATH}"']
    connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.database}"')
    if parts:
        connection.register(internal, pa.concat_tables(parts, promote_options="permissive"))
        source = internal
    else:
        empty = ", ".join(
            [f'CAST(NULL AS {_DUCKDB_TYPES.get(t, "VARCHAR")}) AS "{n}"' for n, t in table.columns]
            + [f'CAST(NULL AS VARCHAR) AS "{k}"' for k in (*table.partition_keys, _PATH)]
        )
        source = f"(SELECT {empty} WHERE FALSE)"
    connection.execute(
        f'CREATE OR REPLACE VIEW "{table.database}"."{table.name}" AS SELECT {", ".join(casts)} FROM {source}'
    )
    return scanned


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads timestamps as Athena does (UTC)."""
    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    return connection


@dataclass
class QueryRun:
    """What one local query did."""

    scanned_bytes: int = 0
    reason: str | None = None
    rows: list[dict[str, Any]] | None = None
    columns: list[dict[str, str]] | None = None
    output_location: str | None = None


class LocalAthena:
    """Runs the workgroup queries of one local cloud on DuckDB (installed by ``installed``)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.runs: dict[str, QueryRun] = {}

    @contextmanager
    def installed(self) -> Iterator[None]:
        athena = self

        def start_query_execution(backend: Any, **request: Any) -> str:
            # moto's responses call it with keywords (query, context, config, workgroup, execution_parameters)
            return athena._start_query_execution(backend, **request)

        def get_query_execution(responses: Any) -> str:
            return athena._get_query_execution(responses)

        with moto_patches.patched(
            {"athena.run_queries": start_query_execution, "athena.state_reason": get_query_execution}
        ):
            yield

    # -- the replacements ---------------------------------------------------------
    def _start_query_execution(self, backend: Any, **request: Any) -> str:
        start = moto_patches.original("athena.run_queries")
        execution_id: str = start(backend, **request)
        query, workgroup = request["query"], request["workgroup"]
        execution = backend.executions[execution_id]
        group = backend.work_groups.get(workgroup)
        settings = (group.configuration if group is not None else None) or {}
        run = QueryRun()
        self.runs[execution_id] = run
        try:
            self._run(query, run, settings=settings, execution=execution, execution_id=execution_id)
        except QueryFailed as exc:
            run.reason = str(exc)
        except duckdb.Error as exc:
            run.reason = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        execution.status = "FAILED" if run.reason else "SUCCEEDED"
        if run.rows is not None:
            from moto.athena.models import QueryResults

            backend.query_results[execution_id] = QueryResults(rows=run.rows, column_info=run.columns or [])
        return execution_id

    def _get_query_execution(self, responses: Any) -> str:
        body = json.loads(moto_patches.original("athena.state_reason")(responses))
        run = self.runs.get(body["QueryExecution"]["QueryExecutionId"])
        if run is not None:
            body["QueryExecution"]["Statistics"]["DataScannedInBytes"] = run.scanned_bytes
            if run.reason:
                body["QueryExecution"]["Status"]["StateChangeReason"] = run.reason
            if run.output_location:
                body["QueryExecution"]["ResultConfiguration"] = {"OutputLocation": run.output_location}
        return json.dumps(body)

    # -- running a query ------------------------------------------------------------
    def _run(self, query: str, run: QueryRun, *, settings: dict[str, Any], execution: Any, execution_id: str) -> None:
        unload = _UNLOAD.match(query)
        select = unload.group("select") if unload else query
        connection = duckdb_connection()
        try:
            s3, glue = boto3.client("s3", region_name=self.region), boto3.client("glue", region_name=self.region)
            for database, name in sorted(
                {(d.replace('""', '"'), t.replace('""', '"')) for d, t in _TABLE.findall(select)}
            ):
                table = _glue_table(glue, database, name)
                files = _table_files(s3, table, query)
                run.scanned_bytes += register_table(connection, table, files)
            cutoff = settings.get("BytesScannedCutoffPerQuery")
            if cutoff is not None and run.scanned_bytes > int(cutoff):
                raise QueryFailed(
                    f"Query cancelled! : Bytes scanned limit was exceeded. Limit: {cutoff}, scanned {run.scanned_bytes}"
                )
            result = connection.sql(select).to_arrow_table()
        finally:
            connection.close()
        if unload:
            if "parquet" not in unload.group("options").lower():
                raise QueryFailed("only UNLOAD ... WITH (format = 'PARQUET') is emulated")
            bucket, prefix = _split_uri(unload.group("location"))
            if _keys(s3, bucket, prefix):
                raise QueryFailed(
                    f"HIVE_PATH_ALREADY_EXISTS: Target directory for table already exists: {unload.group('location')}"
                )
            sink = io.BytesIO()
            pq.write_table(result, sink, compression="snappy")
            _put(s3, bucket, f"{prefix.rstrip('/')}/{uuid.uuid4().hex}.parquet", sink.getvalue())
            return
        columns = [
            {"Name": c, "Label": c, "Type": str(t)}
            for c, t in zip(result.column_names, result.schema.types, strict=True)
        ]
        records = result.to_pylist()
        header = {"Data": [{"VarCharValue": c} for c in result.column_names]}
        run.rows = [header] + [
            {"Data": [{} if r[c] is None else {"VarCharValue": str(r[c])} for c in result.column_names]}
            for r in records
        ]
        run.columns = columns
        location = ((settings.get("ResultConfiguration") or {}).get("OutputLocation") or "").rstrip("/")
        if location:
            text = io.StringIO()
            writer = csv.writer(text, quoting=csv.QUOTE_ALL)
            writer.writerow(result.column_names)
            writer.writerows([[r[c] for c in result.column_names] for r in records])
            bucket, prefix = _split_uri(f"{location}/{execution_id}.csv")
            _put(s3, bucket, prefix, text.getvalue().encode())
            run.output_location = f"{location}/{execution_id}.csv"


def _glue_table(glue: Any, database: str, name: str) -> GlueTable:
    try:
        table = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "EntityNotFoundException":
            raise QueryFailed(f"TABLE_NOT_FOUND: Table '{database}.{name}' does not exist") from exc
        raise QueryFailed(
            f"Insufficient permissions to execute the query: glue:GetTable on {database}.{name} was refused ({code})"
        ) from exc
    descriptor = table["StorageDescriptor"]
    return GlueTable(
        database,
        name,
        descriptor["Location"],
        tuple((c["Name"], c["Type"]) for c in descriptor.get("Columns", [])),
        tuple(k["Name"] for k in table.get("PartitionKeys", [])),
    )


def _table_files(s3: Any, table: GlueTable, query: str) -> list[tuple[str, bytes]]:
    """The table's Parquet files the query can read: those it names by ``"$path"``, else all under its location
    (a ``"$path" IN (SELECT ...)`` filter is applied by the query itself, after the scan, as in Athena)."""
    bucket, prefix = _split_uri(table.location)
    uris = [f"s3://{bucket}/{key}" for key in _keys(s3, bucket, prefix) if key.endswith(".parquet")]
    named = [uri for uri in uris if f"'{uri}'" in query]
    if named:  # the query lists this table's files by "$path": Athena reads only those
        uris = named
    files = []
    for uri in uris:
        _, key = _split_uri(uri)
        try:
            files.append((uri, s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        except ClientError as exc:
            raise QueryFailed(f"Permission denied on S3 path: {uri} ({exc.response['Error']['Code']})") from exc
    return files


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]
    except ClientError as exc:
        raise QueryFailed(
            f"Permission denied on S3 path: s3://{bucket}/{prefix} ({exc.response['Error']['Code']})"
        ) from exc


def _put(s3: Any, bucket: str, key: str, data: bytes) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    except ClientError as exc:
        raise QueryFailed(
            f"Access denied writing query results to s3://{bucket}/{key} ({exc.response['Error']['Code']})"
        ) from exc


# -- provisioning: the catalog and the workgroup -------------------------------------
def provisioners(context: ProvisioningContext) -> Provisioners:
    return {
        "AWS::Glue::Database": partial(_database, context),
        "AWS::Glue::Table": partial(_table, context),
        "AWS::Athena::WorkGroup": partial(_work_group, context),
    }


def _database(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    database = props["DatabaseInput"]
    context.client("glue").create_database(
        DatabaseInput={k: v for k, v in database.items() if k in ("Name", "Description")}
    )
    return PhysicalResource(database["Name"])


def _table(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    table = props["TableInput"]
    context.client("glue").create_table(DatabaseName=props["DatabaseName"], TableInput=table)
    return PhysicalResource(f"{props['DatabaseName']}|{table['Name']}")


def _work_group(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    configuration = props.get("WorkGroupConfiguration") or {}
    context.client("athena").create_work_group(
        Name=props["Name"], Description=props.get("Description", ""), Configuration=configuration
    )
    return PhysicalResource(props["Name"])
