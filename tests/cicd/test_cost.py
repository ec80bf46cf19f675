"""The cost model: every billed resource type of the template priced, and its arithmetic by hand."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from infra.config import stage_config
from mlops import pricing
from mlops.cost import (
    HOURS_PER_MONTH,
    PRICED_TYPES,
    PROFILES,
    UNBILLED_TYPES,
    CostEstimate,
    CostModelError,
    Inventory,
    TrafficProfile,
    estimate,
    inventory_from_template,
    render,
    runs_per_month,
    sagemaker_always_on_usd,
)
from tests.conftest import shared_synth
from tests.projects import SEATTLE_DIR

DEV = stage_config("dev")


@pytest.fixture(scope="module")
def inventory(assembly: Path) -> Inventory:
    return inventory_from_template(assembly / "Mlops-dev.template.json")


def quiet(**changes: float) -> TrafficProfile:
    """A profile that does nothing but what ``changes`` asks for."""
    idle = TrafficProfile(
        "t",
        requests_per_month=0,
        records_per_request=1,
        training_runs_per_month=0,
        data_volume_gb=0,
        feature_runs_per_month=0,
        batch_inference_runs_per_month=0,
        custom_metrics=0,
    )
    return dataclasses.replace(idle, **changes)  # type: ignore[arg-type]


def item(inventory: Inventory, profile: TrafficProfile, service: str, starts: str) -> float:
    (usd,) = [
        i.usd for i in estimate(DEV, inventory, profile).items if i.service == service and i.what.startswith(starts)
    ]
    return usd


def test_every_resource_type_of_the_templates_is_priced_or_listed_unbilled_with_a_reason(
    assembly: Path, stocks_assembly: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given the synthesized stages (dev and prod of the demo, dev of the second example) and the CI/CD stack
    assert not set(PRICED_TYPES) & set(UNBILLED_TYPES)
    assert all(reason.strip() for reason in UNBILLED_TYPES.values())
    prod = shared_synth(tmp_path_factory, "seattle", stage="prod", project=SEATTLE_DIR)
    templates = {
        "seattle dev": (assembly / "Mlops-dev.template.json", DEV),
        "seattle prod": (prod / "Mlops-prod.template.json", stage_config("prod")),
        "stocks dev": (stocks_assembly / "Mlops-dev.template.json", DEV),
        "cicd": (assembly / "Mlops-cicd.template.json", None),
    }
    for name, (template, config) in templates.items():
        inventory = inventory_from_template(template)
        # Then no type (nor a billed option such as a stage cache) is left unpriced ...
        assert inventory.unpriced == (), (
            f"{name}: price it (mlops/cost_template.py, mlops/cost.py) or give UNBILLED_TYPES a reason"
        )
        # ... and every priced type present gets a line item of every profile's estimate
        billed = {t for t in inventory.resource_types if t in PRICED_TYPES}
        for profile in PROFILES.values() if config else ():
            assert billed <= estimate(config, inventory, profile).priced_types(), (name, profile.name)


def test_a_billed_type_or_option_the_model_does_not_price_is_reported_not_dropped(tmp_path: Path) -> None:
    # Given a template that gains a NAT gateway and a stage with a cache cluster
    resources = {
        "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
        "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"CacheClusterEnabled": True}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
    }
    template = tmp_path / "t.template.json"
    template.write_text(json.dumps({"Resources": resources}))
    # Then both are reported, and the rendered estimate says its total leaves them out
    inventory = inventory_from_template(template)
    assert inventory.unpriced == ("AWS::EC2::NatGateway", "AWS::ApiGateway::Stage Stage: cache cluster")
    lines = render(CostEstimate(stage="dev", profile=quiet(), unpriced=inventory.unpriced))
    assert lines[-1].startswith("NOT PRICED (the total leaves them out): AWS::EC2::NatGateway; ")


def test_the_pipelines_runs_are_read_from_the_state_machines_in_the_template(inventory: Inventory) -> None:
    runs = inventory.runs
    assert runs["training"].invocations == (
        "run_recorder",
        "estimate_training_set",
        "build_training_set",
        "validate_data",
        "split",
        "train",
        "evaluate",
        "register",
        "promote",
        "run_recorder",
    )
    # A large set: its whole data prep and its fit are Batch jobs, each collected by a Lambda
    on_batch = runs["training_batch"]
    jobs = ("BuildOnBatch", "ValidateOnBatch", "SplitOnBatch", "TrainOnBatch", "EvaluateOnBatch")
    assert on_batch.batch_states == jobs and on_batch.batch_jobs == len(jobs)
    assert not {"build_training_set", "validate_data", "split", "train", "evaluate"} & set(on_batch.invocations)
    assert {"collect_training_result", "collect_batch_step"} <= set(on_batch.invocations)
    assert runs["feature"].invocations[1:5] == (
        "feature_validate",
        "feature_transform",
        "feature_write_offline",
        "feature_materialize",
    )
    assert {state: child.invocations for state, child in runs["feature_batch"].map_children} == {
        "ValidatePartitions": ("feature_validate_partition",),
        "TransformPartitions": ("feature_transform_partition",),
        "MaterializeShards": ("feature_materialize",),
    }
    assert {state: child.invocations for state, child in runs["batch_inference"].map_children} == {
        "PredictPartitions": ("batch_predict",)
    }
    # A run that searches first: PlanTrials, a Map of trials, ChooseBest, then back to the backend choice
    tuned = runs["training_tuned_batch"]
    states = [state for state, _ in tuned.steps]
    at = states.index("PlanTrials")
    assert states[at : at + 3] == ["PlanTrials", "ChooseBest", "CollectTrainingResult"]
    [(state, trial)] = tuned.map_children
    # (the run on Batch: build, validate, split, the final fit and evaluate are its five jobs)
    assert (state, trial.invocations, trial.batch_jobs, tuned.batch_jobs) == ("RunTrials", ("train",), 1, 5)
    # And the schedules: the monitor hourly (rule), the guard weekly (Scheduler)
    assert inventory.scheduled_invocations["monitor"] == 720
    assert inventory.scheduler_invocations == pytest.approx(30 / 7)


def test_interface_endpoints_bill_every_hour_in_each_availability_zone(inventory: Inventory) -> None:
    # 3 interface endpoints (ECR API, ECR Docker, Logs) in 2 subnets, whatever the traffic
    assert inventory.interface_endpoint_azs == 6
    assert item(inventory, quiet(), "VPC", "6 interface") == pytest.approx(6 * HOURS_PER_MONTH * 0.01)


def test_inference_lambda_is_gb_seconds_plus_requests(inventory: Inventory) -> None:
    # Given 1M requests of 10 records at 20 ms + 1 ms/record on 1024 MB (dev inference)
    profile = quiet(
        requests_per_month=1_000_000, records_per_request=10, inference_base_ms=20, inference_ms_per_record=1
    )
    # Then the cost is 1M x 0.030 s x 1 GB at the GB-s price plus 1M request charges
    expected = 1_000_000 * 0.030 * 1.0 * pricing.LAMBDA_GB_SECOND.usd + 0.20
    assert item(inventory, profile, "Lambda", "inference") == pytest.approx(expected)


def test_rest_and_http_api_differ_by_the_request_price(inventory: Inventory) -> None:
    result = estimate(DEV, inventory, quiet(requests_per_month=2_000_000))
    assert result.rest_api_usd == pytest.approx(7.00)
    assert result.http_api_usd == pytest.approx(2.00)
    assert result.total_usd - result.total_with_http_api_usd == pytest.approx(5.00)


def test_training_on_lambda_is_each_steps_memory_and_time(inventory: Inventory) -> None:
    # Given 10 runs: Train and Evaluate 100 s at 2048 MB; BuildTrainingSet, ValidateData, Split 5 s at 2048 MB;
    # StartRun, EstimateTrainingSet, Register, Promote, FinishRun 5 s at 512 MB
    profile = quiet(training_runs_per_month=10, train_seconds=100, step_seconds=5)
    gb_s = 10 * (2 * 100 * 2.0 + 3 * 5 * 2.0 + 5 * 5 * 0.5)
    expected = gb_s * pricing.LAMBDA_GB_SECOND.usd + 100 * pricing.LAMBDA_REQUEST.usd
    assert item(inventory, profile, "Lambda", "training: 10 runs (Lambda") == pytest.approx(expected)
    assert item(inventory, profile, "Fargate", "") == 0


def test_a_large_training_set_trains_on_fargate_priced_by_vcpu_and_memory_hours(inventory: Inventory) -> None:
    # Given training sets at the stage's Batch threshold: 2 vCPU and 8 GB (the job definition); the fit and the
    # evaluation 1800 s each, the build, validation and split a step's 5 s
    profile = quiet(training_runs_per_month=10, train_seconds=1800, training_rows=DEV.batch_threshold_rows)
    hours = 10 * (2 * 1800 + 3 * 5) / 3600
    expected = hours * (2 * pricing.FARGATE_VCPU_HOUR.usd + 8 * pricing.FARGATE_GB_HOUR.usd)
    assert item(inventory, profile, "Fargate", "Batch training jobs: 50 (10.04 h)") == pytest.approx(expected)
    # And past the Batch timeout the profile is refused, naming it
    with pytest.raises(CostModelError, match="exceeds the stage's Batch timeout of 3600s"):
        estimate(DEV, inventory, dataclasses.replace(profile, train_seconds=4000))


def test_a_tuned_run_adds_its_trials_on_the_runs_backend(inventory: Inventory) -> None:
    # Given 10 runs on Batch, 2 of which search 8 trials first
    profile = quiet(training_runs_per_month=10, tuned_runs_per_month=2, training_rows=DEV.batch_threshold_rows)
    # Then the Batch jobs are the 10 final trainings, their 10 evaluations and the 16 trials, each the profile's
    # train time, and the 30 data-prep jobs of a step's time
    seconds = (10 + 10 + 16) * 120 + 30 * 5
    expected = seconds / 3600 * (2 * pricing.FARGATE_VCPU_HOUR.usd + 8 * pricing.FARGATE_GB_HOUR.usd)
    assert item(inventory, profile, "Fargate", "Batch training jobs: 66 (1.24 h)") == pytest.approx(expected)
    with pytest.raises(CostModelError, match=r"tuned_runs_per_month \(11\) cannot exceed"):
        estimate(DEV, inventory, dataclasses.replace(profile, tuned_runs_per_month=11))


def test_feature_runs_write_the_online_store_per_entity_chunk_and_view(inventory: Inventory) -> None:
    # Given 10 runs of 12,000 rows over 100 entities: 3 chunks of 5,000 rows, at most 100 writes each, per view
    profile = quiet(feature_runs_per_month=10, feature_rows_per_run=12_000, entities=100)
    writes = 10 * 2 * (3 * 100 + 1 + 2)  # 2 online views; + each view's watermark, its lease taken and given back
    result = [i for i in estimate(DEV, inventory, profile).items if i.what.startswith("writes")]
    assert f"online store {writes:,}" in result[0].what


def test_schedules_fire_as_often_as_their_expression_says() -> None:
    assert runs_per_month("rate(1 hour)") == 720
    assert runs_per_month("rate(5 minutes)") == 8640
    assert runs_per_month("cron(0 3 ? * MON *)") == pytest.approx(30 / 7)
    assert runs_per_month("cron(0/15 * * * ? *)") == 4 * 24 * 30
    assert runs_per_month("cron(0 9 ? * MON-FRI *)") == pytest.approx(5 * 30 / 7)
    with pytest.raises(CostModelError, match="neither rate"):
        runs_per_month("every day")


def test_fixed_costs_come_from_the_template(inventory: Inventory) -> None:
    alarms = inventory.alarm_metrics
    assert item(inventory, quiet(), "CloudWatch", f"{alarms} alarm") == pytest.approx(alarms * 0.10 + 3.00)
    # The key's month, plus the requests of the functions that run on schedules whatever the traffic
    assert 1.00 < item(inventory, quiet(), "KMS", "1 customer-managed") < 1.05


def test_x_ray_traces_follow_the_default_sampling_rule(inventory: Inventory) -> None:
    # Below one request a second every request is traced; above, 1/s plus 5% of the rest (+ the scheduled functions)
    scheduled = sum(inventory.scheduled_invocations.values())
    assert item(inventory, quiet(requests_per_month=1000), "X-Ray", "") == pytest.approx((1000 + scheduled) * 5e-6)
    many = 100_000_000
    expected = (2_592_000 + 0.05 * many + scheduled) * 5e-6
    assert item(inventory, quiet(requests_per_month=many), "X-Ray", "") == pytest.approx(expected)


def test_sagemaker_always_on_is_instance_hours() -> None:
    assert sagemaker_always_on_usd(2) == pytest.approx(2 * HOURS_PER_MONTH * 0.115)


def test_profile_that_exceeds_the_stage_timeout_is_a_clear_error(inventory: Inventory) -> None:
    slow = quiet(training_runs_per_month=1, train_seconds=1200)
    with pytest.raises(CostModelError, match="exceeds the stage's training timeout of 900s"):
        estimate(DEV, inventory, slow)


def test_negative_profile_value_is_a_clear_error() -> None:
    with pytest.raises(CostModelError, match="requests_per_month must not be negative"):
        TrafficProfile("t", -1, 1, 0, 0)


def test_every_price_names_its_source_and_date() -> None:
    assert len(pricing.ALL) >= 30
    for name, price in pricing.ALL.items():
        assert price.source.startswith("https://aws.amazon.com/"), name
        assert price.as_of and price.usd > 0, name


def test_cost_command_prints_each_profile_and_rejects_an_unknown_one(
    assembly: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops.cli import main

    # When the command runs on the dev assembly with an override
    args = ["cost", "--stage", "dev", "--traffic", "small", "--requests", "2000000", "--assembly", str(assembly)]
    assert main(args) == 0
    out = capsys.readouterr().out
    # Then it prints the overridden profile, the API line, the endpoints and the SageMaker comparison
    assert "2,000,000 requests/month" in out
    assert "REST API: 2,000,000 requests" in out and "6 interface endpoint-AZs" in out and "SageMaker" in out
    assert "NOT PRICED" not in out
    # And an unknown profile is an error; every documented profile fits the dev stage
    assert main(["cost", "--traffic", "huge", "--assembly", str(assembly)]) == 2
    assert main(["cost", "--traffic", "large", "--assembly", str(assembly)]) == 0
    assert render(estimate(DEV, inventory_from_template(assembly / "Mlops-dev.template.json"), PROFILES["small"]))
