"""Run a project's sample data through its source's checks and every view's rule (synth and ``project check``).

A rule that emits a column its view does not declare, or lacks one it does, is found here,
before anything deploys, with the file and the view named.
"""

from __future__ import annotations

from pathlib import Path

from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import ValidationResult, read_raw_table, validate_rows
from functions.project.definition import Project
from functions.shared.errors import MlopsError, ProjectError


def sample_file(project: Project) -> Path:
    """The project's sample data file (its ``DemoScenario.data``), or a ``ProjectError`` saying what is missing."""
    if project.demo is None or project.root is None:
        raise ProjectError(
            f"project {project.name!r} declares no sample data: add demo=DemoScenario(source=..., data=..., "
            "traffic_from=..., shift={...}) to its Project(...)"
        )
    path = project.root / project.demo.data
    if not path.is_file():
        raise ProjectError(
            f"{project.root / 'project.py'}: demo data {project.demo.data!r} is not a file in the project"
        )
    return path


def validated_sample(project: Project) -> ValidationResult:
    """The sample data read and validated as the feature pipeline reads and validates a raw file."""
    path = sample_file(project)
    assert project.demo is not None
    source = project.raw_source(project.demo.source)
    try:
        table = read_raw_table(path.read_bytes(), path.name)
        return validate_rows(table, source.schema, unique_keys=source.unique_keys)
    except MlopsError as exc:
        raise ProjectError(f"{path}: raw source {source.name!r}: {exc}") from exc


def check_sample_data(project: Project) -> list[str]:
    """One line per step that ran; ``ProjectError`` naming file and view when a rule breaks its view."""
    if project.demo is None or project.root is None:
        return ["no sample data declared (Project.demo): rules were not run"]
    result = validated_sample(project)
    lines = [
        f"{project.demo.data}: {result.rows_in} rows, {result.rows_valid} valid, {result.rows_quarantined} quarantined"
    ]
    for view in project.views_of_source(project.demo.source):
        try:
            rows = apply_transformation(view, result.valid)
        except MlopsError as exc:
            raise ProjectError(f"{project.root / 'project.py'}: feature view {view.qualified_name!r}: {exc}") from exc
        except Exception as exc:
            raise ProjectError(
                f"{project.root / 'project.py'}: feature view {view.qualified_name!r}: rule {view.transformation} "
                f"raised {type(exc).__name__}: {exc}"
            ) from exc
        lines.append(f"{view.qualified_name}: rule {view.transformation} produced {len(rows)} rows")
    return lines
