"""Stage config: hardening values validated with clear errors, and what the template takes from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import STAGES, StageConfig, StageConfigError
from tests.conftest import shared_synth
from tests.projects import SEATTLE_DIR, WAF_ACL

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"inference_reserved_concurrency": 0}, "inference_reserved_concurrency must be None"),
        ({"alarm_min_requests": 0}, "alarm_min_requests must be within"),
        ({"monitor_schedule": "rate(2 hours)"}, r"monitor_schedule runs every 120 minutes, longer than monitor_window"),
        ({"alarm_period_minutes": 7}, "alarm_period_minutes must be one of"),
        ({"alarm_evaluation_periods": 0}, "alarm_evaluation_periods"),
        ({"dead_letter_retention_days": 15}, "dead_letter_retention_days must be within 1..14"),
        ({"kms_rotation_days": 30}, "kms_rotation_days must be within 90..2560"),
        ({"kms_deletion_window_days": 3}, "kms_deletion_window_days must be within 7..30"),
        ({"canary_percent": 0}, "canary_percent"),
        ({"canary_minutes": 0}, "canary_minutes"),
        ({"pipeline_timeout_s": 10}, "pipeline_timeout_s"),
        ({"inference_max_records": 0}, "inference_max_records"),
    ],
)
def test_bad_hardening_value_is_a_clear_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(StageConfigError, match=message):
        StageConfig(**(STAGES["dev"].__dict__ | change))


def test_cdk_json_context_only_selects_the_stage_and_the_project() -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    assert set(context) == {"stage", "project"}
    # The default project is the shipped demo, a folder and not settings of its own
    assert (REPO_ROOT / context["project"]).resolve() == SEATTLE_DIR


def test_reserved_concurrency_is_opt_in() -> None:
    # Given the shipped stages (new accounts may have a concurrency quota of 10)
    assert all(config.inference_reserved_concurrency is None for config in STAGES.values())


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The dev app synthesized (cdk-nag included) with every stage option the tests below read changed from its
    default (tests.projects.TUNED_DEV), with the suite's other shared assemblies."""
    assembly = shared_synth(tmp_path_factory, "seattle-tuned", stage="dev", project=SEATTLE_DIR)
    return Template.from_json(json.loads((assembly / "Mlops-dev.template.json").read_text()))


def test_template_takes_throttling_alarm_and_concurrency_from_the_config(tuned: Template) -> None:
    # Given a dev config with a reserved inference concurrency, a stricter alarm and tighter throttling
    template = tuned
    # Then the template carries each value
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"ImageConfig": {"Command": ["functions.handlers.inference.handler"]}, "ReservedConcurrentExecutions": 20},
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": Match.array_with(
                [
                    Match.object_like({"Expression": "IF(requests >= 50, FILL(errors, 0) / requests, 0)"}),
                    Match.object_like(
                        {
                            "MetricStat": Match.object_like(
                                {"Metric": Match.object_like({"MetricName": "ServerErrors"}), "Period": 60}
                            )
                        }
                    ),
                ]
            ),
            "Threshold": 0.1,
            "EvaluationPeriods": 2,
        },
    )
    template.has_resource_properties("AWS::ApiGateway::UsagePlan", {"Throttle": {"RateLimit": 7, "BurstLimit": 9}})
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {"MethodSettings": [{"ThrottlingRateLimit": 7, "ThrottlingBurstLimit": 9, "DataTraceEnabled": False}]},
    )


def test_iam_auth_and_waf_are_stage_options(tuned: Template) -> None:
    # Given api_auth="iam" and a WAF web ACL in the stage config, Then every method takes SigV4 and no API key
    methods = tuned.find_resources("AWS::ApiGateway::Method")
    assert all(m["Properties"]["AuthorizationType"] == "AWS_IAM" for m in methods.values())
    assert not any(m["Properties"].get("ApiKeyRequired") for m in methods.values())
    # And the stage is associated with the web ACL
    tuned.has_resource_properties("AWS::WAFv2::WebACLAssociation", {"WebACLArn": WAF_ACL})
    tuned.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
