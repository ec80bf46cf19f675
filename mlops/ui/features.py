"""Feature pages: the project's feature views with their versions, TTLs and freshness, and the feature
pipeline's runs with what each quarantined.

Freshness is read where the pipeline keeps it: a view's committed offline writes are its commit log
(``OfflineStore.committed``: the last write's created time), and the online store's materialization
watermark (``OnlineStore.watermark``, a position in that log) says through which write the online table is
filled; a write past it is pending. The runs are the metadata store's runs of the pipeline ``features``
(the ones ``mlops runs list --pipeline features`` lists): a finished run's summary holds its counts; a
refused one left its report under ``quarantine/<source>/<run>.json`` in the offline bucket, where ``mlops
features ingest`` reads it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from functions.feature_store.commit_log import Commit
from functions.feature_store.definitions import FeatureView
from functions.metadata.metadata_store import PipelineRun
from mlops import operator
from mlops.ui.lineage import view_lineage_url
from mlops.ui.pages import BackendDep, feature_view_url, render

router = APIRouter()

# How many feature pipeline runs the pages list (newest first).
SHOWN_RUNS = 50


def view_facts(view: FeatureView) -> dict[str, Any]:
    """A view's definition as the page shows it."""
    return {
        "name": view.name,
        "version": view.version,
        "ref": f"{view.name}:v{view.version}",
        "source": view.source,
        "ttl": str(view.ttl),
        "join_keys": list(view.join_keys),
        "features": [{"name": f.name, "dtype": str(f.dtype.value), "nullable": f.nullable} for f in view.schema],
        "rule": str(view.transformation),
        "description": view.description,
        "lineage_url": view_lineage_url(view.name, view.version),
    }


def freshness(commits: list[Commit], watermark: int, *, online: bool = True) -> dict[str, Any]:
    """What the view's committed writes and its materialization watermark say of its freshness.

    ``commits``: the view's offline commit log in order (``OfflineStore.committed``); ``watermark``: the
    position materialization has copied online through (``OnlineStore.watermark``: 0 before the first);
    ``online`` False: a view never materialized (a model's feedback view: labelled rows for training only).
    """
    last = commits[-1] if commits else None
    pending = [c for c in commits if c.position > watermark] if online else []
    through = next((c for c in reversed(commits) if c.position <= watermark), None)
    if last is None:
        state = "no write yet"
    elif not online:
        state = "offline only (training rows)"
    elif not pending:
        state = "online store up to date"
    else:
        state = f"{len(pending)} write{'s' if len(pending) != 1 else ''} not materialized yet"
    return {
        "writes": len(commits),
        "rows": sum(c.manifest.rows for c in commits),
        "last_write": last.manifest.created_timestamp if last else None,
        "last_write_id": last.manifest.write_id if last else None,
        "watermark": watermark,
        "watermark_write": through.manifest.created_timestamp if through else None,
        "pending": len(pending),
        "state": state,
        "up_to_date": last is not None and not pending,
    }


def write_rows(commits: list[Commit], watermark: int) -> list[dict[str, Any]]:
    """A view's writes, newest first, each marked materialized or not."""
    return [
        {
            "position": c.position,
            "write_id": c.manifest.write_id,
            "created": c.manifest.created_timestamp,
            "rows": c.manifest.rows,
            "files": len(c.manifest.files),
            "months": sorted({f.event_month for f in c.manifest.files}),
            "source_uri": c.manifest.source_uri,
            "materialized": c.position <= watermark,
        }
        for c in reversed(commits)
    ]


def run_counts(run: PipelineRun, report: dict[str, Any] | None) -> dict[str, Any]:
    """A feature run's row counts and where its quarantined rows are: from its summary when it finished, else
    from the validation report it left (a refused file); ``None`` counts when neither was written."""
    summary = run.summary or {}
    counts = summary.get("counts") or (report or {})
    writes = [w for w in summary.get("writes") or [] if isinstance(w, dict) and "view" in w]
    reasons = (report or {}).get("reasons") or {}
    return {
        "rows_in": counts.get("rows_in"),
        "rows_valid": counts.get("rows_valid"),
        "rows_quarantined": counts.get("rows_quarantined"),
        "reasons": reasons,
        "quarantine_uri": summary.get("quarantine_uri") or (report or {}).get("quarantine_uri"),
        "writes": [f"{w['view']}:v{w['version']}: {w['rows']} rows{'' if w.get('written') else ' (already ingested)'}"
                   for w in writes],
    }


def run_source(run: PipelineRun, sources: list[str]) -> str | None:
    """The raw source a run read, from the object key its trigger names (``raw/<kind>/<source>/...``)."""
    parts = str(run.trigger.get("key") or "").split("/")
    return next((part for part in parts[2:3] if part in sources), None)


def feature_runs(backend: operator.Backend, *, limit: int = SHOWN_RUNS) -> list[dict[str, Any]]:
    """The newest feature pipeline runs, each with its counts (a refused run's from its quarantine report)."""
    sources = [] if backend.project is None else [s.name for s in backend.project.sources]
    shown = []
    for run in backend.metadata.list_runs("features", limit=limit):
        source = run_source(run, sources)
        counts = (run.summary or {}).get("counts") or {}
        report = None
        # The report holds the reasons: read it when rows were quarantined, or when the run left no counts.
        if (counts.get("rows_quarantined") or not counts) and backend.offline is not None and source is not None:
            report = backend.offline.get_json(f"quarantine/{source}/{run.run_id}.json")
        error = run.error or {}
        shown.append({
            "run_id": run.run_id, "status": run.status, "started_at": run.started_at, "ended_at": run.ended_at,
            "trigger": run.trigger, "source": source, "error": error.get("Error") if error else None,
            **run_counts(run, report if isinstance(report, dict) else None),
        })  # fmt: skip
    return shown


def _feedback_views(backend: operator.Backend) -> set[str]:
    project = backend.project
    return set() if project is None else {project.feedback_view(m).qualified_name for m in project.models}


def _views(backend: operator.Backend) -> list[FeatureView]:
    if backend.project is None:
        raise operator.NotFound("the UI was started without a project, so its feature views are unknown: "
                                "pass --project PATH (the folder the stack was synthesized with)")  # fmt: skip
    # The project's views, then each model's feedback view (the toolkit's own: the monitor writes its labels there).
    project = backend.project
    return [*project.feature_views, *(project.feedback_view(model) for model in project.models)]


def _freshness_of(backend: operator.Backend, view: FeatureView) -> tuple[list[Commit], int]:
    commits = backend.offline.committed(view) if backend.offline is not None else []
    watermark = backend.online.watermark(view) if backend.online is not None else 0
    return commits, watermark


@router.get("/features", response_class=HTMLResponse)
def features_index(request: Request, backend: BackendDep) -> HTMLResponse:
    views, offline_only = [], _feedback_views(backend)
    for view in _views(backend):
        commits, watermark = _freshness_of(backend, view)
        served = view.qualified_name not in offline_only
        views.append({**view_facts(view), **freshness(commits, watermark, online=served),
                      "url": feature_view_url(view.name)})  # fmt: skip
    return render(request, "features_index.html", views=views, runs=feature_runs(backend))


@router.get("/features/{name}", response_class=HTMLResponse)
def feature_view_page(request: Request, backend: BackendDep, name: str) -> HTMLResponse:
    all_views = _views(backend)
    versions = sorted((v for v in all_views if v.name == name), key=lambda v: -v.version)
    if not versions:
        known = ", ".join(sorted({v.name for v in all_views}))
        raise operator.NotFound(f"no feature view {name!r} in the project (views: {known})")
    shown, offline_only = [], _feedback_views(backend)
    for view in versions:
        commits, watermark = _freshness_of(backend, view)
        served = view.qualified_name not in offline_only
        shown.append({**view_facts(view), **freshness(commits, watermark, online=served),
                      "write_rows": write_rows(commits, watermark)})  # fmt: skip
    runs = [r for r in feature_runs(backend) if r["source"] in {v.source for v in versions}]
    return render(request, "features_view.html", name=name, versions=shown, runs=runs,
                  lineage_all=view_lineage_url(name))  # fmt: skip
