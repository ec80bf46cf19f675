"""Operator commands over the registry, the metadata store and the training pipeline.

A ``Backend`` is the deployed stack seen through boto3 clients: a real stage (``from_stack``:
the CloudFormation outputs of ``Mlops-<stage>``), the persistent local cloud (``from_outputs``
over its state file's outputs, clients pointed at its endpoint), or an in-process ``LocalCloud``
(``from_cloud``, for tests). Every command takes a backend, so the CLI and the tests run the
same code, and every start of a training run goes through the retrain guard's lock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.online_store import OnlineStore
from functions.metadata.metadata_store import (
    Edge,
    Lineage,
    MetadataStore,
    Node,
    feature_view_node,
    parse_view_ref,
)
from functions.project import Project, load_project
from functions.registry.alias_events import announce_alias_move
from functions.registry.alias_lineage import move_alias_with_lineage
from functions.registry.identity import caller_arn
from functions.registry.model_registry import AliasChange, ModelRegistry, ModelVersion
from functions.retraining.guard_policy import GuardPolicy
from functions.retraining.guard_store import RetrainGuardStore, start_exclusively
from functions.shared.objects import ObjectStore

if TYPE_CHECKING:
    from functions.training.steps import DataLimits
    from mlops.local import LocalCloud

# Stack outputs a backend needs (see infra/stacks/mlops_stack.py).
OUTPUTS = ("RegistryTableName", "MetadataTableName", "ArtifactBucketName", "TrainingStateMachineArn", "ModelName")


class NotFound(LookupError):
    """An operator named something that does not exist (a model, a version, a run, a lineage node)."""


class TrainingRefused(RuntimeError):
    """The retrain guard refused a start (another run holds the lock); the message says why."""


@dataclass(frozen=True)
class Backend:
    registry: ModelRegistry
    metadata: MetadataStore
    objects: ObjectStore
    stepfunctions: Any
    state_machine_arn: str
    artifact_bucket: str
    model_name: str
    raw_dataset_uri: str
    data_limits: DataLimits
    project: Project | None = None
    offline: OfflineStore | None = None
    online: OnlineStore | None = None
    events: Any = None
    sts: Any = None
    cloud: LocalCloud | None = None
    guard_table: str = ""
    stage: str = "dev"
    dynamodb: Any = None
    s3: Any = None
    batch_state_machine_arn: str = ""

    @classmethod
    def from_outputs(
        cls, outputs: dict[str, str], clients: Any, cloud: LocalCloud | None = None, project: Project | None = None
    ) -> Backend:
        missing = [key for key in OUTPUTS if key not in outputs]
        if missing:
            raise KeyError(f"stack outputs missing: {', '.join(missing)} (deploy the current version of the stack)")
        ddb = clients("dynamodb")
        return cls(
            registry=ModelRegistry(ddb, outputs["RegistryTableName"]),
            metadata=MetadataStore(ddb, outputs["MetadataTableName"]),
            objects=ObjectStore(clients("s3")),
            stepfunctions=clients("stepfunctions"),
            state_machine_arn=outputs["TrainingStateMachineArn"],
            artifact_bucket=outputs["ArtifactBucketName"],
            model_name=outputs["ModelName"],
            raw_dataset_uri=outputs.get("RawDatasetUri", ""),
            data_limits=data_limits(outputs.get("StageName", "dev")),
            project=project,
            offline=(
                OfflineStore(clients("s3"), outputs["FeatureOfflineBucketName"])
                if "FeatureOfflineBucketName" in outputs
                else None
            ),
            online=OnlineStore(ddb, outputs["FeatureOnlineTableName"]) if "FeatureOnlineTableName" in outputs else None,
            events=clients("events"),
            sts=clients("sts"),
            cloud=cloud,
            guard_table=outputs.get("RetrainGuardTableName", ""),
            stage=outputs.get("StageName", "dev"),
            dynamodb=ddb,
            s3=clients("s3"),
            batch_state_machine_arn=outputs.get("BatchInferenceStateMachineArn", ""),
        )

    @classmethod
    def from_stack(cls, stack_name: str, clients: Callable[[str], Any], project: Project | None = None) -> Backend:
        """A deployed stack, from its CloudFormation outputs (``clients``: a boto3 session's ``client``)."""
        return cls.from_outputs(stack_outputs(clients("cloudformation"), stack_name), clients, project=project)

    @classmethod
    def from_cloud(cls, cloud: LocalCloud) -> Backend:
        # The stage's MLOps stack is the one with a registry (the CI/CD stack has none).
        [stack] = [name for name, outputs in cloud.outputs.items() if "RegistryTableName" in outputs]
        project = load_project(cloud.project_dir) if cloud.project_dir else None
        return cls.from_outputs(cloud.outputs[stack], cloud.client, cloud, project)

    def spec(self, model: str | None = None) -> Any:
        """A model's definition (default: the stack's served model), from the project the stack was built with."""
        if self.project is None:
            raise ValueError("no project: pass --project PATH (the folder the stack was synthesized with)")
        return self.project.model(model or self.model_name)


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """A deployed stack's outputs; ``NotFound`` naming the stack when it is not deployed in that region."""
    from botocore.exceptions import ClientError

    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            region = cloudformation.meta.region_name
            raise NotFound(
                f"no stack {stack_name} in {region}: deploy it (`cdk deploy {stack_name}`), or pick another "
                "--stage/--region, or use --local"
            ) from None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def data_limits(stage: str) -> DataLimits:
    """ValidateData's limits of ``stage``, as its pipeline applies them."""
    from functions.training.steps import DataLimits
    from infra.config import stage_config

    config = stage_config(stage)
    return DataLimits(config.max_majority_share, config.max_label_drift, config.max_mean_shift)


def version_summary(version: ModelVersion, aliases: dict[str, int]) -> dict[str, Any]:
    return {
        "version": version.version,
        "aliases": sorted(a for a, v in aliases.items() if v == version.version),
        "approval": version.approval_status,
        "accuracy": version.metrics.get("accuracy"),
        "run_id": version.run_id,
        "created_at": version.created_at,
    }


def list_models(backend: Backend) -> list[dict[str, Any]]:
    out = []
    for name in backend.registry.list_models():
        aliases = backend.registry.aliases(name)
        out.append({"model": name, "versions": len(backend.registry.list_versions(name)), "aliases": aliases})
    return out


def show_model(backend: Backend, name: str) -> dict[str, Any]:
    aliases = backend.registry.aliases(name)
    return {
        "model": name,
        "aliases": aliases,
        "versions": [version_summary(v, aliases) for v in backend.registry.list_versions(name)],
        "alias_history": {a: [c.__dict__ for c in backend.registry.alias_history(name, a)] for a in aliases},
    }


def identity(backend: Backend) -> str:
    """Who the operator is, as AWS knows them (STS GetCallerIdentity): what approvals and moves record."""
    return caller_arn(backend.sts)


def decide(backend: Backend, name: str, version: int, *, approve: bool, reason: str) -> ModelVersion:
    """Approve or reject a pending version, recorded under the caller's AWS identity."""
    known_version(backend, name, version)
    decide_as = backend.registry.approve if approve else backend.registry.reject
    return decide_as(name, version, by=identity(backend), reason=reason)


def promote(backend: Backend, name: str, version: int, *, alias: str, reason: str) -> AliasChange:
    """Move the alias (audited under the caller's AWS identity, with lineage) and announce it, so a
    champion move rolls out to serving."""
    known_version(backend, name, version)
    change = move_alias_with_lineage(
        backend.registry, backend.metadata, name, alias, version, by=identity(backend), reason=reason
    )
    announce_alias_move(backend.events, change)
    return change


def known_model(backend: Backend, name: str) -> str:
    """``name`` if the registry has it; ``NotFound`` listing the registered models otherwise."""
    models = backend.registry.list_models()
    if name not in models:
        known = ", ".join(models) or "none registered yet"
        raise NotFound(f"no such model {name!r} (models: {known}): `mlops models list` shows them")
    return name


def known_version(backend: Backend, name: str, version: int) -> ModelVersion:
    """The registered version; ``NotFound`` naming the versions there are otherwise."""
    versions = {v.version: v for v in backend.registry.list_versions(known_model(backend, name))}
    if version not in versions:
        raise NotFound(f"model {name!r} has no version {version} (versions: {', '.join(map(str, sorted(versions)))}): "
                       f"`mlops models show {name}` lists them")  # fmt: skip
    return versions[version]


def rollback(backend: Backend, name: str, *, alias: str, reason: str) -> AliasChange:
    """Move ``alias`` back to the version it pointed at before its latest move."""
    history = backend.registry.alias_history(known_model(backend, name), alias)
    if not history or history[-1].from_version is None:
        raise ValueError(f"alias {alias!r} of {name!r} has no earlier version to roll back to")
    from functions.rollout.reconcile import ROLLBACK_PREFIX  # the deployer rolls such a move out at once

    return promote(backend, name, history[-1].from_version, alias=alias, reason=f"{ROLLBACK_PREFIX}{reason}")


def lineage(backend: Backend, name: str, version: int) -> Lineage:
    known_version(backend, name, version)
    try:
        return backend.metadata.lineage(name, version)
    except KeyError as exc:
        raise NotFound(f"{exc.args[0]}: version {version} of {name!r} has no recorded lineage") from None


def get_run(backend: Backend, run_id: str) -> Any:
    try:
        return backend.metadata.get_run(run_id)
    except KeyError:
        raise NotFound(f"no run {run_id!r}: `mlops runs list` shows recent runs (--pipeline experiment too)") from None


def feature_view_lineage(backend: Backend, ref: str) -> Lineage:
    """Everything downstream of a feature view (``NAME``: every version; ``NAME:vN``: that one)."""
    name, version = parse_view_ref(ref)
    node_id = feature_view_node(name, version).id
    try:
        return backend.metadata.downstream(node_id)
    except KeyError:
        raise ValueError(f"no training set recorded from feature view {ref!r} (lineage node {node_id})") from None


def dataset_lineage(backend: Backend, sha256: str) -> Lineage:
    """Everything downstream of a training set: by its manifest's sha256 (its lineage id) or its data sha256."""
    by_manifest = f"dataset:{sha256.removeprefix('dataset:')}"
    if backend.metadata.has_node(by_manifest):
        return backend.metadata.downstream(by_manifest)
    # Not a manifest hash: the training sets of versions trained on data with this hash.
    ids = sorted(
        {
            f"dataset:{v.manifest_sha256}"
            for model in backend.registry.list_models()
            for v in backend.registry.list_versions(model)
            if v.training_data_sha256 == sha256 and v.manifest_sha256
        }
    )
    if not ids:
        raise ValueError(f"no training set with manifest or data sha256 {sha256!r} is recorded")
    return merge(backend.metadata.downstream(i) for i in ids)


def merge(chains: Any) -> Lineage:
    nodes: dict[str, Node] = {}
    edges: set[Edge] = set()
    roots = []
    for chain in chains:
        roots.append(chain.root)
        nodes.update(chain.nodes)
        edges.update(chain.edges)
    return Lineage(",".join(roots), nodes, tuple(sorted(edges, key=lambda e: (e.source, e.target))))


def models_in(chain: Lineage) -> list[str]:
    """The model versions in a chain, as ``MODEL:VERSION``, in version order."""
    models = [(str(n.attributes["model_name"]), int(n.attributes["version"])) for n in chain.of_kind("model")]
    return [f"{name}:{version}" for name, version in sorted(models)]


KINDS = ("feature_view", "dataset", "monitor_run", "trigger", "run", "model", "alias_change", "deployment")


def lineage_lines(chain: Lineage) -> list[str]:
    """The chain as text, upstream to downstream."""
    lines = []
    for kind in KINDS:
        for node in chain.of_kind(kind):
            attributes = ", ".join(f"{k}={v}" for k, v in sorted(node.attributes.items()))
            lines.append(f"{kind:<13} {node.id}  {attributes}")
    lines.extend(f"edge          {e.source} -[{e.relation}]-> {e.target}" for e in chain.edges)
    return lines


def training_request(
    source_uri: str | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    as_of: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """The training pipeline's input for a table in S3, or (the default) the feature store over [start, end].

    ``as_of`` reads the feature store as it was at that time (rebuild a past training set exactly).
    """
    if source_uri:
        if start or end or as_of:
            raise ValueError("--start/--end/--as-of select from the feature store; they do not apply to --source")
        return {"source_uri": source_uri, **({"model": model} if model else {})}
    window = {k: v for k, v in (("start", start), ("end", end), ("as_of", as_of)) if v}
    return {"feature_store": window, **({"model": model} if model else {})}


def manual_policy(stage: str) -> GuardPolicy:
    """The guard's policy for an operator's start: no cooldown and no budget stop a person's decision, but the
    single-run lock does (held as long as the guard's Lambda holds it: the pipeline's timeout + 5 minutes)."""
    from infra.config import stage_config
    from infra.constructs.training_pipeline import training_timeout_s

    return GuardPolicy(cooldown_s=0, daily_budget=1_000_000, lock_s=training_timeout_s(stage_config(stage)) + 300)


def start_training(
    backend: Backend,
    request: dict[str, Any],
    *,
    trigger: dict[str, Any],
    name: str | None = None,
    now: datetime | None = None,
) -> str:
    """Start the training pipeline through the retrain guard's single-run lock (``TrainingRefused`` while
    another run, scheduled, alarm-triggered or manual, holds it). The lock is released, as for every run,
    by the execution's status-change event."""
    kwargs: dict[str, Any] = {
        "stateMachineArn": backend.state_machine_arn,
        "input": json.dumps({**request, "trigger": trigger}),
    }
    if name:
        kwargs["name"] = name
    if not backend.guard_table:
        raise ValueError("the stack has no RetrainGuardTableName output: deploy the current version of the stack")
    model = str(request.get("model") or backend.model_name)
    store = RetrainGuardStore(backend.dynamodb, backend.guard_table, model)

    def running(execution_arn: str) -> bool:
        return bool(backend.stepfunctions.describe_execution(executionArn=execution_arn)["status"] == "RUNNING")

    arn, refusal = start_exclusively(
        store,
        now or datetime.now(UTC),
        manual_policy(backend.stage),
        trigger,
        start=lambda: str(backend.stepfunctions.start_execution(**kwargs)["executionArn"]),
        running=running,
    )
    if refusal is not None:
        raise TrainingRefused(f"training not started: {refusal.message} (the retrain guard's single-run lock)")
    assert arn is not None
    return arn


def start_batch(backend: Backend, request: dict[str, Any], *, trigger: dict[str, Any], name: str | None = None) -> str:
    """Start batch inference on ``{input_uri}`` or ``{entities_uri}``, refused first by the batch's own input rule."""
    from functions.serving.steps import BatchInput

    BatchInput.parse(request)
    if not backend.batch_state_machine_arn:
        raise ValueError("the stack has no BatchInferenceStateMachineArn output: deploy the stack's current version")
    kwargs: dict[str, Any] = {
        "stateMachineArn": backend.batch_state_machine_arn,
        "input": json.dumps({**request, "trigger": trigger}),
    }
    if name:
        kwargs["name"] = name
    return str(backend.stepfunctions.start_execution(**kwargs)["executionArn"])


def wait_for_execution(backend: Backend, execution_arn: str, *, timeout_s: float = 900) -> dict[str, Any]:
    """Poll the execution until it ends; its ``describe_execution``."""
    deadline = time.monotonic() + timeout_s
    while True:
        described: dict[str, Any] = backend.stepfunctions.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still running after {timeout_s:.0f} s")
        time.sleep(0.2)
