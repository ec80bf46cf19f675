"""Encryption and data protection of the stage stacks (template assertions and the local cloud)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.config import stage_config
from infra.constructs.encryption import READ_ACTIONS, WRITE_ACTIONS
from mlops.local import LocalCloud
from tests.helpers import upload_raw


def _template(directory: Path, stage: str) -> Template:
    return Template.from_json(json.loads((directory / f"Mlops-{stage}.template.json").read_text()))


@pytest.fixture(scope="module")
def dev(assembly: Path) -> Template:
    return _template(assembly, "dev")


@pytest.fixture(scope="module")
def prod(prod_assembly: Path) -> Template:
    return _template(prod_assembly, "prod")


def _key_id(template: Template) -> str:
    (key_id,) = template.find_resources("AWS::KMS::Key")
    return key_id


def _is_key(value: Any, key_id: str) -> bool:
    return value in ({"Fn::GetAtt": [key_id, "Arn"]}, {"Ref": key_id})


def test_data_key_is_customer_managed_with_rotation(dev: Template) -> None:
    (key,) = dev.find_resources("AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"]["RotationPeriodInDays"] == stage_config("dev").kms_rotation_days
    assert key["Properties"]["PendingWindowInDays"] == stage_config("dev").kms_deletion_window_days


def test_key_policy_admits_logs_alarms_and_events_only_for_this_account(dev: Template) -> None:
    (key,) = dev.find_resources("AWS::KMS::Key").values()
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    logs = statements["CloudWatchLogsEncryptsThisStacksLogGroups"]
    assert logs["Principal"]["Service"] == {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
    for sid, service in (
        ("CloudWatchAlarmsPublishToTheEncryptedTopic", "cloudwatch.amazonaws.com"),
        ("EventBridgeSendsToTheEncryptedDeadLetterQueue", "events.amazonaws.com"),
    ):
        assert statements[sid]["Principal"]["Service"] == service
        assert statements[sid]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    for statement in statements.values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement.get("Sid"):
            assert all("*" not in action for action in actions)


def test_data_buckets_use_the_key_and_the_access_log_bucket_stays_sse_s3(dev: Template) -> None:
    key_id = _key_id(dev)
    buckets = dev.find_resources("AWS::S3::Bucket")
    by_algorithm: dict[str, list[str]] = {}
    for logical_id, bucket in buckets.items():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        default = rule["ServerSideEncryptionByDefault"]
        by_algorithm.setdefault(default["SSEAlgorithm"], []).append(logical_id)
        if default["SSEAlgorithm"] == "aws:kms":
            assert _is_key(default["KMSMasterKeyID"], key_id)
            assert rule["BucketKeyEnabled"] is True
            assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
            assert "LoggingConfiguration" in bucket["Properties"]
    (access_logs,) = by_algorithm["AES256"]
    assert access_logs.startswith("StorageAccessLogs")
    assert len(by_algorithm["aws:kms"]) == len(buckets) - 1


def test_tables_topic_queues_and_log_groups_use_the_key(dev: Template) -> None:
    key_id = _key_id(dev)
    for table in dev.find_resources("AWS::DynamoDB::Table").values():
        sse = table["Properties"]["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
        assert _is_key(sse["KMSMasterKeyId"], key_id)
    for topic in dev.find_resources("AWS::SNS::Topic").values():
        assert _is_key(topic["Properties"]["KmsMasterKeyId"], key_id)
    for queue in dev.find_resources("AWS::SQS::Queue").values():
        assert _is_key(queue["Properties"]["KmsMasterKeyId"], key_id)
    log_groups = dev.find_resources("AWS::Logs::LogGroup")
    assert log_groups
    for log_group in log_groups.values():
        assert _is_key(log_group["Properties"]["KmsKeyId"], key_id)
        assert log_group["Properties"]["RetentionInDays"] == stage_config("dev").log_retention_days


def test_function_roles_may_use_the_key_with_explicit_actions_only(dev: Template) -> None:
    key_id = _key_id(dev)
    key_statements = [
        statement
        for policy in dev.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if _is_key(statement["Resource"], key_id)
    ]
    assert key_statements
    allowed = set(READ_ACTIONS + WRITE_ACTIONS)
    for statement in key_statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert set(actions) <= allowed, actions


def test_inference_role_encrypts_only_because_it_writes_feedback(dev: Template) -> None:
    # It reads artifacts and the registry, and writes only feedback/ objects in the captures bucket.
    key_id = _key_id(dev)
    for logical_id, policy in dev.find_resources("AWS::IAM::Policy").items():
        if not logical_id.startswith("FunctionsInferenceRole"):
            continue
        key_actions = {
            action
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if _is_key(statement["Resource"], key_id)
            for action in statement["Action"]
        }
        assert key_actions == set(READ_ACTIONS + WRITE_ACTIONS)
        s3_writes = [
            statement["Resource"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if "s3:PutObject" in statement["Action"]
        ]
        assert len(s3_writes) == 1 and "/feedback/*" in json.dumps(s3_writes[0])


def test_dev_destroys_and_prod_retains_stateful_resources(dev: Template, prod: Template) -> None:
    stateful = ("AWS::KMS::Key", "AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup")
    for rtype in stateful:
        assert {r["DeletionPolicy"] for r in dev.find_resources(rtype).values()} == {"Delete"}, rtype
        assert {r["DeletionPolicy"] for r in prod.find_resources(rtype).values()} == {"Retain"}, rtype


def test_pipeline_artifacts_are_encrypted_with_the_key_on_the_local_cloud(cloud: LocalCloud) -> None:
    # Given the raw dataset uploaded to the data bucket (default encryption applies)
    uri = upload_raw(cloud)
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    # When its metadata is read back
    head = cloud.client("s3").head_object(Bucket=bucket, Key=key)
    # Then it was stored SSE-KMS under the stage key
    assert head["ServerSideEncryption"] == "aws:kms"
    key_arns = [r.attributes["Arn"] for r in cloud.physical["Mlops-dev"].values() if r.ref and "KeyId" in r.attributes]
    assert head["SSEKMSKeyId"] in key_arns


def test_local_cloud_creates_tables_topic_queue_and_log_groups_under_the_key(cloud: LocalCloud) -> None:
    # Given the dev stacks stood up locally, When each encrypted resource is described
    physical = cloud.physical["Mlops-dev"]
    (key,) = [r for r in physical.values() if "KeyId" in r.attributes]
    resources = {lid: r.ref for lid, r in physical.items()}
    tables = [ref for lid, ref in resources.items() if lid.startswith(("RegistryTable", "MetadataTable"))]
    # Then each one names the stage key
    assert len(tables) == 2
    for table in tables:
        sse = cloud.client("dynamodb").describe_table(TableName=table)["Table"]["SSEDescription"]
        assert sse["SSEType"] == "KMS" and sse["KMSMasterKeyArn"] == key.attributes["Arn"]
    topic = next(ref for lid, ref in resources.items() if lid.startswith("AlarmTopic"))
    names_of_key = {key.ref, key.attributes["Arn"]}
    assert cloud.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"] in names_of_key
    queue = next(ref for lid, ref in resources.items() if lid.startswith("TrainingPipelineTriggerDeadLetters"))
    attributes = cloud.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["KmsMasterKeyId"] in names_of_key
    groups = cloud.client("logs").describe_log_groups()["logGroups"]
    assert groups and all(group.get("kmsKeyId") == key.attributes["Arn"] for group in groups)


def test_captures_and_access_logs_expire_and_data_does_not(dev: Template, prod: Template) -> None:
    for template, stage in ((dev, "dev"), (prod, "prod")):
        config = stage_config(stage)
        rules = {
            logical_id: bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
            for logical_id, bucket in template.find_resources("AWS::S3::Bucket").items()
        }
        (captures,) = (rules[i] for i in rules if i.startswith("StorageCaptures"))
        assert captures == [
            {
                "ExpirationInDays": config.capture_retention_days,
                "Id": "ExpireCapturesAndFeedback",
                "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                "Status": "Enabled",
            },
            {"ExpiredObjectDeleteMarker": True, "Id": "RemoveExpiredDeleteMarkers", "Status": "Enabled"},
        ], stage
        (access_logs,) = (rules[i] for i in rules if i.startswith("StorageAccessLogs"))
        assert [r["ExpirationInDays"] for r in access_logs] == [config.log_retention_days], stage
        # the data and artifacts buckets (training data, models, lineage) never expire by themselves
        assert all(not rules[i] for i in rules if i.startswith(("StorageData", "StorageArtifacts"))), stage


def test_captures_that_would_expire_before_their_labels_can_join_are_refused() -> None:
    from dataclasses import replace

    from infra.config import StageConfigError

    with pytest.raises(StageConfigError, match=r"capture_retention_days must exceed .* \(192 hours\), got 7 days"):
        replace(stage_config("dev"), capture_retention_days=7)


def test_the_api_s_execution_logs_go_to_a_group_of_the_stack_with_retention_and_the_key(dev: Template) -> None:
    # API Gateway would otherwise create API-Gateway-Execution-Logs_<api>/<stage> itself, unencrypted, kept forever
    (api_id,) = dev.find_resources("AWS::ApiGateway::RestApi")
    groups = dev.find_resources("AWS::Logs::LogGroup")
    [(group_id, group)] = [
        (i, g) for i, g in groups.items() if "API-Gateway-Execution-Logs_" in json.dumps(g["Properties"])
    ]
    assert group["Properties"]["LogGroupName"] == {
        "Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, "/v1"]]
    }
    assert group["Properties"]["RetentionInDays"] == stage_config("dev").log_retention_days
    assert _is_key(group["Properties"]["KmsKeyId"], _key_id(dev))
    (stage,) = dev.find_resources("AWS::ApiGateway::Stage").values()
    assert group_id in stage["DependsOn"]  # made before the stage starts logging
