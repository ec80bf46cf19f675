"""CDK assertions on the synthesized stack, and the cdk-nag gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from functions.serving.capture_format import CAPTURE_FILTER_PATTERN
from infra.config import STAGES, FunctionSizing, StageConfig, StageConfigError, stage_config
from infra.nag import add_nag_checks


@pytest.fixture(scope="module")
def template(assembly: Path) -> Template:
    return Template.from_json(json.loads((assembly / "Mlops-dev.template.json").read_text()))


def test_tables_have_point_in_time_recovery(template: Template) -> None:
    tables = template.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 4  # registry, metadata, retrain guard, online features
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
    # Storage's four, the offline store's, Athena's results
    assert len(policies) == len(template.find_resources("AWS::S3::Bucket")) == 6
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_every_function_runs_from_the_container_image_with_its_own_role(template: Template) -> None:
    functions = template.find_resources("AWS::Lambda::Function")
    roles = {json.dumps(f["Properties"]["Role"]) for f in functions.values()}
    assert len(roles) == len(functions) >= 7
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


def test_retrain_schedule_goes_through_the_guard_with_a_dead_letter_queue(template: Template) -> None:
    (schedule,) = template.find_resources("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == stage_config("dev").retrain_schedule
    assert props["Target"]["Arn"]["Fn::GetAtt"][0].startswith("FunctionsRetrainGuard")
    assert "DeadLetterConfig" in props["Target"]
    assert props["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 3


def test_every_rule_target_has_a_dead_letter_queue_and_none_bypasses_the_guard(template: Template) -> None:
    rules = template.find_resources("AWS::Events::Rule")
    # monitor schedule, alarm trigger, training run finished; rollout: champion moved, rollout ended (CodeDeploy's
    # state change and the outcome recorder's), reconcile schedule;
    # feature store: new raw data, new raw batch (its _SUCCESS marker); new features stored -> retrain guard
    assert len(rules) == 10
    for rule in rules.values():
        for target in rule["Properties"]["Targets"]:
            assert "DeadLetterConfig" in target
            assert "TrainingPipelineStateMachine" not in json.dumps(target["Arn"])


def test_every_alarm_notifies_the_alarm_topic(template: Template) -> None:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    queries = [q for a in alarms.values() for q in a["Properties"].get("Metrics", [a["Properties"]])]
    names = {
        q["MetricStat"]["Metric"]["MetricName"] if "MetricStat" in q else q.get("MetricName", "expression")
        for q in queries
    }
    assert names >= {"ServerErrors", "Invocations", "DriftShare", "LiveAccuracy", "WindowSkipped", "5XXError"} | {
        "Count",
        "Latency",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "ServerError",
        "BaselineAgreement",
        "expression",
    }
    for alarm in alarms.values():
        (action,) = alarm["Properties"]["AlarmActions"]
        assert action["Ref"].startswith("AlarmTopic")


def test_unacknowledged_nag_finding_fails_synth(tmp_path: Path) -> None:
    # Given an app with a bucket that breaks AwsSolutions rules (no TLS policy, no access logs)
    # and a function that breaks Serverless rules (no tracing, no DLQ)
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    s3.Bucket(stack, "Open", removal_policy=RemovalPolicy.DESTROY)
    lambda_.Function(
        stack,
        "Untraced",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
    )
    add_nag_checks(app)
    # When it synthesizes, Then the nag gate fails it
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report: dict[str, Any] = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules
    assert {"Serverless-LambdaTracing", "Serverless-LambdaDLQ"} <= rules


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Dev"}, "name must match"),
        ({"log_retention_days": 10}, "log_retention_days must be one of"),
        ({"training": FunctionSizing(memory_mb=64, timeout_s=10)}, "training.memory_mb"),
        ({"retrain_schedule": "every monday"}, "retrain_schedule"),
        ({"api_rate_limit_rps": 100, "api_burst_limit": 10}, "api_burst_limit"),
        ({"canary_percent": 100}, "canary_percent"),
        ({"canary_minutes": 0}, "canary_minutes"),
        ({"canary_min_baseline_agreement": 1.5}, "canary_min_baseline_agreement"),
        ({"api_auth": "cognito"}, "api_auth must be"),
        ({"waf_web_acl_arn": "arn:aws:wafv2:us-east-1:123:global/webacl/x"}, "waf_web_acl_arn"),
        ({"drift_sample_rate": 2.0}, "drift_sample_rate"),
        ({"drift_sample_rate": 0.0}, "drift_sample_rate"),
        ({"monitor_schedule": "hourly"}, "monitor_schedule"),
        ({"drift_share_alarm": 0.0}, "drift_share_alarm"),
        ({"retrain_daily_budget": 0}, "retrain_daily_budget"),
        ({"feedback_max_label_delay_hours": 0}, "feedback_max_label_delay_hours must be within 1..8784"),
        ({"retrain_cooldown_s": -1}, "retrain_cooldown_s"),
    ],
)
def test_bad_stage_config_is_a_clear_error(change: dict[str, Any], message: str) -> None:
    base = STAGES["dev"].__dict__ | change
    with pytest.raises(StageConfigError, match=message):
        StageConfig(**base)


def test_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(StageConfigError, match="known stages: dev, prod"):
        stage_config("staging")


def test_api_calls_alias_live_which_codedeploy_shifts_by_stage_canary(template: Template) -> None:
    (alias_id,) = template.find_resources("AWS::Lambda::Alias", {"Properties": {"Name": "live"}})
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        uri = json.dumps(method["Properties"]["Integration"]["Uri"])
        assert alias_id in uri, "every route must invoke alias live, not the function"
    config = STAGES["dev"]
    template.has_resource_properties(
        "AWS::CodeDeploy::DeploymentConfig",
        {
            "ComputePlatform": "Lambda",
            "TrafficRoutingConfig": {
                "Type": "TimeBasedCanary",
                "TimeBasedCanary": {
                    "CanaryPercentage": config.canary_percent,
                    "CanaryInterval": config.canary_minutes,
                },
            },
        },
    )
    (group,) = template.find_resources("AWS::CodeDeploy::DeploymentGroup").values()
    assert len(group["Properties"]["AlarmConfiguration"]["Alarms"]) == 3
    assert set(group["Properties"]["AutoRollbackConfiguration"]["Events"]) >= {
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_ALARM",
    }
    (alias,) = template.find_resources("AWS::Lambda::Alias").values()
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["BeforeAllowTrafficHook"]["Ref"].startswith(
        "FunctionsPreTrafficHook"
    )


def test_canary_alarms_watch_one_model_version_of_the_inference_metrics(template: Template) -> None:
    canary = {
        props["MetricName"]: props
        for spec in template.find_resources("AWS::CloudWatch::Alarm").values()
        for props in [spec["Properties"]]
        if {"Name": "ModelVersion", "Value": "none"} in props.get("Dimensions", [])
    }
    assert set(canary) == {"ServerError", "Latency", "BaselineAgreement"}
    assert canary["Latency"]["ExtendedStatistic"] == "p99"
    assert canary["BaselineAgreement"]["ComparisonOperator"] == "LessThanThreshold"


def test_promotion_event_starts_the_deployer(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["mlops.registry"],
                "detail-type": ["Model Alias Moved"],
                "detail": {"alias": ["champion"]},
            },
            "Targets": [
                Match.object_like({"Arn": {"Fn::GetAtt": [Match.string_like_regexp("^FunctionsDeployer"), "Arn"]}})
            ],
        },
    )


def test_captures_travel_by_log_subscription_to_the_capture_stream(template: Template) -> None:
    # Given the inference function, its log group and its model's capture stream
    (function,) = [
        f for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["ImageConfig"]["Command"] == ["functions.handlers.inference.handler"]
    ]  # fmt: skip
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]
    (stream_id,) = template.find_resources("AWS::KinesisFirehose::DeliveryStream")
    # Then the log group's one subscription filter selects capture lines only and targets the stream
    (subscription,) = template.find_resources("AWS::Logs::SubscriptionFilter").values()
    props = subscription["Properties"]
    assert props["LogGroupName"] == log_group
    assert props["FilterPattern"] == CAPTURE_FILTER_PATTERN == '{ $.mlops_capture = "v1" }'
    assert props["DestinationArn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    # And the stream unpacks CloudWatch Logs batches back into one capture line per record
    stream = template.find_resources("AWS::KinesisFirehose::DeliveryStream")[stream_id]["Properties"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"] == {
        "Enabled": True,
        "Processors": [
            {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]},
            {
                "Type": "CloudWatchLogProcessing",
                "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}],
            },
            {"Type": "AppendDelimiterToRecord"},
        ],
    }


def test_only_cloudwatch_logs_may_put_captures_and_only_from_the_inference_log_group(template: Template) -> None:
    (subscription,) = template.find_resources("AWS::Logs::SubscriptionFilter").values()
    role_id = subscription["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    log_group_id = subscription["Properties"]["LogGroupName"]["Ref"]
    # The role trusts CloudWatch Logs of this account, delivering from this log group only (confused deputy)
    (trust,) = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arns = trust["Condition"]["ArnLike"]["aws:SourceArn"]
    assert {"Fn::GetAtt": [log_group_id, "Arn"]} in source_arns
    assert all(log_group_id in json.dumps(arn) for arn in source_arns)
    # It may put records to the capture stream and nothing else
    (stream_id,) = template.find_resources("AWS::KinesisFirehose::DeliveryStream")
    granted = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert granted == [
        {
            "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [stream_id, "Arn"]},
        }
    ]
    # And no other role may write to any Firehose stream: the inference function only prints its captures
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            continue
        actions = json.dumps([s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]])
        assert "firehose:" not in actions, policy["Properties"]["Roles"]
