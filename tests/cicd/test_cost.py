"""The cost model's arithmetic, on a fixed inventory and hand-computed expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config import stage_config
from mlops import pricing
from mlops.cost import (
    HOURS_PER_MONTH,
    PROFILES,
    CostModelError,
    Inventory,
    TrafficProfile,
    estimate,
    inventory_from_template,
    render,
    sagemaker_always_on_usd,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Inventory(kms_keys=1, alarms=2, pipeline_states=11, pipeline_training_steps=2, pipeline_other_steps=4)


def _item(profile: TrafficProfile, service: str, starts: str) -> float:
    (usd,) = [
        i.usd
        for i in estimate(stage_config("dev"), INVENTORY, profile).items
        if i.service == service and i.what.startswith(starts)
    ]
    return usd


def test_inference_lambda_is_gb_seconds_plus_requests() -> None:
    # Given 1M requests of 10 records at 20 ms + 1 ms/record on 1024 MB (dev inference)
    profile = TrafficProfile("t", 1_000_000, 10, 0, 0, inference_base_ms=20, inference_ms_per_record=1)
    # Then the cost is 1M x 0.030 s x 1 GB at the GB-s price plus 1M request charges
    expected = 1_000_000 * 0.030 * 1.0 * pricing.LAMBDA_GB_SECOND.usd + 0.20
    assert _item(profile, "Lambda", "inference") == pytest.approx(expected)


def test_rest_and_http_api_differ_by_the_request_price() -> None:
    profile = TrafficProfile("t", 2_000_000, 1, 0, 0)
    result = estimate(stage_config("dev"), INVENTORY, profile)
    assert result.rest_api_usd == pytest.approx(7.00)
    assert result.http_api_usd == pytest.approx(2.00)
    assert result.total_usd - result.total_with_http_api_usd == pytest.approx(5.00)


def test_training_scales_with_runs_and_stage_memory() -> None:
    # Given 10 runs, 2 training steps x 100 s at 2048 MB and 4 other steps x 5 s at 512 MB
    profile = TrafficProfile("t", 0, 1, 10, 0, train_seconds=100, step_seconds=5)
    gb_s = 10 * (2 * 100 * 2.0 + 4 * 5 * 0.5)
    expected = gb_s * pricing.LAMBDA_GB_SECOND.usd + 60 * pricing.LAMBDA_REQUEST.usd
    assert _item(profile, "Lambda", "training") == pytest.approx(expected)
    assert _item(profile, "Step Functions", "") == pytest.approx(10 * 12 * pricing.SFN_STANDARD_TRANSITION.usd)


def test_fixed_costs_come_from_the_inventory() -> None:
    profile = TrafficProfile("t", 0, 1, 0, 0, custom_metrics=0)
    assert _item(profile, "CloudWatch", "2 alarm") == pytest.approx(0.20)
    assert _item(profile, "KMS", "1 customer-managed") == pytest.approx(1.00)


def test_x_ray_traces_follow_the_default_sampling_rule() -> None:
    # Below one request a second every request is traced; above, 1/s plus 5% of the rest
    assert _item(TrafficProfile("t", 1000, 1, 0, 0), "X-Ray", "") == pytest.approx(1000 * 5e-6)
    many = 100_000_000
    assert _item(TrafficProfile("t", many, 1, 0, 0), "X-Ray", "") == pytest.approx((2_592_000 + 0.05 * many) * 5e-6)


def test_sagemaker_always_on_is_instance_hours() -> None:
    assert sagemaker_always_on_usd(2) == pytest.approx(2 * HOURS_PER_MONTH * 0.115)


def test_profile_that_exceeds_the_stage_timeout_is_a_clear_error() -> None:
    import dataclasses

    slow = dataclasses.replace(PROFILES["large"], train_seconds=1200)
    with pytest.raises(CostModelError, match="exceeds the stage's training timeout of 900s"):
        estimate(stage_config("dev"), INVENTORY, slow)


def test_negative_profile_value_is_a_clear_error() -> None:
    with pytest.raises(CostModelError, match="requests_per_month must not be negative"):
        TrafficProfile("t", -1, 1, 0, 0)


def test_every_price_names_its_source_and_date() -> None:
    assert len(pricing.ALL) >= 20
    for name, price in pricing.ALL.items():
        assert price.source.startswith("https://aws.amazon.com/"), name
        assert price.as_of and price.usd > 0, name


def test_inventory_counts_the_dev_template(assembly: Path) -> None:
    inventory = inventory_from_template(
        assembly / "Mlops-dev.template.json", REPO_ROOT / "stepfunctions" / "training_pipeline.asl.json"
    )
    template = json.loads((assembly / "Mlops-dev.template.json").read_text())
    assert inventory.kms_keys == 1
    assert inventory.alarms == sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in template["Resources"].values())
    assert inventory.pipeline_training_steps == 2
    lines = render(estimate(stage_config("dev"), inventory, PROFILES["small"]))
    assert lines[-3].split()[0] == "total"


def test_cost_command_prints_each_profile_and_rejects_an_unknown_one(
    assembly: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops.cli import main

    # When the command runs on the dev assembly with an override
    args = ["cost", "--stage", "dev", "--profile", "small", "--requests", "2000000", "--assembly", str(assembly)]
    assert main(args) == 0
    out = capsys.readouterr().out
    # Then it prints the overridden profile, the API line and the SageMaker comparison
    assert "2,000,000 requests/month" in out
    assert "REST API: 2,000,000 requests" in out and "SageMaker" in out
    # And an unknown profile is an error; every documented profile fits the dev stage
    assert main(["cost", "--profile", "huge", "--assembly", str(assembly)]) == 2
    assert main(["cost", "--profile", "large", "--assembly", str(assembly)]) == 0
