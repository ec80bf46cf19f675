"""CDK assertions on the feature store: tables, catalog, trigger, pipeline, grants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from functions.shared.settings import ONLINE_TTL_ATTRIBUTE
from infra.asl import load_asl
from tests.projects import seattle


@pytest.fixture(scope="module")
def template(assembly: Path) -> Template:
    return Template.from_json(json.loads((assembly / "Mlops-dev.template.json").read_text()))


def test_online_table_has_its_ttl_attribute(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"TimeToLiveSpecification": {"AttributeName": ONLINE_TTL_ATTRIBUTE, "Enabled": True}},
    )


def test_every_feature_view_has_a_glue_table_with_partition_projection(template: Template) -> None:
    tables = template.find_resources("AWS::Glue::Table")
    names = {t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"] for t in tables.values()}
    # The project's views and each model's feedback view (captured predictions joined with their ground truth)
    views = [*seattle().feature_views, *(seattle().feedback_view(m) for m in seattle().models)]
    # ... and the Athena path's committed_files table (infra/constructs/athena.py: no feature view's)
    assert set(names) == {f"{v.name}_v{v.version}" for v in views} | {"committed_files"}
    assert "feedback_seattle_weather_v1" in names
    for view in views:
        table = names[f"{view.name}_v{view.version}"]
        assert table["Parameters"]["projection.enabled"] == "true"
        assert table["PartitionKeys"] == [{"Name": "event_month", "Type": "string"}]
        columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
        assert columns == [f.name for f in view.stored_schema]


def test_new_objects_under_raw_features_start_the_feature_pipeline(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket", {"NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}}
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": Match.object_like({"object": {"key": [{"prefix": "raw/features/"}]}}),
            },
            "Targets": [Match.object_like({"DeadLetterConfig": Match.any_value()})],
        },
    )


def _tasks(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in document["States"].items() if state["Type"] == "Task"}


def test_every_feature_pipeline_task_has_a_timeout_retry_with_jitter_and_a_catch() -> None:
    document = load_asl("feature_pipeline")
    tasks = _tasks(document)
    assert set(tasks) >= {"Validate", "Transform", "WriteOffline", "Materialize"}
    for name, state in tasks.items():
        assert "TimeoutSeconds" in state, name
        (retry,) = state["Retry"]
        assert "TransientStoreError" in retry["ErrorEquals"] and retry["JitterStrategy"] == "FULL", name
        if name != "RecordFailure":
            assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name


def test_feature_steps_get_only_their_prefixes(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    validate = next(p for k, p in policies.items() if "FeatureValidate" in k)
    resources = json.dumps([s["Resource"] for s in validate["Properties"]["PolicyDocument"]["Statement"]])
    assert "raw/features/*" in resources and "staging/*" in resources and "quarantine/*" in resources
    assert "features/*" not in resources.replace("raw/features/*", "")
    # Validate never touches the online table; only Materialize writes it.
    assert "FeatureStoreOnline" not in resources
    materialize = next(p for k, p in policies.items() if "FeatureMaterialize" in k)
    assert "FeatureStoreOnline" in json.dumps(materialize)


def _feature_rules_matching(template: Template, key: str) -> list[str]:
    """The feature-store S3 rules whose object-key pattern matches ``key`` (moto's EventBridge matcher)."""
    from moto.events.models import EventPattern

    matched = []
    for logical_id, rule in template.find_resources("AWS::Events::Rule").items():
        pattern = rule["Properties"].get("EventPattern", {})
        if pattern.get("source") != ["aws.s3"]:
            continue
        key_only = {"detail": {"object": pattern["detail"]["object"]}}
        if EventPattern.load(json.dumps(key_only)).matches_event({"detail": {"object": {"key": key}}}):
            matched.append(logical_id.removeprefix("FeatureStore").rstrip("0123456789ABCDEF"))
    return matched


def test_a_batch_marker_starts_one_partitioned_run_and_its_part_files_start_none(template: Template) -> None:
    batch = "raw/feature-batches/seattle_weather/2012-q1/"
    assert _feature_rules_matching(template, "raw/features/seattle_weather/2012.csv") == ["NewRawData"]
    assert _feature_rules_matching(template, f"{batch}part-00000.csv") == []
    assert _feature_rules_matching(template, f"{batch}_SUCCESS") == ["NewRawBatch"]
    (rule,) = [r for k, r in template.find_resources("AWS::Events::Rule").items() if "NewRawBatch" in k]
    (target,) = rule["Properties"]["Targets"]
    assert "DeadLetterConfig" in target and "batch_marker_uri" in json.dumps(target["InputTransformer"])


def test_partition_maps_are_distributed_with_bounded_timeouts_retries_and_a_catch() -> None:
    document = load_asl("feature_pipeline")
    for name, reader in (("ValidatePartitions", "s3:listObjectsV2"), ("TransformPartitions", "s3:getObject")):
        state = document["States"][name]
        assert state["ItemReader"]["Resource"] == f"arn:aws:states:::{reader}"
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert state["ToleratedFailurePercentage"] == 0
        assert state["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject" and state["ResultPath"] is None
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        for inner in state["ItemProcessor"]["States"].values():
            assert "TimeoutSeconds" in inner and inner["Retry"][0]["JitterStrategy"] == "FULL"


def test_the_state_machine_lists_only_batch_folders_and_writes_only_staging(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    machine = next(p for k, p in policies.items() if "FeatureStoreStateMachineRole" in k)
    statements = machine["Properties"]["PolicyDocument"]["Statement"]
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["raw/feature-batches/*"]}}
    s3_objects = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert [json.dumps(s["Resource"]).count("/staging/*") for s in s3_objects] == [1]
    assert any(s["Action"] == "states:StartExecution" for s in statements)
    validate = next(p for k, p in policies.items() if "FeatureValidatePartition" in k)
    assert "raw/feature-batches/*" in json.dumps(validate) and "FeatureStoreOnline" not in json.dumps(validate)
