"""Hyperparameter search in the synthesized training pipeline (a Distributed Map over trials, on the local cloud),
fed by an experiment's params: what a data scientist found is what the pipeline trains."""

from __future__ import annotations

import io

from rich.console import Console

from mlops.experiments import compare_runs, list_experiment_runs, pipeline_request, run_experiment, trials_table
from mlops.local import LocalCloud
from mlops.operator import Backend
from mlops.tracking import Tracker
from tests.helpers import metadata_of, registry_of, run_training, upload_raw

MODEL = "seattle-weather"


def test_experiment_params_feed_a_search_that_records_every_trial_and_trains_the_best(cloud: LocalCloud) -> None:
    # Given the shipped data and an experiment run with a parameter override, on the pipeline's own steps
    source = upload_raw(cloud)
    backend = Backend.from_cloud(cloud)
    experiment = run_experiment(backend, {"source_uri": source, "params": {"n_estimators": 10}}, experiment="small")
    recorded = backend.metadata.get_run(experiment["run_id"])
    assert (recorded.pipeline, recorded.experiment, recorded.status) == ("experiment", "small", "SUCCEEDED")
    assert recorded.params["n_estimators"] == 10 and "holdout_macro_f1" in recorded.metrics
    # And a pipeline run that takes its params and tunes over a small grid, where a monotonic constraint passes
    # every parameter check but fails when fitted (the weather has five classes: no monotonic constraints)
    request, ignored = pipeline_request(backend.metadata, backend.spec(MODEL), experiment["run_id"])
    assert (request["params"], ignored) == ({"n_estimators": 10}, [])
    tune = {"params": {"min_samples_leaf": [1, 30], "monotonic_cst": [None, [0, 0, 0, 0]]}, "max_concurrency": 2}
    # When the pipeline runs
    result = run_training(cloud, source, tune=tune, **request)
    # Then it succeeds: the failed trials are recorded and the search goes on
    assert result.status == "SUCCEEDED", result.cause
    run = metadata_of(cloud).get_run(result.name)
    by_params = {(t.params["min_samples_leaf"], t.params["monotonic_cst"] is None): t for t in run.trials}
    assert set(by_params) == {(1, True), (1, False), (30, True), (30, False)}
    for leaf in (1, 30):
        failed, scored = by_params[(leaf, False)], by_params[(leaf, True)]
        assert failed.status == "FAILED" and failed.error == (
            "ValueError: Monotonicity constraints are not supported with multiclass classification"
        ), failed
        assert scored.status == "SUCCEEDED" and scored.duration_s is not None and scored.duration_s > 0
        assert set(scored.metrics) == {"accuracy", "macro_f1", "balanced_accuracy"}
    # And the best by the gate's primary metric on the validation part is what Train fitted, over the experiment's
    best = max((by_params[(1, True)], by_params[(30, True)]), key=lambda t: (t.metrics["macro_f1"], -t.trial))
    assert result.output["split"]["search"]["best_trial"] == best.trial
    assert result.output["split"]["params"] == {"n_estimators": 10, **best.params}
    assert run.params["min_samples_leaf"] == best.params["min_samples_leaf"] and run.params["n_estimators"] == 10
    assert run.params["search_trials"] == 4 and run.params["search_failed"] == 2
    assert run.metrics["validation_macro_f1"] == best.metrics["macro_f1"]
    console = Console(record=True, width=300, file=io.StringIO())
    console.print(trials_table(run))
    assert "Monotonicity constraints are not supported" in console.export_text()
    assert [s.step for s in run.steps] == ["BuildTrainingSet", "ValidateData", "Split", "PlanTrials", "ChooseBest",
                                           "Train", "Evaluate", "Register", "Promote"]  # fmt: skip
    # And the validation part is the train part's newest rows: the holdout is never seen by a trial
    tuning = result.output["search"]["tuning"]
    assert tuning["fit_rows"] + tuning["validation_rows"] == result.output["split"]["train_rows"]
    # And every trial, the choice and the experiment the params came from are in the version's lineage
    lineage = metadata_of(cloud).lineage(MODEL, registry_of(cloud).resolve_alias(MODEL, "champion").version)
    trials = lineage.of_kind("trial")
    assert len(trials) == 4
    assert [n.attributes["trial"] for n in trials if n.attributes.get("chosen")] == [best.trial]
    runs = {n.id: n.attributes for n in lineage.of_kind("run")}
    assert runs[f"run:{run.run_id}"]["params_source"] == "search"
    assert runs[f"run:{experiment['run_id']}"]["experiment"] == "small"
    assert {(e.source, e.relation) for e in lineage.edges if e.target == f"run:{run.run_id}"} >= {
        (f"run:{experiment['run_id']}", "params_for"), (f"trial:{run.run_id}:{best.trial}", "chosen_for")
    }  # fmt: skip
    # And a notebook's tracked run on the same cloud is listed with the experiment's, and compares with the pipeline's
    with Tracker.from_cloud(cloud).start_run("small") as tracked:
        tracked.log_metric("holdout_macro_f1", 0.5)
    listed = [r["run_id"] for r in list_experiment_runs(backend.metadata, "small")]
    assert listed == [tracked.run_id, experiment["run_id"]]
    differing = {row.name for row in compare_runs(backend.metadata, [experiment["run_id"], run.run_id]).differences}
    assert {"min_samples_leaf", "search_trials"} <= differing and "n_estimators" not in differing
