"""The training pipeline's steps as plain typed functions (paper steps 18-23).

Each Lambda handler of the training pipeline (``functions/handlers/{build_training_set,
validate_data,split,tune,train,evaluate}.py``) and the Batch job wrap one of these; ``mlops
experiment run`` calls the same functions in order, so an experiment and the pipeline run
after it build, check, split, fit and gate the same way. Clients come in as adapters.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from functions.feature_store.definitions import ValueType
from functions.feature_store.offline_layout import needed_months
from functions.feature_store.offline_store import OfflineStore
from functions.metadata.metadata_store import MetadataStore, Node, now_iso, run_node, trial_node
from functions.project.definition import Project
from functions.registry.artifact import load_verified_model, serialize_model, sha256_hex
from functions.registry.model_registry import PENDING, REJECTED, ModelRegistry, ModelVersion
from functions.registry.model_store import load_registered_model
from functions.registry.serving_rule import SERVING_ALIAS
from functions.shared.aws_errors import storage_error
from functions.shared.errors import ConfigurationError, DataValidationError, InvalidRequestError, ModelNotFoundError
from functions.shared.objects import ObjectStore, S3Uri
from functions.training.backend_rule import CSV_EXPANSION, SizeEstimate, csv_rows, row_bytes
from functions.training.data_checks import check_drift, check_label_balance, dataset_stats, drift
from functions.training.dataset import validate_training_frame
from functions.training.fit import evaluate_model, time_based_split, train_model
from functions.training.gate import decide
from functions.training.model_spec import ModelSpec
from functions.training.retrain_rule import RetrainDecision, TrainedOn, retrain_decision
from functions.training.search import (
    SearchResult,
    Trial,
    TrialOutcome,
    check_training_request,
    choose_best,
    plan_trials,
    request_params,
    requested_search,
)
from functions.training.search_budget import check_search_rounds
from functions.training.training_sets import (
    StoredTrainingSet,
    instant,
    read_manifest,
    read_verified_parquet,
    store_training_set,
    training_source,
)

# Who rejects a candidate that fails the gate (Register records it so): a verdict on that data and code.
GATE_REJECTOR = "quality-gate"


@dataclass(frozen=True)
class DataLimits:
    """ValidateData's limits, from the stage config."""

    max_majority_share: float
    max_label_drift: float
    max_mean_shift: float


@dataclass(frozen=True)
class BuiltSet:
    stored: StoredTrainingSet
    origin: dict[str, Any]

    @property
    def feature_views(self) -> list[str]:
        """The views the set read: the model's, and its feedback view when feedback rows joined it."""
        views = [f"{v['name']}:v{v['version']}" for v in (self.origin.get("feature_store") or {}).get("views", [])]
        feedback = self.origin.get("feedback") or {}
        return [*views, feedback["view"]] if feedback.get("rows") else views


def build_training_set(
    objects: ObjectStore,
    offline: OfflineStore | None,
    project: Project,
    spec: ModelSpec,
    request: dict[str, Any],
    *,
    run_id: str,
    base: S3Uri,
) -> BuiltSet:
    """The run's training set from the request's source (feature store or table), stored with its manifest."""
    built = training_source(request, objects=objects, offline=offline, project=project).build(spec)
    stored = store_training_set(
        objects,
        built.frame,
        data_uri=S3Uri(base.bucket, f"{base.key}/training-set.parquet"),
        manifest_uri=S3Uri(base.bucket, f"{base.key}/training-set.manifest.json"),
        manifest={**built.origin, "model_spec": spec.name, "columns": list(built.frame.columns), "run_id": run_id},
    )
    return BuiltSet(stored, built.origin)


def champion_of(registry: ModelRegistry, model: str) -> ModelVersion | None:
    try:
        return registry.resolve_alias(model, SERVING_ALIAS)
    except ModelNotFoundError:
        return None


def decide_retrain(
    registry: ModelRegistry, spec: ModelSpec, stored: StoredTrainingSet, code_version: dict[str, str]
) -> RetrainDecision:
    """Whether this run's training set and code differ from what the champion (or the newest verdict) had."""
    champion = champion_of(registry, spec.name)
    versions = sorted(registry.list_versions(spec.name), key=lambda v: v.version)
    newest = versions[-1] if versions and (champion is None or versions[-1].version != champion.version) else None
    standing = None
    if newest is not None and newest.approval_status == PENDING:
        standing = "pending approval"
    elif newest is not None and newest.approval_status == REJECTED and newest.approval_by == GATE_REJECTOR:
        standing = "rejected by the quality gate"
    return retrain_decision(
        data_sha256=stored.sha256,
        code_version=code_version,
        champion=TrainedOn(champion.version, champion.training_data_sha256, champion.code_version)
        if champion
        else None,
        newest=TrainedOn(newest.version, newest.training_data_sha256, newest.code_version, standing)
        if newest is not None and standing
        else None,
    )


def validate_data(
    objects: ObjectStore, registry: ModelRegistry, spec: ModelSpec, dataset: dict[str, Any], limits: DataLimits
) -> dict[str, Any]:
    """Schema, size, label balance, and drift against the champion's training set (refused above the limits)."""
    frame = validate_training_frame(read_verified_parquet(objects, dataset["uri"], dataset["sha256"]), spec)
    stats = dataset_stats(frame, spec)
    check_label_balance(stats, max_majority_share=limits.max_majority_share)
    result: dict[str, Any] = {"rows": stats["rows"], "label_shares": stats["label_shares"], "drift": None}
    champion = champion_of(registry, spec.name)
    if champion is not None and champion.manifest_uri:
        previous = read_manifest(objects, champion.manifest_uri, champion.manifest_sha256)
        previous_frame = validate_training_frame(
            read_verified_parquet(objects, previous["data_uri"], previous["data_sha256"]), spec
        )
        found = drift(stats, dataset_stats(previous_frame, spec))
        result["drift"] = {**found.as_dict(), "against_version": champion.version}
        check_drift(found, max_label_tvd=limits.max_label_drift, max_mean_shift=limits.max_mean_shift)
    return result


def split(
    objects: ObjectStore,
    spec: ModelSpec,
    dataset: dict[str, Any],
    *,
    base: S3Uri,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Time-based train/holdout split of the validated set, each part stored and hashed.

    Also what the run trains with, checked before anything is fitted: the request's ``params``
    (overrides of the definition's; ``{}`` when none), where they come from (``params_from``: a run
    id), and whether the run searches first (``tune``; see ``search.requested_search``).
    """
    request = request or {}
    check_training_request(spec, request)
    frame = validate_training_frame(read_verified_parquet(objects, dataset["uri"], dataset["sha256"]), spec)
    parts = time_based_split(frame, spec)
    out: dict[str, Any] = {"strategy": "time", "holdout_fraction": spec.holdout_fraction, "seed": spec.seed}
    for part, rows in (("train", parts.train), ("holdout", parts.holdout)):
        out.update(_store_part(objects, base, part, rows))
    return {**out, "params": request_params(spec, request), "params_from": request.get("params_from"),
            "tune": requested_search(spec, request) is not None}  # fmt: skip


def _store_part(objects: ObjectStore, base: S3Uri, part: str, rows: Any) -> dict[str, Any]:
    uri = S3Uri(base.bucket, f"{base.key}/{part}.parquet")
    data = objects.put_parquet(uri, rows)
    return {f"{part}_uri": str(uri), f"{part}_sha256": sha256_hex(data), f"{part}_rows": len(rows)}


def plan_search(
    objects: ObjectStore, spec: ModelSpec, split: dict[str, Any], request: dict[str, Any], *, base: S3Uri
) -> dict[str, Any]:
    """Split the train part again into fit and validation parts (by time) and plan the trials.

    Trials fit on the older part and are scored on the newer one; the holdout stays unseen until the
    chosen params, refitted on the whole train part, meet the champion in Evaluate.
    """
    space = requested_search(spec, request)
    if space is None:
        raise InvalidRequestError(f"run of model {spec.name!r} asks for no search (tune)")
    trials = plan_trials(space, seed=spec.seed)
    check_search_rounds(spec.name, len(trials), space.max_concurrency)
    train = read_verified_parquet(objects, split["train_uri"], split["train_sha256"])
    parts = time_based_split(train, spec, space.validation_fraction)
    tuning = {
        **_store_part(objects, base, "fit", parts.train),
        **_store_part(objects, base, "validation", parts.holdout),
        "metric": spec.gate.primary_metric,
        "strategy": space.strategy,
    }
    return {
        "tuning": tuning,
        "trials": [t.as_item() for t in trials],
        "count": len(trials),
        "max_concurrency": min(space.max_concurrency, len(trials)),
    }


def run_trial(
    store: ObjectStore,
    spec: ModelSpec,
    tuning: dict[str, Any],
    trial: Trial,
    *,
    fixed: dict[str, Any],
    artifacts: S3Uri,
) -> dict[str, Any]:
    """Fit one trial's params on the fit part (through ``train_candidate``), score it on the validation part."""
    started_at, clock = now_iso(), time.perf_counter()
    params = {**fixed, **trial.params}
    part = {"train_uri": tuning["fit_uri"], "train_sha256": tuning["fit_sha256"], "params": params}
    result, model = _train(store, spec, part, artifacts)
    validation = read_verified_parquet(store, tuning["validation_uri"], tuning["validation_sha256"])
    scored = evaluate_model(model, validation, spec)
    outcome = {"trial": trial.index, "params": trial.params, "metrics": scored.quality,
               "artifact_uri": result["artifact_uri"], "validation_rows": scored.holdout_rows,
               "started_at": started_at, "duration_s": time.perf_counter() - clock}  # fmt: skip
    store.put_bytes(
        S3Uri(artifacts.bucket, f"{artifacts.key.rstrip('/')}/trial-result.json"),
        json.dumps(outcome, sort_keys=True).encode(),
        content_type="application/json",
    )
    return outcome


def finish_search(spec: ModelSpec, split: dict[str, Any], outcomes: list[TrialOutcome]) -> dict[str, Any]:
    """The split the final Train fits: the best trial's params over the request's, the search summarized."""
    best: SearchResult = choose_best(outcomes, spec)
    return {
        **split,
        "params": {**split.get("params", {}), **best.best.params},
        "tune": False,
        "search": {
            "best_trial": best.best.index,
            "params": best.best.params,
            "metric": best.metric,
            "validation_value": best.value,
            "trials": len(outcomes),
            "succeeded": best.succeeded,
            "failed": best.failed,
        },
    }


def train_candidate(store: ObjectStore, spec: ModelSpec, split: dict[str, Any], artifacts: S3Uri) -> dict[str, Any]:
    """Fit ``spec`` (with the split's ``params`` over the definition's) on the split's train part; write the
    artifact and a result document under ``artifacts``.

    The one training entrypoint: the Train Lambda, the Batch job, every trial of a search and ``mlops
    experiment run`` call it.
    """
    return _train(store, spec, split, artifacts)[0]


def _train(store: ObjectStore, spec: ModelSpec, split: dict[str, Any], artifacts: S3Uri) -> tuple[dict[str, Any], Any]:
    overrides = request_params(spec, {"params": split.get("params") or {}})
    train = read_verified_parquet(store, split["train_uri"], split["train_sha256"])
    model = train_model(train, spec, overrides)
    artifact = serialize_model(model)
    target = S3Uri(artifacts.bucket, f"{artifacts.key.rstrip('/')}/model-{artifact.sha256[:12]}.joblib")
    store.put_bytes(target, artifact.data)
    result = {
        "artifact_uri": str(target),
        "sha256": artifact.sha256,
        "spec": spec.name,
        "params": {**spec.params, **overrides, "seed": spec.seed, "estimator": type(model).__name__},
        "overrides": overrides,
        "train_rows": len(train),
    }
    # The Batch path cannot return a payload to Step Functions: the result travels as this pointer.
    store.put_bytes(
        S3Uri(artifacts.bucket, f"{artifacts.key.rstrip('/')}/train-result.json"),
        json.dumps(result, sort_keys=True).encode(),
        content_type="application/json",
    )
    return result, model


def record_training_params(
    metadata: MetadataStore, run_id: str, split: dict[str, Any], backend: str, *, pipeline: str = "training"
) -> None:
    """Lineage of what the final fit trained with: the params on the run's node, from where they came
    (the definition, the request, the search's best trial, or the run named by ``params_from``)."""
    search = split.get("search")
    source = "search" if search else "request" if split.get("params") else "definition"
    run = run_node(run_id, pipeline)
    metadata.annotate(Node(run.id, "run", {"trained_params": split.get("params") or {}, "params_source": source,
                                           "training_backend": backend}))  # fmt: skip
    if split.get("params_from"):
        source_run = Node(f"run:{split['params_from']}", "run", {"run_id": split["params_from"]})
        metadata.add_edge(source_run, run, "params_for")
    if search:
        chosen = trial_node(run_id, search["best_trial"])
        metadata.add_edge(chosen, run, "chosen_for")


def record_search(
    metadata: MetadataStore, run_id: str, spec: ModelSpec, split: dict[str, Any], *, pipeline: str = "training"
) -> dict[str, Any]:
    """Choose the best of the run's recorded trials (``finish_search``); every trial and the choice in lineage."""
    records = metadata.get_run(run_id).trials
    outcomes = [TrialOutcome(t.trial, t.status, t.params, t.metrics, t.error) for t in records]
    run = run_node(run_id, pipeline)
    for t in records:
        attributes = {"status": t.status, "params": t.params, "validation_metrics": t.metrics,
                      "duration_s": t.duration_s, "backend": t.backend, "error": t.error}  # fmt: skip
        metadata.add_edge(trial_node(run_id, t.trial, **attributes), run, "trial_of")
    chosen = finish_search(spec, split, outcomes)
    search = chosen["search"]
    metadata.annotate(trial_node(run_id, search["best_trial"], chosen=True))
    summary = {"trials": search["trials"], "failed": search["failed"], "best_trial": search["best_trial"],
               "metric": search["metric"]}  # fmt: skip
    metadata.log_params(run_id, {f"search_{name}": value for name, value in summary.items()})
    metadata.log_metrics(run_id, {f"validation_{search['metric']}": search["validation_value"]})
    return chosen


def evaluate(
    objects: ObjectStore, registry: ModelRegistry, spec: ModelSpec, candidate: dict[str, Any], split: dict[str, Any]
) -> dict[str, Any]:
    """Score the candidate and the champion on the same holdout, and apply the model's gate."""
    holdout = read_verified_parquet(objects, split["holdout_uri"], split["holdout_sha256"])
    model = load_verified_model(objects.get_bytes(S3Uri.parse(candidate["artifact_uri"])), candidate["sha256"])
    evaluation = evaluate_model(model, holdout, spec)
    champion = champion_of(registry, spec.name)
    rescored = evaluate_model(load_registered_model(objects, champion), holdout, spec) if champion else None
    decision = decide(
        spec.gate,
        spec.task,
        evaluation.quality,
        per_class_f1=evaluation.per_class_f1,
        champion=rescored.quality if rescored else None,
        champion_version=champion.version if champion else None,
    )
    gate = spec.gate
    gate_declared = {
        "primary_metric": gate.primary_metric,
        "floors": dict(gate.floors),
        "per_class_floors": dict(gate.per_class_floors),
        "tolerance": gate.tolerance,
    }
    return {
        "metrics": evaluation.as_metrics(),
        "quality": evaluation.quality,
        "per_class_f1": evaluation.per_class_f1,
        "holdout_rows": evaluation.holdout_rows,
        "gate": gate_declared,
        "champion": {"version": champion.version, "metrics": rescored.quality} if champion and rescored else None,
        "passed": decision.passed,
        "reason": decision.reason,
    }


# -- the size estimate before the build (EstimateTrainingSet) ------------------------------------------------
_CSV_SAMPLE_BYTES = 256 * 1024


def estimate_training_set(
    s3: Any, offline: OfflineStore | None, project: Project, spec: ModelSpec, request: dict[str, Any]
) -> SizeEstimate:
    """What the run's build will read and write, from manifests, object sizes and footers: nothing is built.

    A feature-store set: the committed files of the label view and of every feature view in the months the
    run's window (and each view's TTL) needs, by the row counts their write manifests record; the set has
    the label view's rows (or the entity file's). A table: its size, and its first bytes (CSV) or footer
    (Parquet) for the rows.
    """
    set_width = row_bytes([ValueType.TIMESTAMP, *(f.dtype for f in spec.inputs), project.label_field(spec).dtype])
    options = request.get("feature_store")
    if isinstance(options, dict):
        if offline is None:
            raise ConfigurationError("no feature store configured to read a training set from")
        return _estimate_feature_store(s3, offline, project, spec, options, set_width=set_width)
    if "source_uri" in request:
        return _estimate_table(s3, S3Uri.parse(request["source_uri"]), set_width)
    # The build names what the input lacks; an estimate of nothing is nothing.
    return SizeEstimate("unknown", 0, 0, 0, 0)


def _estimate_feature_store(
    s3: Any, offline: OfflineStore, project: Project, spec: ModelSpec, options: dict[str, Any], *, set_width: int
) -> SizeEstimate:
    now = datetime.now(UTC)
    end = instant(options.get("end"), "end") or now
    as_of = instant(options.get("as_of"), "as_of")
    start = (
        instant(options.get("start"), "start") or spec.training_window.start(end) or datetime(1970, 1, 1, tzinfo=UTC)
    )
    label_view = project.view_by_ref(spec.feature_store.label_view)
    views = [project.view_by_ref(ref) for ref in spec.feature_store.views]
    input_rows = input_bytes = 0
    rows_of: dict[str, int] = {}
    for view in {v.qualified_name: v for v in (label_view, *views)}.values():
        first, last = needed_months(view, start, end)
        rows = sum(f.rows for f in offline.files(view, first, last, as_of=as_of))
        rows_of[view.qualified_name] = rows
        input_rows += rows
        input_bytes += rows * row_bytes(f.dtype for f in view.stored_schema)
    if options.get("entities_uri"):
        rows = _parquet_rows(s3, S3Uri.parse(options["entities_uri"]))[0]
    else:
        rows = rows_of[label_view.qualified_name]
    return SizeEstimate("feature_store", rows, input_rows, input_bytes, rows * set_width)


def _estimate_table(s3: Any, uri: S3Uri, set_width: int) -> SizeEstimate:
    size = _object_size(s3, uri)
    if uri.key.endswith(".csv"):
        rows = csv_rows(_object_range(s3, uri, 0, min(size, _CSV_SAMPLE_BYTES) - 1) if size else b"", size)
        return SizeEstimate("table", rows, rows, round(size * CSV_EXPANSION), rows * set_width)
    rows, uncompressed = _parquet_rows(s3, uri, size)
    return SizeEstimate("table", rows, rows, max(uncompressed, rows * set_width), rows * set_width)


def _parquet_rows(s3: Any, uri: S3Uri, size: int | None = None) -> tuple[int, int]:
    """``(rows, uncompressed bytes)`` of a Parquet object, from its footer (two ranged reads)."""
    size = _object_size(s3, uri) if size is None else size
    if size < 12:
        raise DataValidationError(f"{uri} is not a Parquet file ({size} bytes)")
    end = _object_range(s3, uri, size - 8, size - 1)
    if end[4:] != b"PAR1":
        raise DataValidationError(f"{uri} is not a Parquet file (no footer)")
    length = struct.unpack("<i", end[:4])[0]
    if not 0 < length <= size - 12:
        raise DataValidationError(f"{uri} is not a Parquet file (footer length {length})")
    tail = _object_range(s3, uri, size - 8 - length, size - 1)
    try:
        meta = pq.read_metadata(pa.BufferReader(b"PAR1" + tail))
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"{uri} is not a Parquet file: {exc}") from exc
    uncompressed = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return int(meta.num_rows), int(uncompressed)


def _object_size(s3: Any, uri: S3Uri) -> int:
    try:
        return int(s3.head_object(Bucket=uri.bucket, Key=uri.key)["ContentLength"])
    except ClientError as exc:
        raise storage_error(exc, f"reading {uri}") from exc


def _object_range(s3: Any, uri: S3Uri, first: int, last: int) -> bytes:
    try:
        body: bytes = s3.get_object(Bucket=uri.bucket, Key=uri.key, Range=f"bytes={first}-{last}")["Body"].read()
    except ClientError as exc:
        raise storage_error(exc, f"reading {uri}") from exc
    return body
