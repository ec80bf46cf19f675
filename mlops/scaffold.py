"""``mlops init DIR [--task classification|regression]``: write a small project that works.

The project is a folder of its own (the user's repository): ``project.py`` (a raw source, an
entity, feature views with versioned rules, one model with its quality gate, a demo
scenario), synthetic sample data, tests the user runs there (``python -m pytest tests``), a
README and a ``.gitignore``. The definitions, tests and README come from the templates under
``mlops/templates/<task>/`` (and ``common/``), readable Python with ``${project_name}`` and
``${model_name}`` as the only placeholders; the sample data is generated here, from a fixed
seed, so every scaffold of a task gets the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

import numpy as np
import pandas as pd

TEMPLATES = Path(__file__).resolve().parent / "templates"
TASKS = ("classification", "regression")
SEED = 20240601
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def scaffold(directory: Path, *, task: str = "classification", name: str | None = None) -> list[Path]:
    """Write a ``task`` project into ``directory`` (new or empty); return the files written.

    ``name`` (default: the directory's name, made of letters, digits and ``_``) names the
    project; its model is the same name in lowercase with ``-`` for ``_``.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} is a file: give mlops init a new or empty directory")
    if directory.is_dir() and any(directory.iterdir()):
        raise FileExistsError(
            f"{directory} is not empty: give mlops init a new or empty directory (it never overwrites files)"
        )
    project_name = _checked_name(name) if name is not None else project_name_of(directory)
    values = {"project_name": project_name, "model_name": model_name_of(project_name)}
    layout = _LAYOUTS[task]
    files: dict[str, str] = {
        "project.py": _render(f"{task}/project.py", values),
        f"data/{layout.data_file}": layout.generate(np.random.default_rng(SEED)).to_csv(
            index=False, lineterminator="\n", date_format="%Y-%m-%d"
        ),
        "tests/test_project.py": _render("common/tests/test_project.py", values),
        "README.md": _render(f"{task}/README.md", values),
        ".gitignore": _render("common/gitignore", values),
    }
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def project_name_of(directory: Path) -> str:
    """The directory's name as a project name: runs of other characters become one ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", Path(directory).resolve().name).strip("_")
    if not cleaned:
        return "project"
    return cleaned if cleaned[0].isalpha() else f"project_{cleaned}"


def model_name_of(project_name: str) -> str:
    """A model name (lowercase letters, digits and ``-``) from a project name."""
    return re.sub(r"_+", "-", project_name.lower()).strip("-")


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"project name {name!r}: use letters, digits and '_', starting with a letter")
    return name


def _render(template: str, values: dict[str, str]) -> str:
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)


# -- sample data -------------------------------------------------------------------------------------------------
def sensor_readings(rng: np.random.Generator, days: int = 1000) -> pd.DataFrame:
    """Daily readings of one machine and the condition its inspection recorded.

    A hidden wear level lingers for a few days (an AR(1) process). Vibration and temperature
    show it through noise (temperature also follows the seasons); the condition is the wear,
    plus the day's load and noise, cut into three classes at fixed quantiles, so every class
    occurs throughout, and the week's vibration adds to what the day's says.
    """
    dates = pd.date_range("2022-01-01", periods=days, freq="D")
    shocks = rng.normal(0.0, 0.85, days)
    wear = np.zeros(days)
    for day in range(1, days):
        wear[day] = 0.6 * wear[day - 1] + shocks[day]
    season = np.sin(2 * np.pi * (dates.day_of_year.to_numpy() - 110) / 365.25)
    runtime = np.clip(rng.normal(16.0, 3.0, days), 0.0, 24.0).round(1)
    load = runtime - 16.0
    vibration = np.clip(4.0 + 1.4 * wear + 0.08 * load + rng.normal(0.0, 0.7, days), 0.2, 45.0)
    temperature = np.clip(62.0 + 4.0 * season + 2.5 * wear + 0.3 * load + rng.normal(0.0, 2.5, days), -15.0, 140.0)
    score = wear + 0.06 * load + rng.normal(0.0, 0.3, days)
    low, high = np.quantile(score, [0.4, 0.75])
    condition = np.where(score < low, "normal", np.where(score < high, "worn", "fault"))
    return pd.DataFrame(
        {
            "date": dates,
            "machine_id": "press-01",
            "temperature": temperature.round(1),
            "vibration": vibration.round(2),
            "runtime_hours": runtime,
            "condition": condition,
        }
    )


# Canteen: (usual headcount, share of staff who eat there); main dish: its pull on the share.
_SITES = {"north": (900, 0.45), "central": (1400, 0.32), "south": (600, 0.62)}
_MENUS = {"pasta": 1.0, "curry": 1.1, "fish": 0.85, "salad": 0.9}


def canteen_days(rng: np.random.Generator, working_days: int = 500) -> pd.DataFrame:
    """Meals served per canteen and working day.

    Headcount follows the canteen's size, the weekday (Fridays are quiet) and the holidays
    (August, late December); meals are the headcount times the canteen's own share, the dish's
    pull (salad more so on warm days) and noise. The headcounts overlap, so the model needs
    the site to know which share applies.
    """
    dates = pd.bdate_range("2023-01-02", periods=working_days)
    season = np.sin(2 * np.pi * (dates.day_of_year.to_numpy() - 110) / 365.25)
    city_temperature = 12.0 + 10.0 * season + rng.normal(0.0, 3.0, working_days)
    holidays = (dates.month == 8) | ((dates.month == 12) & (dates.day > 20))
    presence = np.where(holidays, 0.7, 1.0) * np.array([0.95, 1.0, 1.0, 1.0, 0.8])[dates.day_of_week]
    frames = []
    for site, (headcount, share) in _SITES.items():
        menu = rng.choice(list(_MENUS), working_days)
        temperature = np.clip(city_temperature + rng.normal(0.0, 1.0, working_days), -25.0, 40.0).round(1)
        staff = np.round(headcount * presence * rng.normal(1.0, 0.06, working_days)).astype(int)
        pull = np.array([_MENUS[dish] for dish in menu]) * np.where(menu == "salad", 1 + 0.02 * (temperature - 12), 1)
        meals = np.round(staff * share * pull * rng.normal(1.0, 0.05, working_days)).astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "site_id": site,
                    "menu": menu,
                    "temperature": temperature,
                    "staff_on_site": staff,
                    "meals": np.clip(meals, 0, None),
                }
            )
        )
    # Day by day, the sites in their usual order within a day.
    return pd.concat(frames, ignore_index=True).sort_values("date", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class _Layout:
    data_file: str
    generate: Callable[[np.random.Generator], pd.DataFrame]


_LAYOUTS = {
    "classification": _Layout("sensor_readings.csv", sensor_readings),
    "regression": _Layout("canteen_days.csv", canteen_days),
}
