"""Run a project's sample data through its source's checks and every view's rule (synth and ``project check``).

A rule that emits a column its view does not declare, or lacks one it does, is found here,
before anything deploys, with the file and the view named.
"""

from __future__ import annotations

from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import read_raw_table, validate_rows
from functions.project.definition import Project
from functions.shared.errors import MlopsError, ProjectError


def check_sample_data(project: Project) -> list[str]:
    """One line per step that ran; ``ProjectError`` naming file and view when a rule breaks its view."""
    if project.demo is None or project.root is None:
        return ["no sample data declared (Project.demo): rules were not run"]
    path = project.root / project.demo.data
    if not path.is_file():
        raise ProjectError(
            f"{project.root / 'project.py'}: demo data {project.demo.data!r} is not a file in the project"
        )
    source = project.raw_source(project.demo.source)
    try:
        result = validate_rows(
            read_raw_table(path.read_bytes(), path.name), source.schema, unique_keys=source.unique_keys
        )
    except MlopsError as exc:
        raise ProjectError(f"{path}: raw source {source.name!r}: {exc}") from exc
    lines = [
        f"{project.demo.data}: {result.rows_in} rows, {result.rows_valid} valid, {result.rows_quarantined} quarantined"
    ]
    for view in project.views_of_source(source.name):
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
