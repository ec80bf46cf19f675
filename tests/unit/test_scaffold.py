"""`mlops init`: a scaffolded project loads with sample data of its task (its own tests pass: test_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from functions.project import Task, load_project
from mlops.scaffold import TASKS, model_name_of, project_name_of, scaffold


@pytest.mark.parametrize("task", TASKS)
def test_a_scaffolded_project_loads_with_a_model_and_sample_data_of_its_task(tmp_path: Path, task: str) -> None:
    proj = tmp_path / "proj"
    written = scaffold(proj, task=task)

    assert sorted(p.relative_to(proj).as_posix() for p in written) == sorted(
        p.relative_to(proj).as_posix() for p in proj.rglob("*") if p.is_file()
    )
    assert {".gitignore", "README.md", "project.py", "tests/test_project.py"} <= {
        p.relative_to(proj).as_posix() for p in written
    }
    project = load_project(proj)
    assert project.name == "proj"
    (model,) = project.models
    assert model.name == "proj"
    assert model.task is Task(task)
    assert project.demo is not None

    data = pd.read_csv(proj / project.demo.data)
    assert 600 <= len(data) <= 1500
    source = project.raw_source(project.demo.source)
    stamps = pd.to_datetime(data[source.timestamp_field])
    assert 1.5 * 365 <= (stamps.max() - stamps.min()).days <= 3 * 365
    assert stamps.min() < pd.Timestamp(project.demo.traffic_from) < stamps.max()
    if model.is_classifier:
        later = data.iloc[int(len(data) * 0.8) :]
        assert len(model.labels) >= 3
        assert set(later[model.label]) == set(model.labels)


def test_the_sample_data_is_the_same_every_time(tmp_path: Path) -> None:
    for task in TASKS:
        first, second = scaffold(tmp_path / f"{task}-a", task=task), scaffold(tmp_path / f"{task}-b", task=task)
        assert first[1].suffix == ".csv"
        assert first[1].read_bytes() == second[1].read_bytes()


def test_the_project_name_comes_from_the_directory_or_is_given(tmp_path: Path) -> None:
    assert project_name_of(tmp_path / "my-Shop demo") == "my_Shop_demo"
    assert project_name_of(tmp_path / "2024 forecasts") == "project_2024_forecasts"
    assert model_name_of("my_Shop_demo") == "my-shop-demo"
    scaffold(tmp_path / "x", task="regression", name="canteens")
    assert 'name="canteens"' in (tmp_path / "x" / "project.py").read_text()
    with pytest.raises(ValueError, match="letters, digits and '_'"):
        scaffold(tmp_path / "y", name="not a name")


def test_a_non_empty_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty: give mlops init a new or empty directory"):
        scaffold(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    scaffold(tmp_path / "empty")  # a new directory is fine; so is an existing empty one
    (tmp_path / "also-empty").mkdir()
    assert scaffold(tmp_path / "also-empty")


def test_an_unknown_task_is_refused_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="classification, regression"):
        scaffold(tmp_path / "proj", task="clustering")
    assert not (tmp_path / "proj").exists()
