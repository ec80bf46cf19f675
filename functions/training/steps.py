"""The training pipeline's steps as plain typed functions (paper steps 18-23).

Each Lambda handler of the training pipeline (``functions/handlers/{build_training_set,
validate_data,split,train,evaluate}.py``) and the Batch job wrap one of these; ``mlops
experiment run`` calls the same functions in order, so an experiment and the pipeline run
after it build, check, split, fit and gate the same way. Clients come in as adapters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from functions.feature_store.offline_store import OfflineStore
from functions.project.definition import Project
from functions.registry.artifact import load_verified_model, serialize_model, sha256_hex
from functions.registry.model_registry import PENDING, REJECTED, ModelRegistry, ModelVersion
from functions.registry.model_store import load_registered_model
from functions.registry.serving_rule import SERVING_ALIAS
from functions.shared.errors import ModelNotFoundError
from functions.shared.objects import ObjectStore, S3Uri
from functions.training.data_checks import check_drift, check_label_balance, dataset_stats, drift
from functions.training.dataset import validate_training_frame
from functions.training.fit import evaluate_model, time_based_split, train_model
from functions.training.gate import decide
from functions.training.model_spec import ModelSpec
from functions.training.retrain_rule import RetrainDecision, TrainedOn, retrain_decision
from functions.training.training_sets import (
    StoredTrainingSet,
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


def split(objects: ObjectStore, spec: ModelSpec, dataset: dict[str, Any], *, base: S3Uri) -> dict[str, Any]:
    """Time-based train/holdout split of the validated set, each part stored and hashed."""
    frame = validate_training_frame(read_verified_parquet(objects, dataset["uri"], dataset["sha256"]), spec)
    parts = time_based_split(frame, spec)
    out: dict[str, Any] = {"strategy": "time", "holdout_fraction": spec.holdout_fraction, "seed": spec.seed}
    for part, rows in (("train", parts.train), ("holdout", parts.holdout)):
        uri = S3Uri(base.bucket, f"{base.key}/{part}.parquet")
        data = objects.put_parquet(uri, rows)
        out.update({f"{part}_uri": str(uri), f"{part}_sha256": sha256_hex(data), f"{part}_rows": len(rows)})
    return out


def train_candidate(store: ObjectStore, spec: ModelSpec, split: dict[str, Any], artifacts: S3Uri) -> dict[str, Any]:
    """Fit ``spec`` on the split's train part; write the artifact and a result document under ``artifacts``.

    The one training entrypoint: the Train Lambda, the Batch job and ``mlops experiment run`` call it.
    """
    train = read_verified_parquet(store, split["train_uri"], split["train_sha256"])
    model = train_model(train, spec)
    artifact = serialize_model(model)
    target = S3Uri(artifacts.bucket, f"{artifacts.key.rstrip('/')}/model-{artifact.sha256[:12]}.joblib")
    store.put_bytes(target, artifact.data)
    result = {
        "artifact_uri": str(target),
        "sha256": artifact.sha256,
        "spec": spec.name,
        "params": {**spec.params, "seed": spec.seed, "estimator": type(model).__name__},
        "train_rows": len(train),
    }
    # The Batch path cannot return a payload to Step Functions: the result travels as this pointer.
    store.put_bytes(
        S3Uri(artifacts.bucket, f"{artifacts.key.rstrip('/')}/train-result.json"),
        json.dumps(result, sort_keys=True).encode(),
        content_type="application/json",
    )
    return result


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
