"""ML metadata store (C7) on DynamoDB: runs, step runs, params, metrics and lineage.

Item layout (one table):
- ``pk=RUN#<run_id>, sk=RUN``: the run (pipeline, trigger, status, times, error);
  ``gsi1pk=PIPELINE#<name>, gsi1sk=<started_at>`` lists runs of a pipeline by time
  (experiments are runs of the pipeline ``experiment``; the run's ``experiment`` attribute names which).
- ``pk=RUN#<run_id>, sk=STEP#<started_at>#<step>``: one step attempt (inputs, outputs, error).
- ``pk=RUN#<run_id>, sk=PARAM#<name>`` / ``sk=METRIC#<name>``: one param or metric of the run (a metric's
  latest value); ``sk=SERIES#<name>#<step>``: a metric logged at a step (the tracking API);
  ``sk=TAG#<name>``, ``sk=ARTIFACT#<name>`` (its S3 URI, sha256 and size): a tracked run's tags and files.
- ``pk=RUN#<run_id>, sk=TRIAL#<index>``: one trial of the run's hyperparameter search (params, validation
  metrics, status, duration, backend, error).
- ``pk=NODE#<id>, sk=NODE``: a lineage node (``kind``: feature_view, dataset, monitor_run, trigger,
  run, trial, model, alias_change, deployment) and its attributes; the first write of a node creates it,
  later facts are added with ``annotate`` (a node is never overwritten by an edge that names it);
- ``pk=NODE#<src>, sk=OUT#<dst>`` and ``pk=NODE#<dst>, sk=IN#<src>``: one lineage edge, written
  with both of its nodes in one transaction so the graph never has a dangling edge.

The lineage chain is: feature view -> training-set manifest (dataset) -> run; monitor run (its
drift report) -> trigger -> run; each trial of a search -> run (the chosen one marked); an experiment
run whose params a pipeline run trains -> that run; run -> model version -> alias change -> deployment -> the
rollback's alias change. ``lineage`` walks both ways from a model version; ``downstream`` walks
from any node (a feature view, a dataset) to the models that used it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws_errors import storage_error
from functions.shared.dynamo_items import from_item, query_all, to_item
from functions.shared.settings import RUNS_BY_PIPELINE_INDEX

_LIST_READERS = 8  # concurrent run reads of one listing page


@dataclass(frozen=True)
class StepRun:
    step: str
    status: str
    started_at: str
    ended_at: str
    duration_s: float
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a run's hyperparameter search."""

    trial: int
    status: str
    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    backend: str = "lambda"
    error: str | None = None


@dataclass(frozen=True)
class MetricPoint:
    step: int
    value: float
    logged_at: str


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
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    experiment: str | None = None
    trials: tuple[TrialRecord, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_history: dict[str, tuple[MetricPoint, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    """A lineage node: ``id`` is ``<kind>:<key>``."""

    id: str
    kind: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    relation: str


@dataclass(frozen=True)
class Lineage:
    """The chain around one model version: everything upstream of it and everything downstream."""

    root: str
    nodes: dict[str, Node]
    edges: tuple[Edge, ...]

    def of_kind(self, kind: str) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.kind == kind), key=lambda n: n.id)


def trigger_node(run_id: str, trigger: dict[str, Any]) -> Node:
    return Node(f"trigger:{run_id}", "trigger", dict(trigger))


def dataset_node(manifest_uri: str, manifest_sha256: str, **attributes: Any) -> Node:
    return Node(f"dataset:{manifest_sha256}", "dataset", {"manifest_uri": manifest_uri, **attributes})


def run_node(run_id: str, pipeline: str) -> Node:
    return Node(f"run:{run_id}", "run", {"run_id": run_id, "pipeline": pipeline})


def trial_node(run_id: str, trial: int, **attributes: Any) -> Node:
    return Node(f"trial:{run_id}:{trial}", "trial", {"run_id": run_id, "trial": trial, **attributes})


def model_node(model_name: str, version: int, **attributes: Any) -> Node:
    return Node(f"model:{model_name}:{version}", "model", {"model_name": model_name, "version": version, **attributes})


def alias_change_node(model_name: str, alias: str, change_id: str, **attributes: Any) -> Node:
    return Node(f"alias_change:{model_name}:{alias}:{change_id}", "alias_change", {"alias": alias, **attributes})


def deployment_node(deployment_id: str, **attributes: Any) -> Node:
    return Node(f"deployment:{deployment_id}", "deployment", dict(attributes))


def feature_view_node(name: str, version: int | None = None) -> Node:
    """A feature view (``version`` None: the view under every version, upstream of each ``name:vN``)."""
    if version is None:
        return Node(f"feature_view:{name}", "feature_view", {"name": name})
    return Node(f"feature_view:{name}:v{version}", "feature_view", {"name": name, "version": version})


def parse_view_ref(ref: str) -> tuple[str, int | None]:
    """``name`` or ``name:vN`` (as training-set manifests name views) into ``(name, N or None)``."""
    name, _, version = ref.partition(":")
    if not name or (version and not (version.startswith("v") and version[1:].isdigit())):
        raise ValueError(f"expected a feature view as NAME or NAME:vN, got {ref!r}")
    return name, int(version[1:]) if version else None


def monitor_run_node(model_name: str, run_id: str, **attributes: Any) -> Node:
    return Node(f"monitor_run:{model_name}:{run_id}", "monitor_run", {"model_name": model_name, "run_id": run_id,
                                                                      **attributes})  # fmt: skip


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


# A node's first write creates it; an edge naming it later keeps what it holds.
_CREATE_NODE = "SET #id = :id, #kind = :kind, #attributes = if_not_exists(#attributes, :attrs)"


class MetadataStore:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def start_run(
        self,
        *,
        run_id: str,
        pipeline: str,
        execution_arn: str,
        trigger: dict[str, Any],
        experiment: str | None = None,
    ) -> PipelineRun:
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
                "experiment": experiment,
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

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self._put_values(run_id, "PARAM", params)

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        self._put_values(run_id, "METRIC", metrics)

    def log_metric_at(self, run_id: str, name: str, value: float, step: int) -> None:
        """A metric at a training step (kept as a series), and as the run's latest value of it."""
        item = {"pk": f"RUN#{run_id}", "sk": f"SERIES#{name}#{step:012d}", "name": name, "step": step,
                "value": value, "logged_at": now_iso()}  # fmt: skip
        try:
            self._ddb.put_item(TableName=self._table, Item=to_item(item))
        except ClientError as exc:
            raise storage_error(exc, f"recording metric {name} of run {run_id}") from exc
        self.log_metrics(run_id, {name: value})

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._put_values(run_id, "TAG", {name: str(value) for name, value in tags.items()})

    def log_artifact(self, run_id: str, name: str, *, uri: str, sha256: str, size: int) -> None:
        self._put_values(run_id, "ARTIFACT", {name: {"uri": uri, "sha256": sha256, "size": size}})

    def _put_values(self, run_id: str, kind: str, values: dict[str, Any]) -> None:
        try:
            for name, value in values.items():
                item = to_item({"pk": f"RUN#{run_id}", "sk": f"{kind}#{name}", "name": name, "value": value})
                self._ddb.put_item(TableName=self._table, Item=item)
        except ClientError as exc:
            raise storage_error(exc, f"recording {kind.lower()}s of run {run_id}") from exc

    # -- trials of a search ------------------------------------------------------------
    def record_trial(self, run_id: str, trial: TrialRecord) -> None:
        """Write the trial's record (a retried or a finishing write of the same trial replaces it)."""
        item = to_item({"pk": f"RUN#{run_id}", "sk": f"TRIAL#{trial.trial:06d}", **trial.__dict__})
        try:
            self._ddb.put_item(TableName=self._table, Item=item)
        except ClientError as exc:
            raise storage_error(exc, f"recording trial {trial.trial} of run {run_id}") from exc

    def trial(self, run_id: str, index: int) -> TrialRecord | None:
        try:
            response = self._ddb.get_item(
                TableName=self._table,
                Key={"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": f"TRIAL#{index:06d}"}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc, f"reading trial {index} of run {run_id}") from exc
        return _trial_of(from_item(response["Item"])) if "Item" in response else None

    # -- lineage -------------------------------------------------------------------
    def add_edge(self, source: Node, target: Node, relation: str) -> None:
        """Record ``source -> target`` with both nodes, in one transaction (idempotent).

        A node that exists already keeps its attributes (``annotate`` adds to them): an edge written
        later with a bare ``model_node(name, version)`` never drops what Register recorded on it.
        """
        edge = {"source": source.id, "target": target.id, "relation": relation}
        nodes = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": f"NODE#{node.id}"}, "sk": {"S": "NODE"}},
                    "UpdateExpression": _CREATE_NODE,
                    "ExpressionAttributeNames": {"#id": "id", "#kind": "kind", "#attributes": "attributes"},
                    "ExpressionAttributeValues": {
                        ":id": {"S": node.id},
                        ":kind": {"S": node.kind},
                        ":attrs": to_item({"a": node.attributes})["a"],
                    },
                }
            }
            for node in (source, target)
        ]
        edges = [
            {"pk": f"NODE#{source.id}", "sk": f"OUT#{target.id}", **edge},
            {"pk": f"NODE#{target.id}", "sk": f"IN#{source.id}", **edge},
        ]
        try:
            self._ddb.transact_write_items(
                TransactItems=[*nodes, *({"Put": {"TableName": self._table, "Item": to_item(e)}} for e in edges)]
            )
        except ClientError as exc:
            raise storage_error(exc, f"recording lineage {source.id} -> {target.id}") from exc

    def annotate(self, node: Node) -> None:
        """Add ``node``'s attributes to the stored node (created if absent); attributes it names are replaced.

        An attribute whose value is None is not a fact: it is left out, as ``add_edge`` leaves it out.
        """
        facts = {key: value for key, value in node.attributes.items() if value is not None}
        names = {f"#a{i}": key for i, key in enumerate(facts)}
        values = {f":a{i}": to_item({"v": value})["v"] for i, value in enumerate(facts.values())}
        sets = ", ".join(f"#attributes.{name} = :{name[1:]}" for name in names)
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"NODE#{node.id}"}, "sk": {"S": "NODE"}},
                UpdateExpression="SET #id = :id, #kind = :kind" + (f", {sets}" if sets else ""),
                ConditionExpression="attribute_exists(#attributes)",
                ExpressionAttributeNames={"#id": "id", "#kind": "kind", "#attributes": "attributes", **names},
                ExpressionAttributeValues={":id": {"S": node.id}, ":kind": {"S": node.kind}, **values},
            )
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise storage_error(exc, f"annotating lineage node {node.id}") from exc
        item = {"pk": f"NODE#{node.id}", "sk": "NODE", "id": node.id, "kind": node.kind, "attributes": facts}
        try:  # absent: create it whole, unless a concurrent writer just did (then add to theirs)
            self._ddb.put_item(
                TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise storage_error(exc, f"recording lineage node {node.id}") from exc
            self.annotate(node)

    def link_feature_views(self, dataset_id: str) -> list[str]:
        """``feature_view:<name> -> feature_view:<name>:vN -> dataset`` for each view the dataset node names.

        So "which models used view X" is a downstream walk from the view (any version, or one).
        Idempotent; returns the views linked (none for a dataset read from a raw table).
        """
        refs = [str(ref) for ref in self.node(dataset_id).attributes.get("feature_views", [])]
        dataset = Node(dataset_id, "dataset")
        for ref in refs:
            name, version = parse_view_ref(ref)
            versioned = feature_view_node(name, version)
            if version is not None:
                self.add_edge(feature_view_node(name), versioned, "has_version")
            self.add_edge(versioned, dataset, "feeds")
        return refs

    def has_node(self, node_id: str) -> bool:
        return bool(self._node_items(node_id, "NODE"))

    def node(self, node_id: str) -> Node:
        items = self._node_items(node_id, "NODE")
        if not items:
            raise KeyError(f"no lineage node {node_id!r}")
        values = from_item(items[0])
        return Node(values["id"], values["kind"], values.get("attributes", {}))

    def _node_items(self, node_id: str, prefix: str) -> list[dict[str, Any]]:
        return query_all(
            self._ddb, f"reading lineage of {node_id}", TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"NODE#{node_id}"}, ":prefix": {"S": prefix}}, ConsistentRead=True,
        )  # fmt: skip

    def lineage(self, model_name: str, version: int) -> Lineage:
        """Everything upstream of the model version (run, data, views, trigger, monitor run) and downstream
        (alias changes, deployments, rollbacks)."""
        return self._walk(model_node(model_name, version).id, ("IN#", "OUT#"))

    def downstream(self, node_id: str) -> Lineage:
        """Everything that came from ``node_id`` (a feature view, a dataset): runs, the models they produced,
        their aliases and deployments. ``KeyError`` when no such node was recorded."""
        return self._walk(node_id, ("OUT#",))

    def _walk(self, root: str, directions: tuple[str, ...]) -> Lineage:
        nodes = {root: self.node(root)}
        edges: set[Edge] = set()
        for direction in directions:
            frontier = [root]
            while frontier:
                current = frontier.pop()
                for raw in self._node_items(current, direction):
                    values = from_item(raw)
                    edge = Edge(values["source"], values["target"], values["relation"])
                    edges.add(edge)
                    neighbour = edge.source if direction == "IN#" else edge.target
                    if neighbour not in nodes:
                        nodes[neighbour] = self.node(neighbour)
                        frontier.append(neighbour)
        return Lineage(root, nodes, tuple(sorted(edges, key=lambda e: (e.source, e.target))))

    def get_run(self, run_id: str) -> PipelineRun:
        # every page: a search's trials and a tracked run's series can pass 1 MB
        items = query_all(
            self._ddb, f"reading run {run_id}", TableName=self._table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}}, ConsistentRead=True,
        )  # fmt: skip
        run: dict[str, Any] | None = None
        steps: list[StepRun] = []
        params: dict[str, Any] = {}
        metrics: dict[str, float] = {}
        trials: list[TrialRecord] = []
        named: dict[str, dict[str, Any]] = {"TAG": {}, "ARTIFACT": {}}
        history: dict[str, list[MetricPoint]] = {}
        for raw in items:
            values = from_item(raw)
            sk = values.pop("sk")
            values.pop("pk")
            kind = sk.partition("#")[0]
            if sk == "RUN":
                run = values
            elif kind == "PARAM":  # a None value is stored without its attribute
                params[values["name"]] = values.get("value")
            elif kind == "METRIC":
                metrics[values["name"]] = values["value"]
            elif kind in named:
                named[kind][values["name"]] = values["value"]
            elif kind == "SERIES":
                history.setdefault(values["name"], []).append(
                    MetricPoint(values["step"], values["value"], values["logged_at"])
                )
            elif kind == "TRIAL":
                trials.append(_trial_of(values))
            else:
                steps.append(StepRun(**values))
        if run is None:
            raise KeyError(f"no run {run_id!r}")
        run.pop("gsi1pk", None)
        run.pop("gsi1sk", None)
        return PipelineRun(
            **run,
            steps=tuple(sorted(steps, key=lambda s: s.started_at)),
            params=params,
            metrics=metrics,
            trials=tuple(sorted(trials, key=lambda t: t.trial)),
            tags=named["TAG"],
            artifacts=named["ARTIFACT"],
            metric_history={name: tuple(sorted(points, key=lambda p: p.step)) for name, points in history.items()},
        )

    def list_runs(self, pipeline: str, *, limit: int = 20, experiment: str | None = None) -> list[PipelineRun]:
        """The newest runs of ``pipeline`` first; with ``experiment``, only the runs of that experiment."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": RUNS_BY_PIPELINE_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"PIPELINE#{pipeline}"}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        runs: list[PipelineRun] = []
        while len(runs) < limit:
            try:
                response = self._ddb.query(**kwargs)
            except ClientError as exc:
                raise storage_error(exc, f"listing runs of {pipeline}") from exc
            # A page's runs are read concurrently (a query each): a listing costs about one read, not one per run.
            run_ids = [from_item(item)["run_id"] for item in response["Items"]]
            with ThreadPoolExecutor(max_workers=min(_LIST_READERS, max(len(run_ids), 1))) as pool:
                page = list(pool.map(self.get_run, run_ids))
            runs.extend(run for run in page if experiment is None or run.experiment == experiment)
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return runs[:limit]


def _trial_of(values: dict[str, Any]) -> TrialRecord:
    values = {k: v for k, v in values.items() if k not in ("pk", "sk")}
    return TrialRecord(**values)
