"""The toolkit's code names no dataset: everything specific to one ML problem lives in a project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLKIT = ("functions", "infra", "mlops", "stepfunctions")
# Words of the shipped examples' data: a toolkit file containing one is fused with an example.
EXAMPLE_WORDS = re.compile(
    r"seattle|weather|precipitation|temp_max|temp_min|drizzle|vega_datasets", re.IGNORECASE
)


def _toolkit_files() -> list[Path]:
    return [
        path
        for folder in TOOLKIT
        for path in sorted((ROOT / folder).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".sh", ".tmpl", "")
    ]


@pytest.mark.parametrize("path", _toolkit_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_toolkit_file_names_no_example_dataset(path: Path) -> None:
    found = sorted({m.group(0).lower() for m in EXAMPLE_WORDS.finditer(path.read_text(errors="ignore"))})
    assert not found, f"{path.relative_to(ROOT)} names example data {found}: move it into a project under examples/"
