"""ML metadata store (C7) on DynamoDB: pipeline runs and their step runs.

Item layout (one table):
- ``pk=RUN#<run_id>, sk=RUN``: the run (pipeline, trigger, status, times, error);
  ``gsi1pk=PIPELINE#<name>, gsi1sk=<started_at>`` lists runs of a pipeline by time.
- ``pk=RUN#<run_id>, sk=STEP#<started_at>#<step>``: one step attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.adapters.dynamo_items import from_item, to_item
from functions.adapters.errors import storage_error
from functions.settings import RUNS_BY_PIPELINE_INDEX


@dataclass(frozen=True)
class StepRun:
    step: str
    status: str
    started_at: str
    ended_at: str
    duration_s: float
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class PipelineRun:
    run_id: str
    pipeline: str
    status: str
    started_at: str
    trigger: dict[str, Any]
    execution_arn: str
    ended_at: str | None = None
    error: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    steps: tuple[StepRun, ...] = ()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class MetadataStore:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def start_run(self, *, run_id: str, pipeline: str, execution_arn: str, trigger: dict[str, Any]) -> PipelineRun:
        """Create the run record; a retried start of the same run keeps the first."""
        started_at = now_iso()
        item = to_item(
            {
                "pk": f"RUN#{run_id}",
                "sk": "RUN",
                "gsi1pk": f"PIPELINE#{pipeline}",
                "gsi1sk": started_at,
                "run_id": run_id,
                "pipeline": pipeline,
                "status": "RUNNING",
                "started_at": started_at,
                "execution_arn": execution_arn,
                "trigger": trigger,
            }
        )
        try:
            self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise storage_error(exc, f"starting run {run_id}") from exc
        return self.get_run(run_id)

    def record_step(self, run_id: str, step: StepRun) -> None:
        item = to_item({"pk": f"RUN#{run_id}", "sk": f"STEP#{step.started_at}#{step.step}", **step.__dict__})
        try:
            self._ddb.put_item(TableName=self._table, Item=item)
        except ClientError as exc:
            raise storage_error(exc, f"recording step {step.step} of run {run_id}") from exc

    def finish_run(
        self, run_id: str, *, status: str, error: dict[str, Any] | None = None, summary: dict[str, Any] | None = None
    ) -> None:
        """Mark a RUNNING run as finished (with an optional summary, e.g. row counts); never rewritten."""
        values: dict[str, Any] = {":status": {"S": status}, ":ended": {"S": now_iso()}, ":running": {"S": "RUNNING"}}
        update = "SET #status = :status, ended_at = :ended"
        if error is not None:
            values[":error"] = to_item({"error": error})["error"]
            update += ", #error = :error"
        if summary is not None:
            values[":summary"] = to_item({"summary": summary})["summary"]
            update += ", summary = :summary"
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "RUN"}},
                UpdateExpression=update,
                ConditionExpression="#status = :running",
                ExpressionAttributeNames={"#status": "status", **({"#error": "error"} if error is not None else {})},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return
            raise storage_error(exc, f"finishing run {run_id}") from exc

    def get_run(self, run_id: str) -> PipelineRun:
        try:
            response = self._ddb.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc, f"reading run {run_id}") from exc
        run: dict[str, Any] | None = None
        steps: list[StepRun] = []
        for raw in response["Items"]:
            values = from_item(raw)
            sk = values.pop("sk")
            values.pop("pk")
            if sk == "RUN":
                run = values
            else:
                steps.append(StepRun(**values))
        if run is None:
            raise KeyError(f"no run {run_id!r}")
        run.pop("gsi1pk", None)
        run.pop("gsi1sk", None)
        return PipelineRun(**run, steps=tuple(sorted(steps, key=lambda s: s.started_at)))

    def list_runs(self, pipeline: str, *, limit: int = 20) -> list[PipelineRun]:
        try:
            response = self._ddb.query(
                TableName=self._table,
                IndexName=RUNS_BY_PIPELINE_INDEX,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"PIPELINE#{pipeline}"}},
                ScanIndexForward=False,
                Limit=limit,
            )
        except ClientError as exc:
            raise storage_error(exc, f"listing runs of {pipeline}") from exc
        return [self.get_run(from_item(item)["run_id"]) for item in response["Items"]]
