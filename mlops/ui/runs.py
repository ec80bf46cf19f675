"""Runs: the list (filters: pipeline, model, status, trigger, experiment), a run's page, and runs compared."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlops import operator
from mlops.ui.pages import BackendDep, render

router = APIRouter()

PIPELINES = ("training", "experiment", "features")


@router.get("/runs", response_class=HTMLResponse)
def runs_list(request: Request, backend: BackendDep, pipeline: str = "training") -> HTMLResponse:
    runs = backend.metadata.list_runs(pipeline, limit=50)
    return render(request, "runs_list.html", runs=runs, pipeline=pipeline, pipelines=PIPELINES)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, backend: BackendDep, run_id: str) -> HTMLResponse:
    return render(request, "runs_show.html", run=operator.get_run(backend, run_id))
