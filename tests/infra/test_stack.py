"""CDK assertions on the synthesized stack, and the cdk-nag gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from infra.app_builder import build_app
from infra.config import STAGES, FunctionSizing, StageConfig, StageConfigError, stage_config
from infra.constructs.training_pipeline import STEPS
from infra.nag import add_nag_checks


@pytest.fixture(scope="module")
def template(assembly: Path) -> Template:
    return Template.from_json(json.loads((assembly / "Mlops-dev.template.json").read_text()))


def test_tables_have_point_in_time_recovery(template: Template) -> None:
    tables = template.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 2
    for table in tables.values():
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"


def test_buckets_are_private_encrypted_and_tls_only(template: Template) -> None:
    for bucket in template.find_resources("AWS::S3::Bucket").values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert "BucketEncryption" in props
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == len(template.find_resources("AWS::S3::Bucket")) == 4
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_every_function_runs_from_the_container_image_with_its_own_role(template: Template) -> None:
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == len(STEPS) + 1  # the training pipeline's steps and the inference function
    roles = {json.dumps(f["Properties"]["Role"]) for f in functions.values()}
    assert len(roles) == len(functions)
    for fn in functions.values():
        assert fn["Properties"]["PackageType"] == "Image"
        assert fn["Properties"]["ImageConfig"]["Command"][0].startswith("functions.handlers.")


def test_no_policy_grants_a_wildcard_action(template: Template) -> None:
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all(a != "*" and not a.endswith(":*") for a in actions), actions


def test_api_methods_require_a_key_and_the_usage_plan_throttles(template: Template) -> None:
    methods = template.find_resources("AWS::ApiGateway::Method")
    assert {m["Properties"]["HttpMethod"] for m in methods.values()} == {"POST", "GET"}
    assert all(m["Properties"]["ApiKeyRequired"] is True for m in methods.values())
    config = stage_config("dev")
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": config.api_rate_limit_rps, "BurstLimit": config.api_burst_limit}},
    )
    template.has_resource_properties("AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True})


def test_state_machine_is_the_asl_file_with_function_substitutions(template: Template) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "DefinitionSubstitutions": {
                "TrainFunctionArn": {"Fn::GetAtt": [Match.string_like_regexp("FunctionsTrain"), "Arn"]},
            },
            "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
            "TracingConfiguration": {"Enabled": True},
        },
    )


def test_schedule_starts_the_pipeline_with_a_dead_letter_queue(template: Template) -> None:
    rules = template.find_resources("AWS::Events::Rule")
    (rule,) = rules.values()
    assert rule["Properties"]["ScheduleExpression"] == stage_config("dev").retrain_schedule
    (target,) = rule["Properties"]["Targets"]
    assert "DeadLetterConfig" in target
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3


def test_server_error_alarm_notifies_the_alarm_topic(template: Template) -> None:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    (alarm,) = alarms.values()
    assert alarm["Properties"]["MetricName"] == "ServerErrors"
    (action,) = alarm["Properties"]["AlarmActions"]
    assert action["Ref"].startswith("AlarmTopic")


def test_prod_stage_retains_stateful_resources() -> None:
    app = App()
    (stack,) = build_app(app, "prod")
    template = Template.from_stack(stack)
    for rtype in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
        for resource in template.find_resources(rtype).values():
            assert resource["DeletionPolicy"] == "Retain"


def test_unacknowledged_nag_finding_fails_synth(tmp_path: Path) -> None:
    # Given an app with a bucket that breaks AwsSolutions rules (no TLS policy, no access logs)
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    s3.Bucket(stack, "Open", removal_policy=RemovalPolicy.DESTROY)
    add_nag_checks(app)
    # When it synthesizes, Then the nag gate fails it
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report: dict[str, Any] = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Dev"}, "name must match"),
        ({"log_retention_days": 10}, "log_retention_days must be one of"),
        ({"training": FunctionSizing(memory_mb=64, timeout_s=10)}, "training.memory_mb"),
        ({"retrain_schedule": "every monday"}, "retrain_schedule"),
        ({"api_rate_limit_rps": 100, "api_burst_limit": 10}, "api_burst_limit"),
        ({"min_accuracy": 1.5}, "min_accuracy"),
    ],
)
def test_bad_stage_config_is_a_clear_error(change: dict[str, Any], message: str) -> None:
    base = STAGES["dev"].__dict__ | change
    with pytest.raises(StageConfigError, match=message):
        StageConfig(**base)


def test_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(StageConfigError, match="known stages: dev, prod"):
        stage_config("staging")
