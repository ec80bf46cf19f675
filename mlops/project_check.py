"""``mlops project check``: load a project, run its sample data through its rules, print what it defines.

Like ``feast plan``: nothing is deployed. A broken project ends in one line naming the file,
the definition and the field (``ProjectError``), never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from functions.project import load_project
from functions.project.samples import check_sample_data
from functions.shared.errors import MlopsError


def check_command(path: Path, *, console: Console | None = None) -> int:
    console = console or Console(highlight=False)
    try:
        project = load_project(path)
        samples = check_sample_data(project)
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
