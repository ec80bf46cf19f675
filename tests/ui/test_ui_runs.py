"""A failed run's page as an operator reads it: the step that failed with its reason, the run's error, and no
training set (its build never ran). Over a run record, no cloud: the metadata store is a stand-in."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient

from functions.metadata.metadata_store import PipelineRun, StepRun
from mlops.ui.app import create_app

FAILED = PipelineRun(
    "run-7", "training", "FAILED", "2026-05-01T10:00:00+00:00", {"type": "drift_alarm", "alarm": "Drift"}, "arn:x",
    ended_at="2026-05-01T10:00:09+00:00",
    error={"Error": "DataValidationError", "Cause": "label 'sun' is 97% of the rows (limit 90%)"},
    steps=(
        StepRun("EstimateTrainingSet", "SUCCEEDED", "2026-05-01T10:00:01+00:00", "2026-05-01T10:00:02+00:00", 0.8,
                {"rows": 1461}),
        StepRun("ValidateData", "FAILED", "2026-05-01T10:00:03+00:00", "2026-05-01T10:00:08+00:00", 4.9,
                error="DataValidationError: label 'sun' is 97% of the rows (limit 90%)"),
    ),
    params={"model": "m"},
)  # fmt: skip


class Runs:
    def get_run(self, run_id: str) -> PipelineRun:
        if run_id != FAILED.run_id:
            raise KeyError(run_id)
        return FAILED


class Registry:
    def list_models(self) -> list[str]:
        return []


def test_a_failed_runs_page_names_the_failed_step_its_reason_and_the_runs_error() -> None:
    backend: Any = SimpleNamespace(metadata=Runs(), registry=Registry(), objects=None)
    with TestClient(create_app(backend, who=lambda: "arn:aws:sts::1:user/a"), base_url="http://127.0.0.1") as client:
        page = client.get("/runs/run-7")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)).replace("&#39;", "'")
    assert "ValidateData FAILED" in text and "4.90 s" in text
    assert "DataValidationError: label 'sun' is 97% of the rows (limit 90%)" in text
    assert 'id="run-error"' in page.text and "drift_alarm" in text and "9.0 s" in text
    assert "this run recorded no training-set manifest" in text
