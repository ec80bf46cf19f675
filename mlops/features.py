"""`mlops features ...`: ingest raw data, read online features, build training sets.

Two targets, the same adapters and core code either way:

- local (default): a feature store kept in a directory (``--store``, default
  ``.mlops/features``). Each command starts moto in-process, loads the
  directory into an S3 bucket and a DynamoDB table, runs, and writes them
  back, so state persists between commands. Ingest runs the pipeline's steps
  (validate, transform, write offline, materialize) in-process, in order.
- AWS (``--stack NAME``): the deployed stack's bucket and table, found from
  its CloudFormation outputs with your AWS credentials. Ingest uploads the
  file under ``raw/features/<source>/`` in the data bucket; the S3 event
  starts the deployed feature pipeline (Step Functions), which does the work.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from functions.feature_store.batches import (
    BatchStaging,
    reconcile_batch,
    summarize_writes,
    validate_partition,
    write_partition,
)
from functions.feature_store.definitions import EVENT_TIMESTAMP, FeatureView
from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.online_store import OnlineStore
from functions.feature_store.partitions import is_partition_file
from functions.feature_store.point_in_time import to_utc
from functions.feature_store.steps import materialize_views, transform, validate_file, write_offline
from functions.feature_store.training_sets import build_training_set
from functions.project import Project
from functions.shared.errors import DataValidationError
from functions.shared.objects import ObjectStore
from functions.shared.settings import (
    BATCH_MARKER,
    ONLINE_TTL_ATTRIBUTE,
    RAW_FEATURE_BATCHES_PREFIX,
    RAW_FEATURES_PREFIX,
)

DEFAULT_STORE = Path(".mlops/features")
_LOCAL_BUCKET, _LOCAL_TABLE, _REGION = "local-feature-offline", "local-feature-online", "us-east-1"


@dataclass
class Target:
    offline: OfflineStore
    online: OnlineStore
    description: str
    data_bucket: str | None = None


@contextmanager
def local_store(directory: Path) -> Iterator[Target]:
    """A feature store in ``directory``, served through moto for the duration of a command."""
    import boto3
    from moto import mock_aws

    credentials = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": _REGION}
    with mock.patch.dict(os.environ, credentials), mock_aws():
        s3, ddb = boto3.client("s3", region_name=_REGION), boto3.client("dynamodb", region_name=_REGION)
        s3.create_bucket(Bucket=_LOCAL_BUCKET)
        ddb.create_table(
            TableName=_LOCAL_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.update_time_to_live(
            TableName=_LOCAL_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": ONLINE_TTL_ATTRIBUTE}
        )
        offline_dir, online_file = directory / "offline", directory / "online.jsonl"
        existing: set[str] = set()
        if offline_dir.is_dir():
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.s3.models import s3_backends

            # Straight into moto's backend: thousands of small daily files load in
            # a moment this way, where one PutObject call each would take seconds.
            backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
            for path in sorted(p for p in offline_dir.rglob("*") if p.is_file()):
                key = path.relative_to(offline_dir).as_posix()
                backend.put_object(_LOCAL_BUCKET, key, path.read_bytes())
                existing.add(key)
        if online_file.is_file():
            for line in online_file.read_text().splitlines():
                ddb.put_item(TableName=_LOCAL_TABLE, Item=json.loads(line))
        yield Target(OfflineStore(s3, _LOCAL_BUCKET), OnlineStore(ddb, _LOCAL_TABLE), f"local store {directory}")
        # Written back only when the command succeeded: a failed command leaves the store as it was.
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=_LOCAL_BUCKET):
            for entry in page.get("Contents", []):
                if entry["Key"] in existing:
                    continue  # the offline store is append-only: a key once written never changes
                path = offline_dir / entry["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=_LOCAL_BUCKET, Key=entry["Key"])["Body"].read())
        lines = [
            json.dumps(item, sort_keys=True)
            for page in ddb.get_paginator("scan").paginate(TableName=_LOCAL_TABLE)
            for item in page["Items"]
        ]
        online_file.parent.mkdir(parents=True, exist_ok=True)
        online_file.write_text("".join(f"{line}\n" for line in lines))


@contextmanager
def aws_stack(stack: str) -> Iterator[Target]:
    """The deployed stack's feature store, from its CloudFormation outputs."""
    import boto3

    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    }
    needed = ("FeatureOfflineBucketName", "FeatureOnlineTableName", "DataBucketName")
    missing = [k for k in needed if k not in outputs]
    if missing:
        raise SystemExit(f"stack {stack} has no outputs {missing}: is it a feature-store stack of this toolkit?")
    yield Target(
        OfflineStore(boto3.client("s3"), outputs["FeatureOfflineBucketName"]),
        OnlineStore(boto3.client("dynamodb"), outputs["FeatureOnlineTableName"]),
        f"stack {stack}",
        data_bucket=outputs["DataBucketName"],
    )


def target(store: Path, stack: str | None) -> Any:
    return aws_stack(stack) if stack else local_store(store)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def ingest(
    path: Path,
    *,
    project: Project,
    source: str,
    store: Path,
    stack: str | None,
    max_bad_row_fraction: float,
    chunk_rows: int,
    console: Console,
) -> int:
    if path.is_dir():
        return ingest_batch(
            path,
            project=project,
            source=source,
            store=store,
            stack=stack,
            max_bad_row_fraction=max_bad_row_fraction,
            chunk_rows=chunk_rows,
            console=console,
        )
    data = path.read_bytes()
    spec = project.raw_source(source)
    with target(store, stack) as where:
        if stack:
            assert where.data_bucket is not None
            key = f"{RAW_FEATURES_PREFIX}{spec.name}/{path.name}"
            import boto3

            boto3.client("s3").put_object(Bucket=where.data_bucket, Key=key, Body=data)
            console.print(f"uploaded to s3://{where.data_bucket}/{key}; the S3 event starts the feature pipeline")
            console.print("follow it in the Step Functions console (state machine output FeatureStateMachineArn)")
            return 0
        run_id = f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        views = project.views_of_source(spec.name)
        with _progress(console) as progress:
            step = progress.add_task("validate", total=1)
            checked = validate_file(
                where.offline,
                spec,
                data,
                name=path.name,
                source_uri=str(path),
                run_id=run_id,
                max_bad_row_fraction=max_bad_row_fraction,
            )
            progress.advance(step)
            task = progress.add_task("transform + offline", total=2)
            transformed = transform(views, checked.valid)
            progress.advance(task)
            writes = write_offline(
                where.offline,
                transformed,
                source_uri=str(path),
                source_sha256=checked.source_sha256,
                created=datetime.now(UTC),
                write_id=run_id,
            )
            progress.advance(task)
            _materialize_all(where, views, chunk_rows, progress)
        counts, quarantine = checked.counts, checked.quarantine_uri
        console.print(
            f"{counts['rows_in']} rows in = {counts['rows_valid']} stored + {counts['rows_quarantined']} quarantined"
            + (f" ({quarantine})" if quarantine else "")
        )
        for write in writes:
            state = "written" if write["written"] else "already ingested (same file sha256): nothing new stored"
            console.print(f"{write['view']}:v{write['version']}: {write['rows']} rows {state}")
        console.print(f"into {where.description}")
    return 0


def ingest_batch(
    folder: Path,
    *,
    project: Project,
    source: str,
    store: Path,
    stack: str | None,
    max_bad_row_fraction: float,
    chunk_rows: int,
    console: Console,
) -> int:
    """A directory of part files as one batch: the partitioned pipeline's steps, in-process, part by part."""
    spec = project.raw_source(source)
    parts = sorted(p for p in folder.iterdir() if p.is_file() and is_partition_file(p.name))
    if not parts:
        raise DataValidationError(f"no part files in {folder} (names starting with '_' or '.' are skipped)")
    with target(store, stack) as where:
        import boto3

        if stack:
            assert where.data_bucket is not None
            prefix = f"{RAW_FEATURE_BATCHES_PREFIX}{spec.name}/{folder.name}/"
            s3 = boto3.client("s3")
            for part in parts:
                s3.put_object(Bucket=where.data_bucket, Key=f"{prefix}{part.name}", Body=part.read_bytes())
            # Last: the marker's S3 event starts one partitioned run over the folder.
            s3.put_object(Bucket=where.data_bucket, Key=f"{prefix}{BATCH_MARKER}", Body=b"")
            console.print(f"uploaded {len(parts)} parts and {BATCH_MARKER} to s3://{where.data_bucket}/{prefix}")
            console.print("the marker's S3 event starts a partitioned feature pipeline run (FeatureStateMachineArn)")
            return 0
        run_id = f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        views = project.views_of_source(spec.name)
        objects = ObjectStore(boto3.client("s3", region_name=_REGION))
        staging = BatchStaging(objects, where.offline.bucket, run_id)
        with _progress(console) as progress:
            step = progress.add_task("validate parts", total=len(parts))
            for part in parts:
                validate_partition(
                    staging, objects, where.offline, source=spec, source_uri=str(part), data=part.read_bytes()
                )
                progress.advance(step)
            batch = reconcile_batch(
                staging,
                objects,
                where.offline,
                source=spec,
                views=views,
                source_prefix=str(folder),
                max_bad_row_fraction=max_bad_row_fraction,
            )
            step = progress.add_task("transform + offline", total=len(batch.plan))
            created = datetime.now(UTC)
            for planned in batch.plan:
                write_partition(
                    staging, objects, where.offline, partition=planned, views=views, source=spec, created=created
                )
                progress.advance(step)
            _materialize_all(where, views, chunk_rows, progress)
        writes = summarize_writes(staging, views)
        # Staged rows are a run's scratch space: not part of the store directory.
        for key in list(objects.keys(where.offline.bucket, staging.prefix)):
            where.offline.delete(key)
        counts = batch.counts
        console.print(
            f"{counts['rows_in']} rows in = {counts['rows_valid']} stored + {counts['rows_quarantined']} quarantined"
            f" ({len(parts)} parts; report quarantine/{spec.name}/{run_id}.json)"
        )
        for write in writes:
            console.print(
                f"{write['view']}:v{write['version']}: {write['rows']} rows; {write['written']} parts written, "
                f"{write['skipped']} already ingested (same file sha256)"
            )
        console.print(f"into {where.description}")
    return 0


def _materialize_all(where: Target, views: Sequence[FeatureView], chunk_rows: int, progress: Progress) -> None:
    """Materialize each view offline -> online, with a progress bar per view."""
    tasks = {v.qualified_name: progress.add_task(f"{v.qualified_name}: materialize", total=None) for v in views}

    def advance(view: FeatureView) -> Callable[[int], None]:
        return lambda n: progress.advance(tasks[view.qualified_name], n)

    materialize_views(views, where.offline, where.online, chunk_rows=chunk_rows, progress=advance)
    for task in tasks.values():
        progress.update(task, total=progress.tasks[task].completed)


def parse_entities(view: FeatureView, keys: Sequence[str]) -> list[dict[str, str]]:
    """``KEY`` arguments: ``k=v[,k2=v2]`` pairs, or a bare value when the view has one join key."""
    entities = []
    for text in keys:
        if "=" in text:
            pairs = dict(part.split("=", 1) for part in text.split(","))
        elif len(view.join_keys) == 1:
            pairs = {view.join_keys[0]: text}
        else:
            raise DataValidationError(f"{view.qualified_name} has join keys {list(view.join_keys)}: use k=v,k2=v2")
        entities.append(pairs)
    return entities


def get(
    view_ref: str,
    keys: Sequence[str],
    *,
    project: Project,
    features: Sequence[str] | None,
    as_of: str | None,
    store: Path,
    stack: str | None,
    console: Console,
) -> int:
    view = project.view_by_ref(view_ref)
    with target(store, stack) as where:
        online = where.online
        if as_of:
            moment = to_utc(pd.Series([as_of]), what="--as-of").iloc[0].to_pydatetime()
            online = online.with_clock(lambda: moment)
        results = online.read(view, parse_entities(view, keys), features=features)
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


def training_set(
    entities_path: Path,
    *,
    project: Project,
    views: Sequence[str],
    out: Path,
    strict: bool,
    full_feature_names: bool,
    store: Path,
    stack: str | None,
    console: Console,
) -> int:
    entities = pd.read_parquet(entities_path) if entities_path.suffix == ".parquet" else pd.read_csv(entities_path)
    if EVENT_TIMESTAMP not in entities.columns:
        raise DataValidationError(f"{entities_path}: no {EVENT_TIMESTAMP!r} column")
    chosen = [project.view_by_ref(v) for v in views]
    with target(store, stack) as where, _progress(console) as progress:
        task = progress.add_task("read partitions + point-in-time join", total=len(chosen))
        result, manifest = build_training_set(
            where.offline,
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
    console.print(f"from {len(manifest.files)} offline files of {', '.join(v.qualified_name for v in chosen)}")
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
