"""Monitoring pages: each model's monitor runs over time (drift share, live quality) and each run's drift report.

The runs are what the monitor function stored in the artifacts bucket, read through ``MonitorRunStore`` as
``mlops monitor report`` reads them: the run record (``run.json``: the window, the drift and quality results)
and the HTML report it rendered (``functions/monitoring/report.py``). The report is served as it was stored,
in a sandboxed frame (no script of it runs, and it cannot reach the app).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from functions.monitoring.monitor_store import MonitorRunStore
from mlops import operator
from mlops.ui.pages import BackendDep, render

router = APIRouter()

# How many of a model's latest monitor runs a page reads (one S3 object each); the listing counts all of them.
SHOWN_RUNS = 200

# What a framed report may do: nothing but show itself (its styles are inline).
REPORT_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def monitor_run_url(model: str, run_id: str) -> str:
    return f"/monitoring/{quote(model, safe='')}/runs/{quote(run_id, safe='')}"


def report_url(model: str, run_id: str) -> str:
    return f"{monitor_run_url(model, run_id)}/report"


def run_row(record: dict[str, Any]) -> dict[str, Any]:
    """One monitor run as a table row and a chart point: window, captures, drift and quality outcomes."""
    drift = record.get("drift") or {}
    quality = record.get("quality") or {}
    evaluated = drift.get("status") == "evaluated"
    prediction = drift.get("prediction") or {}
    return {
        "run_id": record["run_id"],
        "model_version": record.get("model_version"),
        "window_start": record.get("window_start"),
        "window_end": record.get("window_end"),
        "captures": record.get("captures"),
        "drift_status": drift.get("status"),
        "drift_reason": drift.get("reason") or "",
        "drift_share": drift.get("drift_share") if evaluated else None,
        "dataset_drift": bool(drift.get("dataset_drift")) if evaluated else None,
        "drifted_features": list(drift.get("drifted_features") or ()),
        "prediction_drift": prediction.get("drifted") if evaluated and prediction else None,
        "quality_status": quality.get("status"),
        "quality_reason": quality.get("reason") or "",
        "labelled": quality.get("labelled"),
        "quality": dict(quality.get("metrics") or {}) if quality.get("status") == "evaluated" else {},
        "rejected": bool(record.get("quarantine_uri")),
        "quarantine_uri": record.get("quarantine_uri"),
    }


def history_figures(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Plotly figures over the windows' end times: drift share (with each dataset-drift window marked), and
    each live quality metric. A skipped window is a gap, not a zero."""
    ordered = sorted(rows, key=lambda r: str(r["window_end"]))
    times = [r["window_end"] for r in ordered]
    drifted = [r for r in ordered if r["dataset_drift"]]
    drift = {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "drift share", "x": times,
             "y": [r["drift_share"] for r in ordered], "connectgaps": False,
             "text": [f"{r['run_id']} v{r['model_version']}" for r in ordered]},
            {"type": "scatter", "mode": "markers", "name": "dataset drift", "x": [r["window_end"] for r in drifted],
             "y": [r["drift_share"] for r in drifted], "marker": {"symbol": "x", "size": 11, "color": "#b42318"}},
        ],
        "layout": {"yaxis": {"title": {"text": "share of drifted features"}, "range": [0, 1.05]},
                   "xaxis": {"title": {"text": "window end"}}, "legend": {"orientation": "h", "y": 1.15}},
    }  # fmt: skip
    metrics = sorted({name for r in ordered for name in r["quality"]})
    quality = {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": name, "x": times, "connectgaps": False,
             "y": [r["quality"].get(name) for r in ordered]}
            for name in metrics
        ],
        "layout": {"yaxis": {"title": {"text": "live quality"}}, "xaxis": {"title": {"text": "window end"}},
                   "legend": {"orientation": "h", "y": 1.15}},
    }  # fmt: skip
    return {"drift": drift, "quality": quality}


def _store(backend: operator.Backend) -> MonitorRunStore:
    return MonitorRunStore(backend.s3, backend.artifact_bucket)


def _models(backend: operator.Backend) -> list[str]:
    registered = backend.registry.list_models()
    declared = [] if backend.project is None else [m.name for m in backend.project.models]
    return sorted({*registered, *declared})


def _known(backend: operator.Backend, model: str) -> str:
    if model not in _models(backend):
        raise operator.NotFound(f"no model {model!r} (models: {', '.join(_models(backend)) or 'none registered'})")
    return model


def model_runs(backend: operator.Backend, model: str, *, limit: int = SHOWN_RUNS) -> tuple[list[dict[str, Any]], int]:
    """The latest ``limit`` monitor runs of ``model``, newest first, and how many there are in all."""
    store = _store(backend)
    ids = store.run_ids(model)
    rows = [run_row(store.record(model, run_id)) for run_id in reversed(ids[-limit:])]
    return rows, len(ids)


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_index(request: Request, backend: BackendDep) -> HTMLResponse:
    """Each model with its number of monitor runs and the latest one's outcome."""
    store = _store(backend)
    models = []
    for model in _models(backend):
        ids = store.run_ids(model)
        latest = run_row(store.record(model, ids[-1])) if ids else None
        models.append({"name": model, "runs": len(ids), "latest": latest})
    return render(request, "monitoring_index.html", models=models, monitor_run_url=monitor_run_url)


@router.get("/monitoring/{model}", response_class=HTMLResponse)
def model_monitoring(request: Request, backend: BackendDep, model: str) -> HTMLResponse:
    rows, total = model_runs(backend, _known(backend, model))
    return render(
        request, "monitoring_model.html", model=model, rows=rows, total=total, figures=history_figures(rows),
        monitor_run_url=monitor_run_url,
    )  # fmt: skip


def _record(backend: operator.Backend, model: str, run_id: str) -> dict[str, Any]:
    store = _store(backend)
    if run_id not in store.run_ids(_known(backend, model)):
        raise operator.NotFound(f"no monitor run {run_id!r} of model {model!r}: its monitoring page lists them")
    return store.record(model, run_id)


@router.get("/monitoring/{model}/runs/{run_id}", response_class=HTMLResponse)
def monitor_run(request: Request, backend: BackendDep, model: str, run_id: str) -> HTMLResponse:
    record = _record(backend, model, run_id)
    drift = record.get("drift") or {}
    return render(
        request, "monitoring_run.html", model=model, row=run_row(record), record=record,
        features=drift.get("features") or [], prediction=drift.get("prediction"),
        report_src=report_url(model, run_id), feedback=record.get("feedback_join") or {},
    )  # fmt: skip


@router.get("/monitoring/{model}/runs/{run_id}/report")
def monitor_report(backend: BackendDep, model: str, run_id: str) -> Response:
    """The run's HTML drift report as the monitor stored it, under a policy that lets nothing in it run."""
    record = _record(backend, model, run_id)
    return Response(
        _store(backend).report(record), media_type="text/html",
        headers={"Content-Security-Policy": REPORT_POLICY, "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip
