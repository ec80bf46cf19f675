"""`mlops features ...`: ingest raw data, read online features, build training sets.

One path for both targets (``--stage S``, the deployed stack; ``--local``, the running local cloud):

- ingest lands the file under ``raw/features/<source>/`` in the data bucket (a directory of part files
  under ``raw/feature-batches/<source>/<name>/``, then its ``_SUCCESS`` marker); the S3 event starts the
  feature pipeline, whose Lambdas validate, quarantine, transform, store offline and materialize. On the
  local cloud the command waits for that execution and prints its counts, and the rows it quarantined
  with their reasons (kept in the offline bucket under ``quarantine/<source>/<run>``); on AWS it says
  where to follow the run.
- get and training-set read the stack's online table and offline bucket with the same adapters the
  Lambdas use (``OnlineStore``, ``OfflineStore``), through the target's clients.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from functions.feature_store.definitions import EVENT_TIMESTAMP, FeatureView
from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.online_store import OnlineStore
from functions.feature_store.partitions import is_partition_file
from functions.feature_store.point_in_time import to_utc
from functions.feature_store.training_sets import build_training_set
from functions.project import Project, load_project
from functions.shared.errors import DataValidationError
from functions.shared.objects import S3Uri
from functions.shared.settings import BATCH_MARKER, RAW_FEATURE_BATCHES_PREFIX, RAW_FEATURES_PREFIX
from mlops import targets
from mlops.operator_output import error_message, show
from mlops.targets import Target, UsageError

# How many quarantined rows the CLI prints (all of them are in the quarantine file it names).
SHOWN_BAD_ROWS = 10
FEATURE_RUN_TIMEOUT_S = 900.0


def run_feature_command(args: argparse.Namespace) -> int:
    from mlops.operator_output import console as wide_console

    console = wide_console()
    if args.features_command == "views":
        console.print_json(json.dumps(describe_views(load_project(args.project))))
        return 0
    # The input is read before the target is reached: a corrupt file is refused before any connection.
    entities = read_entities(args.entities) if args.features_command == "training-set" else None
    target = targets.resolve(args)
    project = load_project(targets.project_of(target, args.project))
    if args.features_command == "ingest":
        return ingest(args.path, project=project, source=_source(project, args.source), target=target, console=console)
    if args.features_command == "get":
        features = args.features.split(",") if args.features else None
        return get(args.view, args.keys, project=project, features=features, as_of=args.as_of, target=target,
                   console=console)  # fmt: skip
    assert entities is not None
    return training_set(
        entities,
        project=project,
        views=args.views.split(","),
        out=args.out,
        strict=args.strict,
        full_feature_names=args.full_feature_names,
        target=target,
        console=console,
    )


def _source(project: Project, source: str | None) -> str:
    names = [s.name for s in project.sources]
    if source is None:
        if len(names) != 1:
            raise UsageError(f"project {project.name!r} has several raw sources ({', '.join(names)}): pass --source")
        return names[0]
    if source not in names:
        raise UsageError(f"project {project.name!r} has no raw source {source!r} (sources: {', '.join(names)})")
    return source


def _stores(target: Target) -> tuple[OfflineStore, OnlineStore]:
    return (
        OfflineStore(target.clients("s3"), target.output("FeatureOfflineBucketName")),
        OnlineStore(target.clients("dynamodb"), target.output("FeatureOnlineTableName")),
    )


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


# -- ingest --------------------------------------------------------------------------------------------------------
def ingest(path: Path, *, project: Project, source: str, target: Target, console: Console) -> int:
    """Land a raw file (or a directory of part files) where its S3 event starts the feature pipeline."""
    spec = project.raw_source(source)
    bucket = target.output("DataBucketName")
    s3 = target.clients("s3")
    if path.is_dir():
        parts = sorted(p for p in path.iterdir() if p.is_file() and is_partition_file(p.name))
        if not parts:
            raise UsageError(f"no part files in {path} (names starting with '_' or '.' are skipped)")
        prefix = f"{RAW_FEATURE_BATCHES_PREFIX}{spec.name}/{path.name}/"
        key = f"{prefix}{BATCH_MARKER}"
        uploads = [(f"{prefix}{part.name}", part.read_bytes()) for part in parts]
        landed = f"{len(parts)} parts and {BATCH_MARKER} under s3://{bucket}/{prefix}"
    else:
        key = f"{RAW_FEATURES_PREFIX}{spec.name}/{path.name}"
        uploads = []
        landed = f"s3://{bucket}/{key}"
    sfn, machine = target.clients("stepfunctions"), target.output("FeatureStateMachineArn")
    before = {e["executionArn"] for e in _executions(sfn, machine)} if target.local else set()
    for part_key, body in uploads:
        s3.put_object(Bucket=bucket, Key=part_key, Body=body)
    # Last: the file itself (or the batch's marker) is what the S3 event starts the pipeline on.
    s3.put_object(Bucket=bucket, Key=key, Body=b"" if path.is_dir() else path.read_bytes())
    console.print(f"landed {landed}; its S3 event starts the feature pipeline")
    if target.local is None:
        console.print("follow it in the Step Functions console (state machine output FeatureStateMachineArn)")
        return 0
    execution = _started_by(sfn, machine, key, before)
    described = _wait(sfn, execution, console)
    return _report_run(target, spec.name, described, console)


def _executions(sfn: Any, machine: str) -> list[dict[str, Any]]:
    return [e for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
            for e in page["executions"]]  # fmt: skip


def _started_by(sfn: Any, machine: str, key: str, before: set[str], timeout_s: float = 60.0) -> str:
    """The new execution whose input names ``key`` (the S3 event's object)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for execution in _executions(sfn, machine):
            if execution["executionArn"] in before:
                continue
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if key in described.get("input", ""):
                return str(execution["executionArn"])
        time.sleep(0.2)
    raise TimeoutError(f"no feature pipeline execution started for {key} within {timeout_s:.0f} s")


def _wait(sfn: Any, execution: str, console: Console) -> dict[str, Any]:
    started = time.monotonic()
    console.print(f"waiting for feature pipeline execution {execution.rsplit(':', 1)[-1]}...")
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            console.print(f"execution {described['status']} after {time.monotonic() - started:.1f} s")
            return described
        if time.monotonic() - started > FEATURE_RUN_TIMEOUT_S:
            raise TimeoutError(f"{execution} still running after {FEATURE_RUN_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def _report_run(target: Target, source: str, described: dict[str, Any], console: Console) -> int:
    """What the run did: counts, writes, and the quarantined rows with their reasons (kept where it says)."""
    offline, _ = _stores(target)
    s3 = target.clients("s3")
    run = described["name"]
    report = _json_object(s3, offline.bucket, f"quarantine/{source}/{run}.json")
    if report is not None:
        console.print(f"{report['rows_in']} rows in = {report['rows_valid']} valid + "
                      f"{report['rows_quarantined']} quarantined (run {run})")  # fmt: skip
        quarantine = report.get("quarantine_uri")
        if quarantine:
            console.print(f"quarantined rows (with their reasons): {quarantine}")
            show(_bad_rows(s3, str(quarantine)), file=console.file)
    if described["status"] != "SUCCEEDED":
        cause = error_message(described.get("cause"))
        where = f"; report s3://{offline.bucket}/quarantine/{source}/{run}.json" if report is not None else ""
        message = f"the feature pipeline refused the file: {described.get('error')}: {cause}{where}"
        if described.get("error") == DataValidationError.__name__:
            raise DataValidationError(message)
        raise RuntimeError(message)
    output = json.loads(described.get("output") or "{}")
    for write in (output.get("offline") or {}).get("writes", []):
        if isinstance(write, dict) and "view" in write:
            state = "written" if write.get("written") else "already ingested (same file sha256): nothing new stored"
            console.print(f"{write['view']}:v{write.get('version')}: {write.get('rows')} rows {state}")
    console.print(f"stored into {target.description}; `mlops runs list --pipeline features --local` lists the runs")
    return 0


def _json_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError:
        return None
    value = json.loads(body)
    return value if isinstance(value, dict) else None


def _bad_rows(s3: Any, quarantine_uri: str) -> Table:
    """The first quarantined rows: line of the source file, reason, and the row's values as read."""
    uri = S3Uri.parse(quarantine_uri)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.key)
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".parquet"))
    frames = [pd.read_parquet(io.BytesIO(s3.get_object(Bucket=uri.bucket, Key=k)["Body"].read())) for k in keys]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    title = f"{min(len(rows), SHOWN_BAD_ROWS)} of {len(rows)} quarantined rows"
    shown = Table(box=None, header_style="bold", pad_edge=False, title=title, title_justify="left")
    for column in ("row", "reason", "values"):
        shown.add_column(column, overflow="fold")
    for record in rows.head(SHOWN_BAD_ROWS).to_dict(orient="records"):
        values = ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("source_row", "quarantine_reason"))
        shown.add_row(str(record.get("source_row", "")), str(record.get("quarantine_reason", "")), values)
    return shown


# -- reads ---------------------------------------------------------------------------------------------------------
def parse_entities(view: FeatureView, keys: Sequence[str]) -> list[dict[str, str]]:
    """``KEY`` arguments: ``k=v[,k2=v2]`` pairs, or a bare value when the view has one join key."""
    entities = []
    for text in keys:
        if "=" in text:
            pairs = dict(part.split("=", 1) for part in text.split(","))
        elif len(view.join_keys) == 1:
            pairs = {view.join_keys[0]: text}
        else:
            raise UsageError(f"{view.qualified_name} has join keys {list(view.join_keys)}: use k=v,k2=v2")
        entities.append(pairs)
    return entities


def get(
    view_ref: str,
    keys: Sequence[str],
    *,
    project: Project,
    features: Sequence[str] | None,
    as_of: str | None,
    target: Target,
    console: Console,
) -> int:
    view = project.view_by_ref(view_ref)
    unknown = sorted(set(features or ()) - set(view.feature_names))
    if unknown:
        raise UsageError(f"{view.qualified_name} has no feature(s) {', '.join(unknown)} (it has "
                         f"{', '.join(view.feature_names)})")  # fmt: skip
    entities = parse_entities(view, keys)
    _, online = _stores(target)
    if as_of:
        moment = to_utc(pd.Series([as_of]), what="--as-of").iloc[0].to_pydatetime()
        online = online.with_clock(lambda: moment)
    results = online.read(view, entities, features=features)
    table = Table("entity", "status", "event_timestamp", *(features or view.feature_names), box=None)
    for result in results:
        values = [
            ("" if result.features.get(n) is None else str(result.features.get(n)))
            for n in (features or view.feature_names)
        ]
        stamp = result.event_timestamp.isoformat() if result.event_timestamp else ""
        table.add_row(",".join(f"{k}={v}" for k, v in result.entity_key.items()), result.status.value, stamp, *values)
    console.print(table)
    return 0


def read_entities(path: Path) -> pd.DataFrame:
    """An entity file (Parquet or CSV); a corrupt one is a one-line ``DataValidationError``."""
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pyarrow and pandas raise many types for a file that is not what it says
        raise DataValidationError(f"{path}: cannot be read as {path.suffix.lstrip('.') or 'CSV'}: {exc}") from None


def training_set(
    entities: pd.DataFrame,
    *,
    project: Project,
    views: Sequence[str],
    out: Path,
    strict: bool,
    full_feature_names: bool,
    target: Target,
    console: Console,
) -> int:
    chosen = [project.view_by_ref(v) for v in views]
    if EVENT_TIMESTAMP not in entities.columns:
        raise DataValidationError(f"the entity file has no {EVENT_TIMESTAMP!r} column")
    offline, _ = _stores(target)
    with _progress(console) as progress:
        task = progress.add_task("read partitions + point-in-time join", total=len(chosen))
        result, manifest = build_training_set(
            offline,
            entities,
            chosen,
            strict=strict,
            full_feature_names=full_feature_names,
            progress=lambda _: progress.advance(task),
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(out, index=False)
    # The manifest names the bytes on disk.
    manifest = replace(manifest, output_sha256=hashlib.sha256(out.read_bytes()).hexdigest())
    manifest_path = out.with_suffix(".manifest.json")
    manifest_path.write_text(manifest.to_json())
    filled = {c: int(result[c].notna().sum()) for c in result.columns if c not in entities.columns}
    console.print(f"{len(result)} rows x {len(filled)} features -> {out} (manifest {manifest_path})")
    console.print("non-null per feature: " + ", ".join(f"{k}={v}" for k, v in filled.items()))
    read = sum(group.files for group in manifest.files)
    console.print(f"from {read} offline files of {', '.join(v.qualified_name for v in chosen)}")
    return 0


def describe_views(project: Project) -> list[dict[str, Any]]:
    return [
        {
            **{k: v for k, v in asdict(view).items() if k in ("name", "version", "source", "description")},
            "ttl": str(view.ttl),
            "rule": str(view.transformation),
            "features": view.feature_names,
        }
        for view in project.feature_views
    ]
