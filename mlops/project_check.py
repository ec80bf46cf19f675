"""``mlops project check``: load a project, run its sample data through its rules, print what it defines.

Like ``feast plan``: nothing is deployed. A broken project ends in one line naming the file,
the definition and the field (``ProjectError``), never a traceback.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from rich.console import Console

from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import validate_rows
from functions.project import Project, load_project
from functions.shared.errors import MlopsError


def sample_check(project: Project) -> list[str]:
    """Run the demo's sample data through validation and every view's rule of its source; one line per view."""
    if project.demo is None or project.root is None:
        return ["no demo data declared: rules were not run on sample data"]
    from mlops.demo import demo_data

    source = project.raw_source(project.demo.source)
    raw = pd.read_csv(io.BytesIO(demo_data(project)))
    result = validate_rows(raw, source.schema, unique_keys=source.unique_keys)
    lines = [
        f"{project.demo.data}: {result.rows_in} rows, {result.rows_valid} valid, {result.rows_quarantined} quarantined"
    ]
    for view in project.views_of_source(source.name):
        try:
            rows = apply_transformation(view, result.valid)
        except MlopsError as exc:
            raise MlopsError(f"{project.root / 'project.py'}: feature view {view.qualified_name!r}: {exc}") from exc
        lines.append(f"{view.qualified_name}: rule {view.transformation} produced {len(rows)} rows")
    return lines


def check_command(path: Path, *, console: Console | None = None) -> int:
    console = console or Console(highlight=False)
    try:
        project = load_project(path)
        samples = sample_check(project)
    except MlopsError as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        return 1
    described = project.describe()
    console.print(f"[bold]project {project.name}[/] ({project.root}) is valid", soft_wrap=True)
    for source in described["sources"]:
        console.print(f"raw source   {source['name']}: {', '.join(source['fields'])}; unique {source['unique']}",
                      soft_wrap=True)  # fmt: skip
    for view in described["feature_views"]:
        console.print(
            f"feature view {view['view']} ({', '.join(view['entities'])}; ttl {view['ttl']}; rule {view['rule']}): "
            + ", ".join(view["features"]),
            soft_wrap=True,
        )
    for model in described["models"]:
        gate = model["gate"]
        floors = ", ".join(f"{k} {v}" for k, v in gate["floors"].items())
        console.print(
            f"model        {model['model']} ({model['task']}, {model['estimator']}): {', '.join(model['features'])} "
            f"-> {model['label']}; gate {gate['primary_metric']} vs champion (tolerance {gate['tolerance']})"
            + (f", floors {floors}" if floors else ""),
            soft_wrap=True,
        )
    for line in samples:
        console.print(f"sample data  {line}", soft_wrap=True)
    return 0
