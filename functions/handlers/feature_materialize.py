"""Materialize: bring the online store up to date with each view's offline writes.

No ``action``: one invocation does every view (a single file's run). A batch's run does it in
shards through a Distributed Map: ``plan`` (take the views' leases, stage the shards), ``shard``
(one Map item), ``finish`` (move the watermarks, give the leases back).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.materialization import (
    SHARD_ROWS,
    Shard,
    ShardResult,
    finish_shards,
    materialize_shard,
    plan_shards,
)
from functions.feature_store.steps import materialize_views
from functions.handlers.feature_context import SETTINGS, metadata, offline, online, settings
from functions.handlers.step_tracking import tracked_step
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    steps = {None: materialize, "plan": plan, "shard": shard, "finish": finish}
    if event.get("action") not in steps:
        raise ValueError(f"unknown action {event.get('action')!r}; expected none or one of plan, shard, finish")
    return steps[event.get("action")](event, context)


def _views(event: dict[str, Any]) -> list[Any]:
    return [project().feature_view(entry["view"], entry["version"]) for entry in event["transformed"]["views"]]


@tracked_step("Materialize", metadata)
def materialize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The lease outlives this invocation by a minute at most after its last renewal.
    hold = timedelta(milliseconds=context.get_remaining_time_in_millis()) + timedelta(minutes=1)
    materialized = materialize_views(
        _views(event), offline(), online(), chunk_rows=settings().chunk_rows, owner=event["run_id"], lease_hold=hold
    )
    results = [asdict(r) for r in materialized]
    logger.info("materialized", extra={"views": results})
    return {"views": results}


@tracked_step("PlanMaterialization", metadata)
def plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The leases last the run's whole timeout (a failed run gives them back when it records the failure)."""
    run_id = event["run_id"]
    shards = plan_shards(
        _views(event),
        offline(),
        online(),
        owner=run_id,
        hold=timedelta(seconds=int(event["lease_seconds"])),
        shard_rows=SHARD_ROWS,
        max_shards=int(event["max_shards"]),
    )
    key = f"staging/{run_id}/materialize/plan.json"
    offline().put_json(key, [s.to_dict() for s in shards])
    logger.info("materialization planned", extra={"shards": len(shards)})
    return {"plan_bucket": offline().bucket, "plan_key": key, "shards": len(shards)}


@tracked_step("MaterializeShard", metadata)
def shard(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    item = Shard.from_dict(event["shard"])
    view = project().feature_view(item.view, item.version)
    result = materialize_shard(view, offline(), online(), item, chunk_rows=settings().chunk_rows)
    offline().put_json(_result_key(event["run_id"], item), result.to_dict())
    return {"view": view.qualified_name, "shard": item.shard, "written": result.written}


@tracked_step("FinishMaterialization", metadata)
def finish(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id = event["run_id"]
    shards = [Shard.from_dict(s) for s in offline().get_json(f"staging/{run_id}/materialize/plan.json") or []]
    reported = [offline().get_json(_result_key(run_id, s)) for s in shards]
    materialized = finish_shards(
        _views(event),
        online(),
        shards,
        [ShardResult.from_dict(r) for r in reported if r is not None],
        owner=run_id,
        hold=timedelta(minutes=1),
    )
    results = [asdict(r) for r in materialized]
    logger.info("materialized", extra={"views": results})
    return {"views": results}


def _result_key(run_id: str, item: Shard) -> str:
    return f"staging/{run_id}/materialize/{item.view}-v{item.version}-{item.shard:04d}.json"
