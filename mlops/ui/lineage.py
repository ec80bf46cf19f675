"""Lineage pages: the graph from trigger and data to run, model version, alias change and deployment.

The chains come from the CLI's functions (``operator.lineage``: both directions around a model version;
``feature_view_lineage`` and ``dataset_lineage``: downstream of a feature view or a training set; the
metadata store's ``downstream`` for any other node, such as a run). The graph is drawn with the app's chart
library (Plotly): nodes in layers by their longest path from a source, so the picture reads left to right
from data and trigger to deployment. A click on a node shows its facts and links: re-centre the graph on it,
or open its own page (a run, a model version, a feature view, a monitor run).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from functions.metadata.metadata_store import Edge, Lineage, Node, parse_view_ref
from mlops import operator
from mlops.ui.monitoring import monitor_run_url
from mlops.ui.pages import BackendDep, BadInput, feature_view_url, render, run_url, version_url

router = APIRouter()

# One colour per kind (colour-blind safe palette, Okabe-Ito), in the order the chain reads.
KIND_COLOURS = {
    "feature_view": "#0072B2",
    "dataset": "#56B4E9",
    "monitor_run": "#CC79A7",
    "trigger": "#E69F00",
    "trial": "#999999",
    "run": "#009E73",
    "model": "#D55E00",
    "alias_change": "#F0E442",
    "deployment": "#000000",
}


def centre_url(node_id: str) -> str:
    """The lineage page centred on ``node_id``."""
    return f"/lineage/nodes/{quote(node_id, safe='')}"


def view_lineage_url(name: str, version: int | None = None) -> str:
    """Everything downstream of a feature view (every version, or ``name:vN``)."""
    return f"/lineage/feature-views/{quote(name if version is None else f'{name}:v{version}', safe='')}"


def dataset_url(sha256: str) -> str:
    """Everything downstream of a training set (its manifest's sha256, or its data's)."""
    return f"/lineage/datasets/{quote(sha256, safe='')}"


def page_url(node: Node) -> str | None:
    """The node's own page in the app, when it has one."""
    a = node.attributes
    if node.kind == "model" and "model_name" in a and "version" in a:
        return version_url(str(a["model_name"]), int(a["version"]))
    if node.kind in ("run", "trial") and a.get("run_id"):
        return run_url(str(a["run_id"]))
    if node.kind == "trigger":
        return run_url(node.id.removeprefix("trigger:"))
    if node.kind == "feature_view" and a.get("name"):
        return feature_view_url(str(a["name"]))
    if node.kind == "monitor_run" and a.get("model_name") and a.get("run_id"):
        return monitor_run_url(str(a["model_name"]), str(a["run_id"]))
    return None


def node_label(node: Node) -> str:
    """A short name for the node on the graph (its id and attributes are in its details)."""
    a, key = node.attributes, node.id.partition(":")[2]
    if node.kind == "model":
        return f"{a.get('model_name', '?')} v{a.get('version', '?')}"
    if node.kind == "feature_view":
        return f"{a['name']}:v{a['version']}" if "version" in a else f"{a.get('name', key)} (all)"
    if node.kind == "dataset":
        return f"dataset {key[:10]}"
    if node.kind == "run":
        return f"{a.get('pipeline', 'run')} run {key[:15]}"
    if node.kind == "trial":
        return f"trial {a.get('trial', '?')}"
    if node.kind == "trigger":
        return f"trigger: {a.get('type', '?')}"
    if node.kind == "alias_change":
        to, came = a.get("to_version"), a.get("from_version")
        move = f"v{came}->v{to}" if came is not None and to is not None else f"v{to}" if to is not None else "removed"
        return f"{a.get('alias', '?')}: {move}"
    if node.kind == "deployment":
        return f"deployment {a.get('status', '')}".strip()
    if node.kind == "monitor_run":
        return f"monitor {str(a.get('run_id', key))[:15]}"
    return node.id


def layers(nodes: dict[str, Node], edges: tuple[Edge, ...]) -> dict[str, int]:
    """Each node's layer: the length of the longest path to it from a node nothing points to.

    Lineage is a DAG; should an edge ever close a cycle, no layer passes the longest possible simple path
    (one less than the number of nodes), so the relaxation ends.
    """
    layer = dict.fromkeys(nodes, 0)
    inside = [e for e in edges if e.source in nodes and e.target in nodes]
    deepest = max(len(nodes) - 1, 0)
    for _ in range(len(nodes)):
        moved = False
        for edge in inside:
            if layer[edge.target] < min(layer[edge.source] + 1, deepest):
                layer[edge.target] = min(layer[edge.source] + 1, deepest)
                moved = True
        if not moved:
            break
    return layer


def positions(chain: Lineage) -> dict[str, tuple[float, float]]:
    """``(x, y)`` of each node: x its layer, y its rank in the layer (kind, then id), centred on 0."""
    by_layer: dict[int, list[Node]] = {}
    for node_id, depth in layers(chain.nodes, chain.edges).items():
        by_layer.setdefault(depth, []).append(chain.nodes[node_id])
    placed: dict[str, tuple[float, float]] = {}
    kinds = list(KIND_COLOURS)
    for depth, members in by_layer.items():
        members.sort(key=lambda n: (kinds.index(n.kind) if n.kind in kinds else len(kinds), n.id))
        for rank, node in enumerate(members):
            placed[node.id] = (float(depth), (len(members) - 1) / 2 - rank)
    return placed


def node_details(node: Node, root: str) -> dict[str, Any]:
    """What the page shows of a node (the table row, and the panel a click opens)."""
    return {
        "id": node.id,
        "kind": node.kind,
        "label": node_label(node),
        "attributes": {k: _text(v) for k, v in sorted(node.attributes.items())},
        "centre_url": centre_url(node.id),
        "page_url": page_url(node),
        "root": node.id in root.split(","),
    }


def graph_figure(chain: Lineage) -> dict[str, Any]:
    """The chain as a Plotly figure (data and layout, JSON-ready): one marker trace per kind, an arrow
    annotation per edge and an invisible point at each edge's middle whose hover names its relation (an
    annotation with hover text would lie over its source node and take its clicks). Each node's
    ``customdata`` is its id (the page's click handler looks up its details)."""
    placed = positions(chain)
    roots = set(chain.root.split(","))
    middles: list[tuple[float, float, str]] = []
    arrows = []
    for edge in chain.edges:
        if edge.source not in placed or edge.target not in placed:
            continue
        (x0, y0), (x1, y1) = placed[edge.source], placed[edge.target]
        middles.append(((x0 + x1) / 2, (y0 + y1) / 2, f"{edge.relation}<br>{edge.source} -> {edge.target}"))
        arrows.append({
            "x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x", "ayref": "y",
            "showarrow": True, "arrowhead": 2, "arrowsize": 1.2, "arrowwidth": 1.2, "arrowcolor": "#888",
            "standoff": 11, "startstandoff": 11, "text": "",
        })  # fmt: skip
    data: list[dict[str, Any]] = [{
        "type": "scatter", "mode": "markers", "name": "relation", "showlegend": False, "hoverinfo": "text",
        "x": [m[0] for m in middles], "y": [m[1] for m in middles], "hovertext": [m[2] for m in middles],
        "marker": {"size": 10, "opacity": 0},
    }]  # fmt: skip
    present = sorted({n.kind for n in chain.nodes.values()}, key=lambda k: list(KIND_COLOURS).index(k)
                     if k in KIND_COLOURS else len(KIND_COLOURS))  # fmt: skip
    for kind in present:
        members = sorted((n for n in chain.nodes.values() if n.kind == kind), key=lambda n: n.id)
        data.append({
            "type": "scatter", "mode": "markers+text", "name": kind,
            "x": [placed[n.id][0] for n in members], "y": [placed[n.id][1] for n in members],
            "text": [node_label(n) for n in members],
            # Labels above and below in turn from layer to layer, so neighbours' labels do not run into each other.
            "textposition": ["top center" if int(placed[n.id][0]) % 2 else "bottom center" for n in members],
            "customdata": [n.id for n in members],
            "hovertext": [f"{n.id}<br>" + "<br>".join(f"{k}={_text(v)[:60]}" for k, v in sorted(n.attributes.items()))
                          for n in members],
            "hoverinfo": "text",
            "marker": {
                "size": [22 if n.id in roots else 14 for n in members],
                "color": KIND_COLOURS.get(kind, "#666"),
                "line": {"width": [3 if n.id in roots else 1 for n in members], "color": "#333"},
            },
        })  # fmt: skip
    width = max((x for x, _ in placed.values()), default=0)
    height = max((abs(y) for _, y in placed.values()), default=0)
    layout = {
        "showlegend": True, "legend": {"orientation": "h", "y": -0.02}, "hovermode": "closest",
        "margin": {"l": 20, "r": 20, "t": 30, "b": 20}, "annotations": arrows,
        "height": max(360, 110 * (2 * height + 1)),
        "xaxis": {"visible": False, "range": [-0.6, width + 0.6]},
        "yaxis": {"visible": False, "range": [-height - 0.6, height + 0.6]},
    }  # fmt: skip
    return {"data": data, "layout": layout}


def page_model(chain: Lineage, *, title: str, direction: str) -> dict[str, Any]:
    """Everything a lineage page renders: the figure, the nodes by kind (root first), the edges."""
    order = list(KIND_COLOURS)
    nodes = sorted(chain.nodes.values(), key=lambda n: (order.index(n.kind) if n.kind in order else len(order), n.id))
    return {
        "title": title,
        "direction": direction,
        "root": chain.root,
        "figure": graph_figure(chain),
        "nodes": [node_details(n, chain.root) for n in nodes],
        "edges": [{"source": e.source, "target": e.target, "relation": e.relation} for e in chain.edges],
    }


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


# -- routes --------------------------------------------------------------------------------------------------------
@router.get("/lineage", response_class=HTMLResponse)
def lineage_index(request: Request, backend: BackendDep) -> HTMLResponse:
    """Where a graph can start: each model version, each feature view, each training set."""
    versions = [v for name in backend.registry.list_models() for v in backend.registry.list_versions(name)]
    versions.sort(key=lambda v: (v.model_name, -v.version))
    datasets: dict[str, list[str]] = {}
    for v in versions:
        if v.manifest_sha256:
            datasets.setdefault(v.manifest_sha256, []).append(f"{v.model_name} v{v.version}")
    views = [] if backend.project is None else [(v.name, v.version) for v in backend.project.feature_views]
    return render(
        request, "lineage_index.html", versions=versions, datasets=datasets, views=views,
        view_lineage_url=view_lineage_url, dataset_url=dataset_url,
    )  # fmt: skip


@router.get("/lineage/models/{name}/versions/{version}", response_class=HTMLResponse)
def version_lineage(request: Request, backend: BackendDep, name: str, version: int) -> HTMLResponse:
    chain = operator.lineage(backend, name, version)
    return _graph_page(request, chain, f"Lineage of {name} v{version}", "upstream and downstream of the version")


@router.get("/lineage/feature-views/{ref}", response_class=HTMLResponse)
def feature_view_lineage(request: Request, backend: BackendDep, ref: str) -> HTMLResponse:
    try:
        parse_view_ref(ref)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    try:
        chain = operator.feature_view_lineage(backend, ref)
    except ValueError as exc:  # the ref is well formed: nothing recorded from that view
        raise operator.NotFound(str(exc)) from None
    return _graph_page(request, chain, f"Lineage of feature view {ref}", "downstream of the feature view")


@router.get("/lineage/datasets/{sha256}", response_class=HTMLResponse)
def dataset_lineage(request: Request, backend: BackendDep, sha256: str) -> HTMLResponse:
    try:
        chain = operator.dataset_lineage(backend, sha256)
    except ValueError as exc:
        raise operator.NotFound(str(exc)) from None
    return _graph_page(request, chain, f"Lineage of training set {sha256[:12]}", "downstream of the training set")


@router.get("/lineage/runs/{run_id}", response_class=HTMLResponse)
def run_lineage(request: Request, backend: BackendDep, run_id: str) -> HTMLResponse:
    return node_lineage(request, backend, f"run:{run_id}")


@router.get("/lineage/nodes/{node_id:path}", response_class=HTMLResponse)
def node_lineage(request: Request, backend: BackendDep, node_id: str) -> HTMLResponse:
    """The graph re-centred on any node: a model version both ways, anything else downstream."""
    kind, _, key = node_id.partition(":")
    if kind == "model":
        name, _, version = key.rpartition(":")
        if not name or not version.isdigit():
            raise BadInput(f"a model node is model:NAME:VERSION, got {node_id!r}")
        return version_lineage(request, backend, name, int(version))
    if kind == "feature_view":
        return feature_view_lineage(request, backend, key)
    if kind == "dataset":
        return dataset_lineage(request, backend, key)
    if kind not in KIND_COLOURS:
        raise BadInput(f"{node_id!r} is not a lineage node id (KIND:KEY, KIND one of {', '.join(KIND_COLOURS)})")
    try:
        chain = backend.metadata.downstream(node_id)
    except KeyError:
        raise operator.NotFound(f"no lineage node {node_id!r} is recorded") from None
    return _graph_page(request, chain, f"Lineage from {node_label(chain.nodes[node_id])}", f"downstream of the {kind}")


def _graph_page(request: Request, chain: Lineage, title: str, direction: str) -> HTMLResponse:
    return render(request, "lineage_graph.html", **page_model(chain, title=title, direction=direction))
