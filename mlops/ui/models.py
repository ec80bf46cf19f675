"""Models: the registered models; a model's versions, aliases and alias history; a version's evaluation against
the champion on the same holdout; and the decisions (approve, reject, promote, roll back), each with a reason,
through the operator's own calls (``operator.decide``, ``promote``, ``rollback``: the CLI's), recorded under
the caller's AWS identity (STS).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from functions.metadata.metadata_store import PipelineRun
from functions.registry.model_registry import ModelVersion
from functions.registry.serving_rule import SERVING_ALIAS
from functions.shared.errors import ModelNotApprovedError, RegistryConflictError
from mlops import operator
from mlops.ui.pages import BackendDep, BadInput, CheckedForm, Refused, model_url, render, required, version_url

router = APIRouter()

MAX_REASON = 1000
DONE = {"approved": "approved", "rejected": "rejected", "promoted": "alias moved", "rolled-back": "alias rolled back"}


@router.get("/models", response_class=HTMLResponse)
def models_list(request: Request, backend: BackendDep) -> HTMLResponse:
    return render(request, "models_list.html", models=operator.list_models(backend))


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, backend: BackendDep, name: str, done: str = "") -> HTMLResponse:
    model = operator.show_model(backend, operator.known_model(backend, name))
    return render(
        request, "models_show.html", model=model, chart=_versions_figure(model), done=DONE.get(done), name=name
    )


def _versions_figure(model: dict[str, Any]) -> dict[str, Any] | None:
    """Holdout accuracy by version, marked by approval status."""
    versions = [v for v in model["versions"] if isinstance(v.get("accuracy"), (int, float))]
    if not versions:
        return None
    symbols = {"approved": "circle", "pending": "diamond-open", "rejected": "x"}
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": [v["version"] for v in versions],
            "y": [v["accuracy"] for v in versions],
            "text": [v["approval"] for v in versions],
            "marker": {"size": 10, "symbol": [symbols.get(v["approval"], "circle") for v in versions]},
            "hovertemplate": "v%{x}: %{y:.4f} (%{text})<extra></extra>",
        }
    ]
    layout = {"title": {"text": "holdout accuracy by version"}, "xaxis": {"title": {"text": "version"}, "dtick": 1}}
    return {"data": data, "layout": layout}


@router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
def version_page(request: Request, backend: BackendDep, name: str, version: int, done: str = "") -> HTMLResponse:
    record = operator.known_version(backend, name, version)
    aliases = backend.registry.aliases(name)
    run = _run_of(backend, record)
    return render(
        request,
        "models_version.html",
        v=record,
        aliases=sorted(a for a, at in aliases.items() if at == version),
        champion=aliases.get(SERVING_ALIAS),
        serving_alias=SERVING_ALIAS,
        run=run,
        evaluation=evaluation_of(run),
        done=DONE.get(done),
    )


def _run_of(backend: operator.Backend, version: ModelVersion) -> PipelineRun | None:
    try:
        return operator.get_run(backend, version.run_id) if version.run_id else None
    except operator.NotFound:
        return None  # registered by a run the metadata store no longer holds: the page says so


def evaluation_of(run: PipelineRun | None) -> dict[str, Any] | None:
    """What the run's Evaluate step recorded: the candidate's and the then-champion's metrics on the same holdout,
    the gate and its verdict."""
    if run is None:
        return None
    recorded = next((s.outputs for s in run.steps if s.step == "Evaluate" and s.outputs), None)
    if not recorded:
        return None
    candidate = dict(recorded.get("metrics") or {})
    champion = recorded.get("champion") or None
    champion_metrics = dict(champion.get("metrics") or {}) if champion else {}
    names = sorted(set(champion_metrics) | {k for k in candidate if not k.startswith("predicted_share.")})
    rows = []
    for metric in names:
        mine, theirs = candidate.get(metric), champion_metrics.get(metric)
        delta = mine - theirs if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)) else None
        rows.append({"metric": metric, "candidate": mine, "champion": theirs, "delta": delta})
    return {
        "rows": rows,
        "champion_version": champion.get("version") if champion else None,
        "holdout_rows": recorded.get("holdout_rows"),
        "gate": recorded.get("gate") or {},
        "passed": recorded.get("passed"),
        "reason": recorded.get("reason", ""),
        "per_class_f1": recorded.get("per_class_f1") or {},
    }


# -- decisions: POST forms, CSRF-checked, one registry call each -----------------------------------------------------
def _reason(fields: dict[str, str]) -> str:
    reason = required(fields, "reason", "a reason (it is recorded with the decision)")
    if len(reason) > MAX_REASON:
        raise BadInput(f"the reason is {len(reason)} characters; at most {MAX_REASON} are recorded")
    return " ".join(reason.split())


def _refusals(call: Any) -> Any:
    try:
        return call()
    except (RegistryConflictError, ModelNotApprovedError) as exc:
        raise Refused(str(exc)) from None
    except ValueError as exc:  # the registry's and the operator's checks of a value (an alias name, a rollback)
        raise BadInput(str(exc)) from None


@router.post("/models/{name}/versions/{version}/approve")
def approve(backend: BackendDep, fields: CheckedForm, name: str, version: int) -> RedirectResponse:
    reason = _reason(fields)
    _refusals(lambda: operator.decide(backend, name, version, approve=True, reason=reason))
    return RedirectResponse(f"{version_url(name, version)}?done=approved", status_code=303)


@router.post("/models/{name}/versions/{version}/reject")
def reject(backend: BackendDep, fields: CheckedForm, name: str, version: int) -> RedirectResponse:
    reason = _reason(fields)
    _refusals(lambda: operator.decide(backend, name, version, approve=False, reason=reason))
    return RedirectResponse(f"{version_url(name, version)}?done=rejected", status_code=303)


@router.post("/models/{name}/versions/{version}/promote")
def promote(backend: BackendDep, fields: CheckedForm, name: str, version: int) -> RedirectResponse:
    reason = _reason(fields)
    alias = required(fields, "alias", "the alias to move")
    _refusals(lambda: operator.promote(backend, name, version, alias=alias, reason=reason))
    return RedirectResponse(f"{model_url(name)}?done=promoted", status_code=303)  # where the alias history is


@router.post("/models/{name}/rollback")
def rollback(backend: BackendDep, fields: CheckedForm, name: str) -> RedirectResponse:
    reason = _reason(fields)
    alias = required(fields, "alias", "the alias to roll back")
    _refusals(lambda: operator.rollback(backend, name, alias=alias, reason=reason))
    return RedirectResponse(f"{model_url(name)}?done=rolled-back", status_code=303)
