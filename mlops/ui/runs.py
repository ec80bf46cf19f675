"""Runs: the list (filters: pipeline, model, status, trigger, experiment), a run's page (steps with durations,
status and failure reason; params, metrics, trigger, data manifest), and runs compared side by side with charts.

Reads go through the CLI's functions: ``MetadataStore.list_runs`` (``mlops runs list``), ``operator.get_run``
(``mlops runs show``) and ``experiments.compare_runs`` (``mlops runs compare``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from functions.metadata.metadata_store import PipelineRun
from functions.shared.errors import ArtifactIntegrityError, StorageError
from functions.training.training_sets import read_manifest
from mlops import experiments, operator
from mlops.ui.pages import BackendDep, BadInput, render, shown

router = APIRouter()

PIPELINES = ("training", "experiment", "features", "batch_inference")
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
MAX_LISTED = 200


@router.get("/runs", response_class=HTMLResponse)
def runs_list(
    request: Request,
    backend: BackendDep,
    *,
    pipeline: str = "training",
    model: str = "",
    status: str = "",
    trigger: str = "",
    experiment: str = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 20,
) -> HTMLResponse:
    if pipeline not in PIPELINES:
        raise BadInput(f"unknown pipeline {pipeline!r}; the pipelines are {', '.join(PIPELINES)}")
    if status and status not in STATUSES:
        raise BadInput(f"unknown status {status!r}; a run's status is one of {', '.join(STATUSES)}")
    if experiment:  # an experiment's runs are runs of the experiment pipeline (tracked and `experiment run`'s)
        pipeline = experiments.PIPELINE
    runs = backend.metadata.list_runs(pipeline, limit=limit, experiment=experiment or None)
    listed = [r for r in runs if _matches(r, model=model, status=status, trigger=trigger)]
    return render(
        request,
        "runs_list.html",
        runs=listed,
        read=len(runs),
        limit=limit,
        pipelines=PIPELINES,
        statuses=STATUSES,
        models=backend.registry.list_models(),
        triggers=sorted({_trigger_type(r) for r in runs} - {""}),
        filters={"pipeline": pipeline, "model": model, "status": status, "trigger": trigger, "experiment": experiment},
        model_of=_model_of,
        trigger_of=_trigger_type,
    )


def _model_of(run: PipelineRun) -> str:
    return str(run.params.get("model") or (run.summary or {}).get("model") or "")


def _trigger_type(run: PipelineRun) -> str:
    return str(run.trigger.get("type") or "")


def _matches(run: PipelineRun, *, model: str, status: str, trigger: str) -> bool:
    return (
        (not model or _model_of(run) == model)
        and (not status or run.status == status)
        and (not trigger or _trigger_type(run) == trigger)
    )


@router.get("/runs/compare", response_class=HTMLResponse)
def runs_compare(
    request: Request, backend: BackendDep, ids: Annotated[list[str], Query()] = [], differences: bool = False  # noqa: B006
) -> HTMLResponse:
    run_ids = [i.strip() for value in ids for i in value.split(",") if i.strip()]
    if len(run_ids) < 2:
        raise BadInput("compare needs two runs or more: tick them in the runs list (or /runs/compare?ids=A,B)")
    try:
        comparison = experiments.compare_runs(backend.metadata, run_ids)
    except KeyError as exc:
        raise operator.NotFound(str(exc.args[0])) from None
    return render(
        request,
        "runs_compare.html",
        comparison=comparison,
        differences=differences,
        ids=run_ids,
        metrics_chart=_metrics_figure(comparison),
        history_charts=_history_figures(comparison.runs),
    )


def _metrics_figure(comparison: experiments.RunComparison) -> dict[str, Any] | None:
    """One bar group per metric, one bar per run (numeric metrics only)."""
    rows = [r for r in comparison.rows if r.kind == "metric" and any(isinstance(v, (int, float)) for v in r.values)]
    if not rows:
        return None
    data = [
        {
            "type": "bar",
            "name": run.run_id,
            "x": [row.name for row in rows],
            "y": [row.values[i] if isinstance(row.values[i], (int, float)) else None for row in rows],
        }
        for i, run in enumerate(comparison.runs)
    ]
    return {"data": data, "layout": {"barmode": "group", "title": {"text": "metrics"}, "height": 360}}


def _history_figures(runs: tuple[PipelineRun, ...]) -> list[dict[str, Any]]:
    """A line chart per metric logged at steps (the tracking API's series), one line per run."""
    names = sorted({name for run in runs for name in run.metric_history})
    figures = []
    for name in names:
        data = [
            {"type": "scatter", "mode": "lines+markers", "name": run.run_id,
             "x": [p.step for p in run.metric_history[name]], "y": [p.value for p in run.metric_history[name]]}
            for run in runs
            if name in run.metric_history
        ]  # fmt: skip
        figures.append({"data": data, "layout": {"title": {"text": name}, "xaxis": {"title": {"text": "step"}}}})
    return figures


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, backend: BackendDep, run_id: str) -> HTMLResponse:
    run = operator.get_run(backend, run_id)
    version = next(
        (v for name in backend.registry.list_models() if (v := backend.registry.version_of_run(name, run_id))), None
    )
    return render(
        request,
        "runs_show.html",
        run=run,
        model=_model_of(run),
        version=version,
        manifest=_manifest(backend, run),
        steps_chart=_steps_figure(run),
        outputs_shown=_outputs_shown,
    )


def _manifest(backend: operator.Backend, run: PipelineRun) -> dict[str, Any]:
    """The run's training-set manifest (from BuildTrainingSet's outputs), checked against its recorded sha256."""
    built = next((s.outputs for s in run.steps if s.step == "BuildTrainingSet" and s.outputs), None)
    if not built or not built.get("manifest_uri"):
        return {"absent": "this run recorded no training-set manifest (it did not build a training set)"}
    uri, sha256 = str(built["manifest_uri"]), str(built.get("manifest_sha256", ""))
    try:
        document = read_manifest(backend.objects, uri, sha256)
    except ArtifactIntegrityError as exc:
        return {"uri": uri, "sha256": sha256, "problem": str(exc)}
    except StorageError as exc:  # e.g. the artifact bucket's lifecycle removed it
        return {"uri": uri, "sha256": sha256, "problem": str(exc)}
    return {"uri": uri, "sha256": sha256, "document": document}


def _steps_figure(run: PipelineRun) -> dict[str, Any] | None:
    """The steps' durations as horizontal bars, in the order they ran."""
    if not run.steps:
        return None
    colours = {"SUCCEEDED": "#1a7f37", "FAILED": "#b42318"}
    steps = list(reversed(run.steps))
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": [s.step for s in steps],
            "x": [round(s.duration_s, 3) for s in steps],
            "marker": {"color": [colours.get(s.status, "#9a6700") for s in steps]},
            "hovertemplate": "%{y}: %{x} s<extra></extra>",
        }
    ]
    return {
        "data": data,
        "layout": {"title": {"text": "step durations (s)"}, "height": 60 + 28 * len(steps), "margin": {"l": 140}},
    }


def _outputs_shown(outputs: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, shown(value)) for key, value in sorted(outputs.items())]
