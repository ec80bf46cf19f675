"""Each shipped example runs the whole loop on the local cloud, exactly as `make demo PROJECT=...` runs it.

Synth (shared with the other tests), backfill through the feature pipeline, the training pipeline,
POST /predict over HTTP, shifted traffic (captured), ground truth for 100 of its predictions through
POST /feedback, the monitor finding drift and judging live quality on that feedback, the alarm, the guarded retrain,
the gate, the canary rollout, the guard refusing a second trigger, and lineage.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.demo import run_demo
from tests.projects import EXAMPLES


@pytest.mark.parametrize("example", ["seattle_weather", "stocks"])
def test_example_runs_the_whole_loop(
    example: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    assembly = Path(request.getfixturevalue("assembly" if example == "seattle_weather" else "stocks_assembly"))
    assert run_demo("dev", assembly, project_dir=EXAMPLES / example) == 0
    out = capsys.readouterr().out
    for step in ("3. feature store", "5. registry", "6. HTTP", "8. monitor", "9. retrain", "11. canary", "12. lineage"):
        assert step in out, f"{example}: {step!r} missing from the demo's output:\n{out}"
    assert "POST /feedback -> 202 x100" in out
    assert "live quality: evaluated over 100 labelled of" in out
    assert "dataset drift=True" in out
    assert "champion is now v2 (approved)" in out
    assert "started 0 runs" in out  # the second trigger inside the cooldown
