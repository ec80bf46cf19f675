"""The synthesized training pipeline, executed by moto's Step Functions interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from functions.core.errors import ModelNotFoundError
from mlops.local import LocalCloud
from tests.helpers import metadata_of, registry_of, run_training, shipped_frame, upload_raw

MODEL = "seattle-weather"


def test_pipeline_success_registers_a_version_with_lineage(cloud: LocalCloud) -> None:
    # Given the shipped dataset in the raw bucket
    source = upload_raw(cloud)
    # When the pipeline runs
    result = run_training(cloud, source)
    # Then the execution and the run record succeed, every step is recorded
    assert result.status == "SUCCEEDED", result.cause
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "SUCCEEDED"
    assert run.trigger == {"type": "test"}
    assert [s.step for s in run.steps] == ["LoadData", "Train", "Evaluate", "Register"]
    assert all(s.status == "SUCCEEDED" and s.duration_s >= 0 for s in run.steps)
    # And one version is registered, pointing at its artifact, data and run
    version = registry_of(cloud).latest(MODEL)
    assert version.version == 1
    assert version.run_id == run.run_id
    assert version.artifact_sha256 == result.output["candidate"]["sha256"]
    assert version.training_data_sha256 == result.output["dataset"]["sha256"]
    assert version.metrics["accuracy"] >= 0.6
    assert [f["name"] for f in version.signature["features"]] == ["precipitation", "temp_max", "temp_min", "wind"]


def test_step_failure_marks_run_failed_and_registers_nothing(cloud: LocalCloud) -> None:
    # Given raw data missing a required column
    source = upload_raw(cloud, shipped_frame().drop(columns=["wind"]))
    # When the pipeline runs
    result = run_training(cloud, source)
    # Then the execution fails with the domain error, the run records it, nothing is registered
    assert result.status == "FAILED"
    assert result.error == "DataValidationError"
    assert "missing columns: wind" in (result.cause or "")
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "FAILED"
    assert run.error is not None and run.error["Error"] == "DataValidationError"
    assert [(s.step, s.status) for s in run.steps] == [("LoadData", "FAILED")]
    with pytest.raises(ModelNotFoundError):
        registry_of(cloud).latest(MODEL)


def test_quality_gate_rejects_a_model_that_learned_nothing(cloud: LocalCloud) -> None:
    # Given labels shuffled at random, so no feature predicts them
    frame = shipped_frame()
    frame["weather"] = np.random.default_rng(7).permutation(frame["weather"].to_numpy())
    source = upload_raw(cloud, frame)
    # When the pipeline runs
    result = run_training(cloud, source)
    # Then the gate rejects the candidate: the run says why, and nothing is registered
    assert result.status == "SUCCEEDED"
    assert result.output["evaluation"]["passed"] is False
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "REJECTED"
    assert run.error is not None and "below the minimum" in run.error["Cause"]
    assert "Register" not in [s.step for s in run.steps]
    with pytest.raises(ModelNotFoundError):
        registry_of(cloud).latest(MODEL)


def test_runs_of_a_pipeline_are_listed_newest_first(cloud: LocalCloud) -> None:
    source = upload_raw(cloud)
    first = run_training(cloud, source)
    second = run_training(cloud, source)
    runs = metadata_of(cloud).list_runs("training")
    assert [r.run_id for r in runs] == [second.name, first.name]
    assert registry_of(cloud).latest(MODEL).version == 2
