"""Models: the registered models, a model's versions and aliases, a version against the champion, and the
decisions (approve, reject, promote, roll back) through the operator's own calls."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlops import operator
from mlops.ui.pages import BackendDep, render

router = APIRouter()


@router.get("/models", response_class=HTMLResponse)
def models_list(request: Request, backend: BackendDep) -> HTMLResponse:
    return render(request, "models_list.html", models=operator.list_models(backend))


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, backend: BackendDep, name: str) -> HTMLResponse:
    shown = operator.show_model(backend, operator.known_model(backend, name))
    return render(request, "models_show.html", model=shown)
