"""Experiments: train with parameter overrides on the pipeline's own steps, compare runs, list an experiment.

What ``mlops experiment run --param k=v``, ``mlops runs compare RUN RUN ...`` and ``mlops runs list
--experiment NAME`` do. An experiment run is a run of the pipeline ``experiment`` in the metadata store
(beside the tracking API's runs and the pipeline's own), so the params a data scientist found can be
handed to a pipeline execution (``pipeline_request``: the request's ``params`` and ``params_from``),
which records where they came from in lineage.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.metadata.metadata_store import (
    MetadataStore,
    Node,
    PipelineRun,
    TrialRecord,
    dataset_node,
    now_iso,
    run_node,
)
from functions.shared.errors import InvalidRequestError
from functions.shared.objects import S3Uri
from functions.training.model_spec import ModelSpec
from functions.training.search import FAILED, SUCCEEDED, Trial, accepted_params, check_training_request, request_params

if TYPE_CHECKING:
    from rich.table import Table

    from mlops.operator import Backend

PIPELINE = "experiment"
DEFAULT_EXPERIMENT = "default"
# Params the toolkit records on a run that are not the estimator's (never handed to a pipeline run as overrides).
TOOLKIT_PARAMS = frozenset(
    {"seed", "estimator", "training_backend", "split_strategy", "holdout_fraction", "tune", "search_trials",
     "search_failed", "search_best_trial", "search_metric"}
)  # fmt: skip


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``--param NAME=VALUE`` pairs: a value reads as JSON (``50``, ``0.1``, ``true``, ``null``, ``[1, 2]``),
    otherwise as text (``sqrt``). One line naming the pair when it has no ``=``."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidRequestError(f"--param takes NAME=VALUE, got {pair!r}")
        try:
            params[name.strip()] = json.loads(text)
        except ValueError:
            params[name.strip()] = text
    return params


def run_experiment(
    backend: Backend,
    request: dict[str, Any],
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    note: str = "",
    run_id: str | None = None,
) -> dict[str, Any]:
    """Train the request's model with its ``params`` (and its search, with ``tune``) on the pipeline's steps.

    Build, validate, split, (plan, trials, choose), ``train_candidate``, evaluate: the same functions the
    pipeline's handlers call, recorded as a run of ``experiment``. Bad params are refused before any work.
    """
    from functions.training import steps  # scikit-learn: only the commands that train import it

    spec, project = backend.spec(request.get("model")), backend.project
    if project is None:
        raise ValueError("no project: pass --project PATH (the folder the stack was synthesized with)")
    check_training_request(spec, request)
    run_id = run_id or f"exp-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    store, metadata = backend.objects, backend.metadata
    trigger = {"type": "experiment", "note": note, "params": request.get("params") or {}}
    metadata.start_run(run_id=run_id, pipeline=PIPELINE, execution_arn="local", trigger=trigger, experiment=experiment)
    node = run_node(run_id, PIPELINE)
    metadata.annotate(Node(node.id, "run", {**node.attributes, "experiment": experiment}))
    try:
        base = S3Uri(backend.artifact_bucket, f"runs/{run_id}")
        built = steps.build_training_set(store, backend.offline, project, spec, request, run_id=run_id, base=base)
        stored = built.stored
        metadata.add_edge(
            dataset_node(stored.manifest_uri, stored.manifest_sha256, data_sha256=stored.sha256, rows=stored.rows,
                         **({"feature_views": built.feature_views} if built.feature_views else {})),
            node, "input_of",
        )  # fmt: skip
        metadata.link_feature_views(f"dataset:{stored.manifest_sha256}")
        dataset = stored.pointer()
        steps.validate_data(store, backend.registry, spec, dataset, backend.data_limits)
        split = steps.split(store, spec, dataset, base=base, request=request)
        if split["tune"]:
            split = _search(backend, spec, split, request, run_id=run_id, base=base)
        result = steps.train_candidate(store, spec, split, S3Uri(base.bucket, f"{base.key}/train"))
        evaluation = steps.evaluate(store, backend.registry, spec, result, split)
        metrics = {f"holdout_{k}": v for k, v in evaluation["metrics"].items()}
        metadata.log_params(run_id, {**result["params"], "training_backend": "local"})
        steps.record_training_params(metadata, run_id, split, "local", pipeline=PIPELINE)
        metadata.log_metrics(run_id, metrics)
    except Exception as exc:
        metadata.finish_run(run_id, status="FAILED", error={"Error": type(exc).__name__, "Cause": str(exc)})
        raise
    metadata.finish_run(run_id, status="SUCCEEDED")
    return {
        "run_id": run_id,
        "experiment": experiment,
        "params": split["params"],
        "artifact_sha256": result["sha256"],
        "data_sha256": stored.sha256,
        "gate": {"passed": evaluation["passed"], "reason": evaluation["reason"]},
        **({"search": split["search"]} if split.get("search") else {}),
        **metrics,
    }


def _search(
    backend: Backend, spec: ModelSpec, split: dict[str, Any], request: dict[str, Any], *, run_id: str, base: S3Uri
) -> dict[str, Any]:
    """The pipeline's search, one trial after another: plan, each trial recorded, the best chosen."""
    from functions.training import steps
    store, metadata = backend.objects, backend.metadata
    planned = steps.plan_search(store, spec, split, request, base=base)
    for item in planned["trials"]:
        trial = Trial(item["trial"], dict(item["params"]))
        started_at = now_iso()
        artifacts = S3Uri(base.bucket, f"{base.key}/trials/{trial.index}")
        try:
            outcome = steps.run_trial(store, spec, planned["tuning"], trial, fixed=split["params"], artifacts=artifacts)
        except Exception as exc:  # recorded as the pipeline's Map item records it; the search goes on
            error = f"{type(exc).__name__}: {exc}"
            metadata.record_trial(run_id, TrialRecord(trial.index, FAILED, trial.params, started_at=started_at,
                                  ended_at=now_iso(), backend="local", error=error))  # fmt: skip
            continue
        metadata.record_trial(run_id, TrialRecord(trial.index, SUCCEEDED, trial.params, outcome["metrics"],
                              started_at, now_iso(), outcome["duration_s"], "local"))  # fmt: skip
    return steps.record_search(metadata, run_id, spec, split, pipeline=PIPELINE)


# -- from experiment to pipeline ------------------------------------------------------------------------------------
def pipeline_request(
    metadata: MetadataStore, spec: ModelSpec, run_id: str, request: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A training request that trains ``run_id``'s params: its estimator params that differ from the definition's,
    as ``params``, and ``params_from`` (lineage: that run -> the pipeline run). Also the run's params left out
    because the estimator takes no such parameter (a tracked run may log anything)."""
    run = metadata.get_run(run_id)
    names, any_name = accepted_params(spec)
    candidates = {k: v for k, v in run.params.items() if k not in TOOLKIT_PARAMS}
    ignored = sorted(k for k in candidates if not any_name and k not in names)
    overrides = {
        k: v for k, v in candidates.items() if k not in ignored and (k not in spec.params or spec.params[k] != v)
    }
    out = {**(request or {}), "params": overrides, "params_from": run_id}
    request_params(spec, out)  # a value of the wrong type is refused here, naming the parameter
    return out, ignored


def training_request_with(
    metadata: MetadataStore,
    spec: ModelSpec,
    request: Mapping[str, Any],
    *,
    params: Sequence[str] = (),
    tune: bool = False,
    params_from: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``request`` with the command line's choices, checked before anything starts: ``params_from`` (a run's
    params, ``pipeline_request``), then ``--param NAME=VALUE`` over them, then ``--tune``. Also the params of
    ``params_from`` the estimator does not take (left out)."""
    out, ignored = pipeline_request(metadata, spec, params_from, request) if params_from else (dict(request), [])
    if params:
        out["params"] = {**out.get("params", {}), **parse_params(params)}
    if tune:
        out["tune"] = True
    check_training_request(spec, out)
    return out, ignored


# -- compare and list ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComparedValue:
    """One param or metric across the compared runs (None where a run has none); ``differs``: not all equal."""

    kind: str
    name: str
    values: tuple[Any, ...]
    differs: bool


@dataclass(frozen=True)
class RunComparison:
    runs: tuple[PipelineRun, ...]
    rows: tuple[ComparedValue, ...]

    @property
    def differences(self) -> list[ComparedValue]:
        return [row for row in self.rows if row.differs]

    def as_dict(self) -> dict[str, Any]:
        runs = [
            {"run_id": r.run_id, "pipeline": r.pipeline, "experiment": r.experiment, "status": r.status,
             "started_at": r.started_at}
            for r in self.runs
        ]  # fmt: skip
        rows = [{"kind": r.kind, "name": r.name, "values": list(r.values), "differs": r.differs} for r in self.rows]
        return {"runs": runs, "rows": rows}


def compare_runs(metadata: MetadataStore, run_ids: Sequence[str]) -> RunComparison:
    """Params and metrics of two runs or more, side by side (pipeline, experiment and tracked runs alike)."""
    if len(run_ids) < 2:
        raise ValueError("compare needs two runs or more")
    runs = []
    for run_id in run_ids:
        try:
            runs.append(metadata.get_run(run_id))
        except KeyError:
            raise KeyError(f"no run {run_id!r}: `mlops runs list` shows recent runs") from None
    rows = []
    for kind, of in (("param", lambda r: r.params), ("metric", lambda r: r.metrics)):
        for name in sorted({n for r in runs for n in of(r)}):
            values = tuple(of(r).get(name) for r in runs)
            rows.append(ComparedValue(kind, name, values, not _all_equal(values)))
    return RunComparison(tuple(runs), tuple(rows))


def comparison_table(comparison: RunComparison, *, only_differences: bool = False) -> Table:
    """A rich table: one column per run, differing rows marked ``≠`` and highlighted."""
    from rich.table import Table

    table = Table(title="runs compared", show_lines=False)
    table.add_column("", width=1)
    table.add_column("kind")
    table.add_column("name")
    for run in comparison.runs:
        table.add_column(f"{run.run_id}\n{run.experiment or run.pipeline} · {run.status}", overflow="fold")
    for row in comparison.rows:
        if only_differences and not row.differs:
            continue
        style = "bold yellow" if row.differs else None
        table.add_row("≠" if row.differs else "", row.kind, row.name, *(_shown(v) for v in row.values), style=style)
    return table


def trials_table(run: PipelineRun) -> Table:
    """A run's search, one row per trial (the chosen one marked ``*``), for ``mlops runs show``."""
    from rich.table import Table

    best = run.params.get("search_best_trial")
    table = Table(title=f"trials of {run.run_id}")
    for column in ("", "trial", "status", "params", "validation metrics", "seconds", "backend", "error"):
        table.add_column(column, overflow="fold")
    for t in run.trials:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(t.metrics.items()))
        seconds = f"{t.duration_s:.2f}" if t.duration_s is not None else "—"
        table.add_row("*" if t.trial == best else "", str(t.trial), t.status, _shown(t.params), metrics or "—",
                      seconds, t.backend, t.error or "")  # fmt: skip
    return table


def list_experiment_runs(metadata: MetadataStore, experiment: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs of ``experiment`` first (tracked and ``experiment run``'s): status, times, metrics."""
    return [
        {
            "run_id": run.run_id,
            "experiment": run.experiment,
            "status": run.status,
            "source": run.trigger.get("type"),
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "params": len(run.params),
            "metrics": dict(sorted(run.metrics.items())),
        }
        for run in metadata.list_runs(PIPELINE, limit=limit, experiment=experiment)
    ]


def _all_equal(values: tuple[Any, ...]) -> bool:
    first = values[0]
    for value in values[1:]:
        if isinstance(first, float) and isinstance(value, float):
            if not math.isclose(first, value, rel_tol=1e-12, abs_tol=0.0):
                return False
        elif value != first:
            return False
    return True


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
