"""The shipped example projects, loaded once per test process (as a deployment loads its project)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from functions.project import Project, load_project

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEATTLE_DIR = EXAMPLES / "seattle_weather"


@cache
def example(name: str) -> Project:
    return load_project(EXAMPLES / name)


def seattle() -> Project:
    """The demo project: one station's daily weather, classified."""
    return example("seattle_weather")
