"""Load a project from its folder: ``project.py`` defines ``project = Project(...)``.

The folder is the user's own (its own git repository, anywhere on disk). It is chosen once:
``cdk synth -c project=PATH`` ships it in the function image and sets ``MLOPS_PROJECT_DIR``
for every function; every ``mlops`` command takes ``--project PATH``. Loading executes
``project.py`` (as Feast executes a feature repository) and checks it; any mistake becomes
one ``ProjectError`` naming the file (and line, where the mistake raised there) and the
definition and field at fault.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import traceback
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from functions.project.definition import Project
from functions.shared.errors import ConfigurationError, ProjectError

PROJECT_FILE = "project.py"
_loads = itertools.count(1)
# Held while a project is loaded. Lambda runs one invocation per process, so nothing is needed; a local cloud that
# runs functions in this process swaps the toolkit's modules in sys.modules during each invocation and sets its
# invocation lock here (mlops/local/lambda_runtime.py), so a project loaded outside an invocation (the CLI beside
# an in-process cloud) never imports while another thread's invocation has the modules swapped.
import_guard: AbstractContextManager[object] = nullcontext()


def project_file(path: str | Path) -> Path:
    """The ``project.py`` of a project folder (or the file itself), or a ``ProjectError``."""
    given = Path(path).expanduser()
    file = given / PROJECT_FILE if given.is_dir() else given
    if not file.is_file():
        raise ProjectError(
            f"{given}: no {PROJECT_FILE} found; a project is a folder whose {PROJECT_FILE} defines "
            "`project = Project(...)` (create one with `mlops init DIR`)"
        )
    return file.resolve()


def load_project(path: str | Path) -> Project:
    """Execute the project's ``project.py`` and return its checked ``Project``."""
    file = project_file(path)
    # A fresh module per load: the local cloud loads a project once per function version, each
    # against its own copy of the toolkit's modules, as separate Lambda containers would.
    name = f"_mlops_project_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with import_guard:
        try:
            spec.loader.exec_module(module)
        except ConfigurationError as exc:
            raise ProjectError(f"{_where(file, exc)}: {exc}") from exc
        except SyntaxError as exc:
            raise ProjectError(f"{file}:{exc.lineno}: syntax error: {exc.msg}") from exc
        except Exception as exc:
            raise ProjectError(f"{_where(file, exc)}: {type(exc).__name__}: {exc}") from exc
        # The Project class the file saw: the local cloud gives each function version its own copy of the
        # toolkit's modules, so this module's own ``Project`` may be another copy's.
        current = importlib.import_module("functions.project.definition").Project
    project = getattr(module, "project", None)
    if not isinstance(project, (Project, current)):
        found = type(project).__name__ if project is not None else "nothing"
        raise ProjectError(f"{file}: `project` must be a Project(...), found {found}")
    object.__setattr__(project, "root", file.parent)
    return project


def _where(file: Path, exc: BaseException) -> str:
    """``file:line`` of the deepest frame of the project's file in the exception's traceback."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if Path(frame.filename) == file]
    return f"{file}:{lines[-1]}" if lines else str(file)
