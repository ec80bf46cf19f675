"""A regression project with a string feature, scaffolded by `mlops init --task regression`, runs the whole loop.

Synth, backfill, training pipeline (a one-hot site and menu in a Pipeline regressor, exported
to ONNX with one input per column), POST /predict over HTTP answering values, drift of the
shifted traffic, the alarm, the guarded retrain, the canary whose smoke test takes a value,
and lineage: `mlops.demo.run_demo` on the scaffold, synthesized with the suite's shared assemblies.
"""

from __future__ import annotations

import json
import re

import pytest

from mlops.demo import run_demo
from tests.conftest import scaffold_dir, shared_synth

pytestmark = pytest.mark.slow


def test_the_regression_scaffold_runs_the_demo_loop(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a project scaffolded by `mlops init --task regression` (string features site and menu, a
    # GradientBoostingRegressor pipeline), synthesized with the suite's other shared assemblies
    project = scaffold_dir(tmp_path_factory, "regression-scaffold")
    assembly = shared_synth(tmp_path_factory, "regression-scaffold", stage="dev", project=project)
    # When the demo runs its whole loop on it
    code = run_demo("dev", assembly, project_dir=project)
    # (the console wraps long lines at spaces: undo that)
    out = capsys.readouterr().out.replace("\n", " ")
    # Then every step succeeds
    assert code == 0, out
    # the champion was registered with regression metrics and its canary range
    assert re.search(r"holdout metrics: rmse=[\d.]+, mae=[\d.]+, r2=[\d.]+, predicted_range\.p05=", out), out
    # the API answered a value for a record with string features, and named a wrongly typed field
    answer, _ = json.JSONDecoder().raw_decode(out, out.index("-> 200 ") + len("-> 200 "))
    (prediction,) = answer["predictions"]
    assert set(prediction) == {"prediction_id", "value"} and prediction["value"] > 0
    assert "400" in out and "expected a number, got str" in out
    # the shifted traffic drifted, the retrain ran on the alarm, on the history plus the traffic's ground truth
    assert "dataset drift=True" in out, out
    assert re.search(r"9\. retrain.*SUCCEEDED", out), out
    assert re.search(r"training data of the candidate: \d+ labelled rows \(\d+ feature store \+ [1-9]\d* feedback", out)
    # and the gate said what it decided on the newest rows: a new champion rolled out, or why not
    verdict = re.search(r"gate (passed|REJECTED): ", out)
    assert verdict is not None, out
    served = "v2" if verdict.group(1) == "passed" else "v1"
    assert re.search(rf"11\. canary.*POST /predict -> 200, served by {served}", out), out
