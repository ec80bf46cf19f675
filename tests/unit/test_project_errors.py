"""A broken project fails when it loads (``mlops project check`` and synth), naming file, definition and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from functions.project import load_project
from functions.project.samples import check_sample_data
from functions.shared.errors import ProjectError
from mlops.cli import main
from tests.projects import SEATTLE_DIR


def broken(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the demo project with one edit to its project.py."""
    folder = tmp_path / "project"
    shutil.copytree(SEATTLE_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    file = folder / "project.py"
    text = file.read_text()
    assert old in text, f"the example no longer contains {old!r}"
    file.write_text(text.replace(old, new, 1))
    return folder


CASES = {
    "unknown type": (
        'Field("wind", ValueType.FLOAT64, minimum=0.0, maximum=60.0),\n        Field("weather"',
        'Field("wind", "float128", minimum=0.0, maximum=60.0),\n        Field("weather"',
        ["project.py:", "field 'wind'", "unknown type 'float128'"],
    ),
    "feature no view provides": (
        'features=("precipitation", "temp_max", "temp_min", "wind"),',
        'features=("precipitation", "temp_max", "temp_min", "gusts"),',
        ["project.py:", "model 'seattle-weather'", "['gusts']", "daily_weather:v1"],
    ),
    "missing label": (
        'label="weather",\n    estimator',
        'label="sky",\n    estimator',
        ["project.py:", "model 'seattle-weather'", "label 'sky'"],
    ),
    "regression gated on a classification metric": (
        'task=Task.CLASSIFICATION,\n    features=("precipitation", "temp_max", "temp_min", "wind"),\n'
        '    label="weather",',
        'task=Task.REGRESSION,\n    features=("precipitation", "temp_max", "temp_min", "wind"),\n'
        '    label="temp_range",',
        ["project.py:", "model 'seattle-weather'", "gate metric 'macro_f1' is not a regression metric"],
    ),
    "two views with one name": (
        'name="weather_7d",\n    version=1,',
        'name="daily_weather",\n    version=1,',
        ["project.py:", "two feature views are named 'daily_weather:v1'"],
    ),
    "training window of zero days": (
        "training_window=TrainingWindow(days=None, feedback=True),",
        "training_window=TrainingWindow(days=0),",
        ["project.py:", "model 'seattle-weather'", "training_window days must be a whole number of days >= 1, got 0"],
    ),
    "training window with days and since": (
        "training_window=TrainingWindow(days=None, feedback=True),",
        'training_window=TrainingWindow(days=30, since="2014-01-01"),',
        ["project.py:", "model 'seattle-weather'", "training_window takes days or since, not both"],
    ),
    "training window since no date": (
        "training_window=TrainingWindow(days=None, feedback=True),",
        'training_window=TrainingWindow(since="last spring"),',
        ["project.py:", "model 'seattle-weather'", "training_window since 'last spring' is not an ISO date"],
    ),
    "training window that is no TrainingWindow": (
        "training_window=TrainingWindow(days=None, feedback=True),",
        "training_window=365,",
        ["project.py:", "model 'seattle-weather'", "training_window must be a TrainingWindow(...), got int"],
    ),
    "estimator factory that raises": (
        'params={"n_estimators": 100, "min_samples_leaf": 3, "n_jobs": 1},',
        'params={"n_estimators": 100, "min_samples_leaf": 3, "n_jobs": 1, "depth_of_field": 2},',
        ["project.py:", "model 'seattle-weather'", "estimator factory raised TypeError", "depth_of_field"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_project_fails_on_load_naming_file_definition_and_field(tmp_path: Path, case: str) -> None:
    old, new, expected = CASES[case]
    folder = broken(tmp_path, old, new)
    with pytest.raises(ProjectError) as raised:
        load_project(folder)
    message = str(raised.value)
    assert str(folder / "project.py") in message
    for part in expected:
        assert part in message, f"{case}: {part!r} not in {message!r}"
    assert "\n" not in message


def test_rule_emitting_an_undeclared_column_fails_on_the_sample_data(tmp_path: Path) -> None:
    folder = broken(
        tmp_path,
        '    out["temp_range"] = out["temp_max"] - out["temp_min"]\n',
        '    out["temp_range"] = out["temp_max"] - out["temp_min"]\n    out["humidity"] = 0.5\n',
    )
    project = load_project(folder)  # the definitions are consistent: only running the rule shows it
    with pytest.raises(
        ProjectError, match=r"project\.py: feature view 'daily_weather:v1'.*\['humidity'\].*not declare"
    ):
        check_sample_data(project)


def test_project_check_prints_one_line_for_a_broken_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = broken(tmp_path, 'label="weather",\n    estimator', 'label="sky",\n    estimator')
    assert main(["project", "check", "--project", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "error:" in out and "label 'sky'" in out and "Traceback" not in out


def test_project_check_describes_a_valid_project(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["project", "check", "--project", str(SEATTLE_DIR)]) == 0
    out = capsys.readouterr().out
    assert "project seattle_weather" in out and "is valid" in out
    assert "model        seattle-weather (classification, RandomForestClassifier)" in out
    assert "daily_weather:v1: rule seattle_daily_weather@v1 produced 1461 rows" in out


def test_a_folder_without_project_py_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no project\.py found.*mlops init"):
        load_project(tmp_path)
