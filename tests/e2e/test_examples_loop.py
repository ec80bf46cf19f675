"""Each shipped example runs the whole loop on the local cloud, exactly as `make demo PROJECT=...` runs it.

Synth (shared with the other tests), backfill through the feature pipeline, the training pipeline,
POST /predict over HTTP, shifted traffic (captured), ground truth for every prediction through
POST /feedback, the monitor finding drift, judging live quality on that feedback and joining it into the
model's feedback view, the alarm, the guarded retrain on more labelled data than v1 saw, the gate's verdict on
the newest holdout, the canary rollout, the guard refusing a second trigger, an unchanged retrain skipped, and
lineage.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops.demo import run_demo
from tests.projects import EXAMPLES

DATA = re.compile(
    r"training data of (v1|the candidate): (\d+) labelled rows \((\d+) feature store \+ (\d+) feedback\), "
    r"data sha256 (\w+)"
)


@pytest.mark.parametrize("example", ["seattle_weather", "stocks"])
def test_example_runs_the_whole_loop(
    example: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assembly = Path(request.getfixturevalue("assembly" if example == "seattle_weather" else "stocks_assembly"))
    assert run_demo("dev", assembly, project_dir=EXAMPLES / example, out_dir=tmp_path) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    # The story only: no function's log line on the console (they go to the log file, with the lineage's details),
    # the drift report saved beside it
    assert '{"level"' not in out and " INFO mlops.demo: lineage of " in (tmp_path / "demo.log").read_text()
    assert "DATASET DRIFT" in (tmp_path / "demo-drift-report.html").read_text()
    for step in ("3. feature store", "5. registry", "6. HTTP", "8. monitor", "9. retrain", "11. canary", "13. lineage"):
        assert step in out, f"{example}: {step!r} missing from the demo's output:\n{out}"
    traffic = int(re.search(r"7\. traffic \S+: (\d+) predictions", out).group(1))  # type: ignore[union-attr]
    assert f"POST /feedback (100 a request) -> 202 x{traffic}" in out
    assert f"live quality: evaluated over {traffic} labelled of" in out
    assert f"training feedback: {traffic} labels joined with their captured predictions" in out
    assert "dataset drift=True" in out
    assert re.search(r"edge +\S+ -\[\w+\]-> \S+", out), "lineage edges name their relation"
    # The retrain saw more labelled data than v1: v1's rows plus the feedback rows of the new regime
    seen = {who: (int(rows), int(store), int(fed), sha) for who, rows, store, fed, sha in DATA.findall(out)}
    v1, v2 = seen["v1"], seen["the candidate"]
    assert v1[2] == 0 and v2[2] == traffic and v2[0] == v1[0] + traffic > v1[0] and v2[3] != v1[3]
    # And the gate compared it with v1 on its holdout (the newest rows) and said what it decided, and why
    assert re.search(r"holdout: the newest \d+ rows \(\d+ feedback\)", out)
    assert re.search(r"\* \w+: candidate [\d.]+ vs champion v1 [\d.]+ \(re-scored\)", out)
    verdict = re.search(r"gate (passed|REJECTED): ", out)
    assert verdict is not None
    if verdict.group(1) == "passed":
        assert "champion is now v2 (approved)" in out and "rollout of v2 behind alias live finished" in out
        unchanged = "are those champion v2 was trained on"
    else:
        assert re.search(r"gate REJECTED: \S+", out) and "champion is now v1" in out
        unchanged = "are those rejected by the quality gate v2 was trained on"
    assert "started 0 runs" in out  # the second trigger inside the cooldown
    # And the same retrain again (nothing new) is skipped and recorded, not registered
    assert re.search(r"12\. unchanged retrain \S+: run \S+ SUCCEEDED -> SKIPPED: unchanged: training set sha256", out)
    assert unchanged in out and "versions registered: [1, 2];" in out
