"""The synthesized training pipeline, executed by moto's Step Functions interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from botocore.exceptions import ClientError

from functions.shared.errors import ModelNotFoundError
from mlops.local import LocalCloud
from mlops.local import batch as batch_module
from tests.helpers import metadata_of, registry_of, run_training, shipped_frame, upload_raw

MODEL = "seattle-weather"
STEPS = ["BuildTrainingSet", "ValidateData", "Split", "Train", "Evaluate", "Register", "Promote"]


def test_gate_pass_registers_approves_and_makes_champion_with_full_lineage(cloud: LocalCloud) -> None:
    # Given the shipped dataset in the raw bucket
    source = upload_raw(cloud)
    # When the pipeline runs
    result = run_training(cloud, source)
    # Then the execution and the run record succeed, every step is recorded with inputs and outputs
    assert result.status == "SUCCEEDED", result.cause
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "SUCCEEDED"
    assert run.trigger == {"type": "test"}
    assert [s.step for s in run.steps] == STEPS
    assert all(s.status == "SUCCEEDED" and s.duration_s >= 0 and s.inputs["run_id"] == run.run_id for s in run.steps)
    assert run.params["seed"] == 42 and run.metrics["holdout_accuracy"] >= 0.6
    # And one version is registered with its data, code and run, approved per the dev policy (auto)
    registry = registry_of(cloud)
    version = registry.resolve_alias(MODEL, "champion")
    assert version.version == 1
    assert version.run_id == run.run_id
    assert version.execution_id == result.arn
    assert version.trigger == {"type": "test"}
    assert version.artifact_sha256 == result.output["candidate"]["sha256"]
    assert version.manifest_sha256 == result.output["dataset"]["manifest_sha256"]
    assert len(version.code_version["git_commit"]) >= 7 and len(version.code_version["requirements_sha256"]) == 64
    assert len(version.code_version["code_sha256"]) == len(version.code_version["project_sha256"]) == 64
    # Approved and promoted under the Promote function's own AWS identity (STS), not a name
    assert version.approval_status == "approved" and ":assumed-role/" in version.approval_by
    assert "Promote" in version.approval_by.split("/")[1]
    assert [f["name"] for f in version.signature["features"]] == ["precipitation", "temp_max", "temp_min", "wind"]
    assert set(version.metrics) >= {"accuracy", "macro_f1", "f1_rain", "f1_sun"}
    [change] = registry.alias_history(MODEL, "champion")
    assert (change.from_version, change.to_version, change.by) == (None, 1, version.approval_by)
    # And the lineage goes trigger -> run, manifest -> run -> model version -> alias change
    lineage = metadata_of(cloud).lineage(MODEL, 1)
    assert [n.id for n in lineage.of_kind("run")] == [f"run:{run.run_id}"]
    assert [n.id for n in lineage.of_kind("dataset")] == [f"dataset:{version.manifest_sha256}"]
    assert lineage.of_kind("trigger")[0].attributes == {"type": "test"}
    assert [n.attributes["to_version"] for n in lineage.of_kind("alias_change")] == [1]
    # (and the canary the champion move started, after its alias change)
    assert {(e.relation) for e in lineage.edges} == {"started", "input_of", "produced", "aliased_as", "rolled_out_by"}


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
    assert [(s.step, s.status) for s in run.steps] == [("BuildTrainingSet", "SUCCEEDED"), ("ValidateData", "FAILED")]
    assert registry_of(cloud).list_versions(MODEL) == []


def test_a_failure_injected_at_each_step_fails_the_run_and_leaves_the_champion(cloud: LocalCloud) -> None:
    # Given a champion trained on the real data
    source = upload_raw(cloud)
    assert run_training(cloud, source).status == "SUCCEEDED"
    registry = registry_of(cloud)
    champion = registry.resolve_alias(MODEL, "champion").version
    # (each run below trains on a changed table: a retrain of the champion's own data and code is skipped)
    source = upload_raw(cloud, shipped_frame().iloc[1:])
    for position, step in enumerate(STEPS):
        # When that step fails (its function's handler replaced by one that raises), and the pipeline runs again
        function = cloud.runtime.functions[cloud.function_name(f"Functions{step}")]
        real, function.handler = function.handler, "tests.fixtures.failing_handler.handler"
        try:
            result = run_training(cloud, source)
        finally:
            function.handler = real
        # Then the execution fails with that error, and the run's record says so, every earlier step SUCCEEDED
        assert (step, result.status, result.error) == (step, "FAILED", "InjectedFailure")
        run = metadata_of(cloud).get_run(result.name)
        assert run.status == "FAILED" and run.error is not None and run.error["Error"] == "InjectedFailure", step
        assert [s.step for s in run.steps if s.status == "SUCCEEDED"] == STEPS[:position], step
        # And the champion is unchanged; up to Register nothing of the failed run is registered, and after it
        # the version Register wrote was withdrawn by the failure path (rejected: nothing can approve or alias it)
        assert registry.resolve_alias(MODEL, "champion").version == champion, step
        if STEPS.index(step) <= STEPS.index("Register"):
            assert [v.version for v in registry.list_versions(MODEL)] == [champion], step
        usable = [v.version for v in registry.list_versions(MODEL) if v.approval_status != "rejected"]
        assert usable == [champion], step
    [withdrawn] = [v for v in registry.list_versions(MODEL) if v.version != champion]
    assert withdrawn.run_id == result.name and "failed after registering" in withdrawn.approval_reason


def test_degenerate_training_set_fails_fast(cloud: LocalCloud) -> None:
    # Given a training set where one label is 97 % of the rows
    frame = shipped_frame()
    frame.loc[frame.index[: int(len(frame) * 0.97)], "weather"] = "sun"
    result = run_training(cloud, upload_raw(cloud, frame))
    # Then validation refuses it before anything trains
    assert result.status == "FAILED" and result.error == "DataValidationError"
    assert "degenerate training set" in (result.cause or "")


def test_gate_failure_registers_rejected_and_leaves_champion_unchanged(cloud: LocalCloud) -> None:
    # Given a champion trained on the real data
    assert run_training(cloud, upload_raw(cloud)).status == "SUCCEEDED"
    # And labels then shuffled at random, so no feature predicts them
    frame = shipped_frame()
    frame["weather"] = np.random.default_rng(7).permutation(frame["weather"].to_numpy())
    # When the pipeline runs on them
    result = run_training(cloud, upload_raw(cloud, frame), trigger={"type": "test", "case": "shuffled"})
    # Then the gate rejects the candidate, against the floor and the re-scored champion
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["evaluation"]["passed"] is False
    assert result.output["evaluation"]["champion"]["version"] == 1
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "REJECTED"
    assert run.error is not None and "worse than champion version 1" in run.error["Cause"]
    assert "Promote" not in [s.step for s in run.steps]
    # And the candidate is on record as rejected by the gate; the champion did not move
    registry = registry_of(cloud)
    rejected = registry.get(MODEL, 2)
    assert (rejected.approval_status, rejected.approval_by) == ("rejected", "quality-gate")
    assert registry.resolve_alias(MODEL, "champion").version == 1
    assert registry.latest(MODEL).version == 1
    assert len(registry.alias_history(MODEL, "champion")) == 1


def test_a_retrain_on_unchanged_data_and_code_is_skipped_and_recorded_never_registered(cloud: LocalCloud) -> None:
    # Given a champion trained on the shipped dataset
    source = upload_raw(cloud)
    first = run_training(cloud, source)
    assert first.status == "SUCCEEDED", first.cause
    # When the pipeline runs again on the same data with the same code
    second = run_training(cloud, source, trigger={"type": "test", "case": "unchanged"})
    # Then it stops after building the training set: same data hash, nothing trained, registered or promoted
    assert second.status == "SUCCEEDED", second.cause
    assert second.output["dataset"]["sha256"] == first.output["dataset"]["sha256"]
    assert second.output["dataset"]["changed"] is False and "candidate" not in second.output
    registry = registry_of(cloud)
    assert [v.version for v in registry.list_versions(MODEL)] == [1]
    assert registry.resolve_alias(MODEL, "champion").version == 1
    assert len(registry.alias_history(MODEL, "champion")) == 1
    # And the metadata store records the run as SKIPPED with the reason, listed beside the others (`mlops runs`)
    run = metadata_of(cloud).get_run(second.name)
    assert run.status == "SKIPPED" and [s.step for s in run.steps] == ["BuildTrainingSet"]
    assert run.error is not None and run.error["Error"] == "RetrainSkipped"
    assert "are those champion v1 was trained on" in run.error["Cause"]
    assert run.params["retrain_decision"] == run.error["Cause"]
    runs = metadata_of(cloud).list_runs("training")
    assert [(r.run_id, r.status) for r in runs] == [(second.name, "SKIPPED"), (first.name, "SUCCEEDED")]


def test_same_execution_name_started_twice_gives_one_run(cloud: LocalCloud) -> None:
    arn = cloud.output("TrainingStateMachineArn")
    payload = {"source_uri": upload_raw(cloud), "trigger": {"type": "test"}}
    first = cloud.run_state_machine(arn, payload, name="nightly-1")
    assert first.status == "SUCCEEDED", first.cause
    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        cloud.run_state_machine(arn, payload, name="nightly-1")
    assert [r.run_id for r in metadata_of(cloud).list_runs("training")] == ["nightly-1"]
    assert [v.version for v in registry_of(cloud).list_versions(MODEL)] == [1]
    with pytest.raises(ModelNotFoundError):
        registry_of(cloud).resolve_alias(MODEL, "challenger")


def test_large_training_set_trains_on_batch_with_the_same_entrypoint(cloud: LocalCloud) -> None:
    # Given a Batch threshold below the shipped dataset's size (execution-input override)
    source = upload_raw(cloud)
    # When the pipeline runs
    result = run_training(cloud, source, options={"batch_threshold_rows": 100})
    # Then the size rule chose Batch before anything was built, from the table's estimated rows (exact: a small CSV)
    assert result.status == "SUCCEEDED", result.cause
    sizing = result.output["sizing"]
    assert sizing["backend"] == "batch" and "options.batch_threshold_rows 100" in sizing["reason"]
    assert sizing["estimate"]["rows"] == result.output["dataset"]["rows"] == len(shipped_frame())
    # And the whole data prep and the fit ran as Batch jobs of the one entrypoint, nothing of it on Lambda
    run_id = result.name
    assert [(j.job_name, j.command, j.exit_code) for j in cloud.batch.jobs] == [
        (f"{job}-{run_id}", ["batch"], 0) for job in ("build", "validate", "split", "train", "evaluate")
    ]
    assert result.output["batch_job"]["status"] == "SUCCEEDED"
    for step in ("BuildTrainingSet", "ValidateData", "Split", "Train", "Evaluate"):
        assert cloud.runtime.functions[cloud.function_name(f"Functions{step}")].invocations == 0, step
    # And each step is recorded as on Lambda (the same handlers), and the pipeline went on to promote its model
    run = metadata_of(cloud).get_run(run_id)
    assert [s.step for s in run.steps] == ["BuildTrainingSet", "ValidateData", "Split", "TrainOnBatch", "Evaluate",
                                           "Register", "Promote"]  # fmt: skip
    assert all(s.status == "SUCCEEDED" for s in run.steps)
    assert run.params["training_backend"] == run.params["data_prep_backend"] == "batch"
    assert run.metrics["holdout_accuracy"] >= 0.6
    champion = registry_of(cloud).resolve_alias(MODEL, "champion")
    assert champion.artifact_sha256 == result.output["candidate"]["sha256"]


def test_failed_batch_job_fails_the_run_and_registers_nothing(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a large training set missing a required column: its ValidateData runs on Batch and refuses it
    result = run_training(cloud, upload_raw(cloud, shipped_frame().drop(columns=["wind"])),
                          options={"batch_threshold_rows": 100})  # fmt: skip
    # Then the run fails with the step's own error and reason, as on Lambda, not a container's exit code
    assert (result.status, result.error) == ("FAILED", "DataValidationError")
    assert "missing columns: wind" in (result.cause or "")
    run = metadata_of(cloud).get_run(result.name)
    assert [(s.step, s.status) for s in run.steps] == [("BuildTrainingSet", "SUCCEEDED"), ("ValidateData", "FAILED")]
    assert [(j.job_name.split("-")[0], j.exit_code) for j in cloud.batch.jobs] == [("build", 0), ("validate", 1)]
    # Given a Batch job whose container cannot start its entrypoint
    monkeypatch.setitem(batch_module.ENTRYPOINTS, "batch", "functions.handlers.no_such_module")
    # When a large training set goes to Batch
    result = run_training(cloud, upload_raw(cloud), options={"batch_threshold_rows": 100})
    # Then the job failed with its reason, the run is FAILED naming the step and that reason, nothing is registered
    assert result.status == "FAILED"
    job = cloud.batch.jobs[-1]
    assert job.exit_code == 1 and "no_such_module" in (job.reason or "")
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "FAILED" and not run.steps
    assert run.error is not None and run.error["Error"] == "BatchJobFailed"
    assert "BuildTrainingSet on AWS Batch: States.TaskFailed: ModuleNotFoundError" in run.error["Cause"]
    assert registry_of(cloud).list_versions(MODEL) == []
