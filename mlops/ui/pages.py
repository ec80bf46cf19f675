"""What every page module shares: the Backend a route reads, the templates, the URL scheme, the page errors.

A route takes the backend as a parameter (``backend: BackendDep``), reads through the operator's functions
(``mlops.operator``, ``mlops.experiments``) and returns ``render(request, "x.html", key=value)``; a template
links to another page through the URL helpers (``run_url(...)`` and the rest, Jinja globals too), never by
writing a path itself. An unknown run or model is ``operator.NotFound`` (a 404 page), a bad form or query value
``BadInput`` (a 400 page): both one line, never a traceback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from mlops.operator import Backend
from mlops.ui.csrf import COOKIE, FIELD, CsrfRefused, CsrfTokens

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")


class BadInput(ValueError):
    """A form field or query parameter the page cannot use: a 400 page with this one line."""


class Refused(Exception):
    """The registry refused a decision (already decided, not approved, moved concurrently): a 409 page."""


# -- the backend ---------------------------------------------------------------------------------------------------
def get_backend(request: Request) -> Backend:
    """The Backend the app was created over (``create_app(backend)``)."""
    backend: Backend = request.app.state.backend
    return backend


BackendDep = Annotated[Backend, Depends(get_backend)]


# -- URLs: one place for the scheme --------------------------------------------------------------------------------
def _q(part: object) -> str:
    return quote(str(part), safe="")


def runs_url(**filters: str | None) -> str:
    query = {k: v for k, v in filters.items() if v}
    return "/runs" + (f"?{urlencode(query)}" if query else "")


def run_url(run_id: str) -> str:
    return f"/runs/{_q(run_id)}"


def compare_url(run_ids: Iterable[str]) -> str:
    return f"/runs/compare?{urlencode({'ids': ','.join(run_ids)})}"


def models_url() -> str:
    return "/models"


def model_url(name: str) -> str:
    return f"/models/{_q(name)}"


def version_url(name: str, version: int) -> str:
    return f"/models/{_q(name)}/versions/{int(version)}"


def lineage_url(name: str, version: int) -> str:
    """A model version's lineage graph (engineer G's page, ``mlops/ui/lineage.py``)."""
    return f"/lineage/models/{_q(name)}/versions/{int(version)}"


def feature_view_url(name: str) -> str:
    """A feature view's page (``mlops/ui/features.py``)."""
    return f"/features/{_q(name)}"


def monitoring_url(model: str) -> str:
    """A model's monitor runs over time (``mlops/ui/monitoring.py``)."""
    return f"/monitoring/{_q(model)}"


# -- values as a page shows them -----------------------------------------------------------------------------------
def shown(value: Any) -> str:
    """A value for a table cell: ``—`` for none, floats to 4 significant digits, dicts and lists as JSON."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def duration(start: str | None, end: str | None) -> str:
    """``12.3 s`` between two ISO-8601 times; ``—`` when either is missing."""
    if not start or not end:
        return "—"
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


templates.env.globals.update(
    runs_url=runs_url, run_url=run_url, compare_url=compare_url, models_url=models_url, model_url=model_url,
    version_url=version_url, lineage_url=lineage_url, feature_view_url=feature_view_url,
    monitoring_url=monitoring_url, shown=shown, duration=duration,
)  # fmt: skip


# -- rendering -----------------------------------------------------------------------------------------------------
def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` (it extends base.html) with ``context``; the CSRF token for its forms and the navigation added."""
    tokens: CsrfTokens = request.app.state.csrf
    nonce = request.cookies.get(COOKIE) or CsrfTokens.new_nonce()
    response = templates.TemplateResponse(
        request,
        template,
        {
            "csrf_field": FIELD,
            "csrf_token": tokens.token(nonce),
            "pages": request.app.state.pages,
            "identity": request.app.state.identity(),
            **context,
        },
        status_code=status_code,
    )
    if request.cookies.get(COOKIE) != nonce:
        response.set_cookie(COOKIE, nonce, httponly=True, samesite="strict", path="/")
    return response


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """A one-line error page (no traceback): what is wrong and, where it helps, what to do."""
    return render(request, "error.html", status_code=status_code, code=status_code, message=" ".join(message.split()))


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form's fields, after its CSRF token is verified against the browser's cookie (``CsrfRefused``)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    tokens: CsrfTokens = request.app.state.csrf
    tokens.verify(fields.pop(FIELD, None), request.cookies.get(COOKIE))
    return fields


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


def required(fields: dict[str, str], name: str, what: str) -> str:
    """A form field that must not be blank (``BadInput`` naming it)."""
    value = fields.get(name, "").strip()
    if not value:
        raise BadInput(f"{what} is required")
    return value


__all__ = [
    "BackendDep", "BadInput", "CheckedForm", "CsrfRefused", "Refused", "checked_form", "error_page", "get_backend",
    "render", "required", "templates",
]  # fmt: skip
