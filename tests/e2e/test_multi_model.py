"""Several models per project and deployment: each its own endpoint, registry entries, rollout, monitor and guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlops.demo import backfill_features, post_json, registry_of
from mlops.local import LocalCloud
from tests.conftest import shared_synth
from tests.projects import EXAMPLES

TWO_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "two_models"
MODELS = ("seattle-weather", "max-temperature")


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    # (synthesized once per run: xdist may run this module's tests on both workers)
    assembly = shared_synth(tmp_path_factory, "two-models", stage="dev", project=TWO_MODELS)
    with LocalCloud(assembly) as cloud:
        raw = pd.read_csv(EXAMPLES / "seattle_weather" / "data" / "seattle-weather.csv").head(400)
        loaded = backfill_features(cloud, raw.to_csv(index=False).encode())
        assert loaded.status == "SUCCEEDED", loaded.cause
        yield cloud


def template(cloud: LocalCloud) -> dict:
    return next(s.template for s in cloud.stacks if s.name == "Mlops-dev")


def test_each_model_has_its_own_function_alias_rollout_monitor_and_guard(two_models: LocalCloud) -> None:
    resources = template(two_models)["Resources"].values()
    functions = [r for r in resources if r["Type"] == "AWS::Lambda::Function"]
    models_of = [r["Properties"]["Environment"]["Variables"].get("MLOPS_MODEL_NAME") for r in functions]
    handlers = [r["Properties"]["ImageConfig"]["Command"][0] for r in functions]
    for handler in ("inference", "monitor", "retrain_guard", "deploy_model", "pre_traffic_hook", "rollout_outcome"):
        command = f"functions.handlers.{handler}.handler"
        served = sorted(m for m, h in zip(models_of, handlers, strict=True) if h == command)
        assert served == sorted(MODELS), handler
    groups = [r for r in resources if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"]
    aliases = [r for r in resources if r["Type"] == "AWS::Lambda::Alias"]
    assert len(groups) == len(aliases) == 2


def test_a_training_input_must_name_a_model_when_the_project_has_several(two_models: LocalCloud) -> None:
    result = two_models.run_state_machine(
        two_models.output("TrainingStateMachineArn"), {"feature_store": {}, "trigger": {"type": "test"}}
    )
    assert result.status == "FAILED"
    assert "has 2 models (seattle-weather, max-temperature): name one" in (result.cause or "")


def test_each_model_trains_registers_and_serves_on_its_own_route(two_models: LocalCloud) -> None:
    # Given both models trained through the one training pipeline, each run naming its model
    for model in MODELS:
        result = two_models.run_state_machine(
            two_models.output("TrainingStateMachineArn"),
            {"model": model, "feature_store": {}, "trigger": {"type": "test"}},
        )
        assert result.status == "SUCCEEDED", result.cause
    registry = registry_of(two_models)
    assert {name: registry.resolve_alias(name, "champion").version for name in MODELS} == dict.fromkeys(MODELS, 1)
    assert registry.get("max-temperature", 1).signature["task"] == "regression"

    # When each model is asked on its own route
    assert two_models.gateway is not None
    base, key = two_models.gateway.url(), two_models.gateway.api_key()
    record = {"precipitation": 0.0, "temp_max": 27.2, "temp_min": 13.9, "wind": 2.6}
    status, weather = post_json(f"{base}/models/seattle-weather/predict", {"records": [record]}, api_key=key)
    assert status == 200, weather
    inputs = {k: record[k] for k in ("precipitation", "temp_min", "wind")}
    status, temperature = post_json(f"{base}/models/max-temperature/predict", {"records": [inputs]}, api_key=key)
    assert status == 200, temperature

    # Then each answers with its own model: a class for one, a value for the other
    assert weather["model"] == {"name": "seattle-weather", "version": 1}
    assert "label" in weather["predictions"][0]
    assert temperature["model"] == {"name": "max-temperature", "version": 1}
    assert isinstance(temperature["predictions"][0]["value"], float)
    # and a project with several models has no root /predict: a caller must say which model
    status, _ = post_json(f"{base}/predict", {"records": [record]}, api_key=key)
    assert status in (403, 404)


def test_the_stack_names_every_model(two_models: LocalCloud) -> None:
    outputs = template(two_models)["Outputs"]
    assert outputs["ModelNames"]["Value"] == ",".join(MODELS)
    assert json.dumps(outputs).count("RetrainGuardTableName") == 1
