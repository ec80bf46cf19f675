"""Least privilege across every stack of both stages: no wildcard action, Resource '*' only where AWS requires it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.registry.write_once import UPDATABLE_ATTRIBUTES

# Actions without resource-level permissions (IAM service authorization reference):
# X-Ray segment upload and sampling, and CloudWatch Logs delivery set-up for Step Functions.
RESOURCE_STAR_ALLOWED = {
    # The Batch execution role pulls the image: GetAuthorizationToken has no resource-level permissions.
    "ecr:GetAuthorizationToken",
    # Followed by Step Functions' batch:submitJob.sync; DescribeJobs has no resource-level permissions.
    "batch:DescribeJobs",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def _statements(assembly: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for template_path in sorted(assembly.glob("*.template.json")):
        for logical_id, resource in json.loads(template_path.read_text())["Resources"].items():
            documents = []
            if resource["Type"] == "AWS::IAM::Policy":
                documents.append(resource["Properties"]["PolicyDocument"])
            if resource["Type"] == "AWS::IAM::Role":
                documents += [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            for document in documents:
                for statement in document["Statement"]:
                    yield f"{template_path.stem}/{logical_id}", statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_identity_policy_has_a_wildcard_action_or_needless_resource_star(
    stage: str, example_assembly: Path, prod_assembly: Path
) -> None:
    directory = example_assembly if stage == "dev" else prod_assembly
    statements = list(_statements(directory))
    assert statements
    for where, statement in statements:
        assert statement["Effect"] == "Allow", where
        actions = _as_list(statement["Action"])
        assert all("*" not in action for action in actions), (where, actions)
        if "*" in _as_list(statement["Resource"]):
            assert set(actions) <= RESOURCE_STAR_ALLOWED, (where, actions)


def test_no_role_may_rewrite_or_delete_the_registry_alias_history(assembly: Path) -> None:
    # Given every statement that names the registry table (its logical id is RegistryTable...)
    statements = [
        (where, s)
        for where, s in _statements(assembly)
        if any("RegistryTable" in json.dumps(r) for r in _as_list(s["Resource"]))
    ]
    assert statements
    for where, statement in statements:
        actions = set(_as_list(statement["Action"]))
        # Then nothing deletes registry items (history included), ever
        assert "dynamodb:DeleteItem" not in actions and "dynamodb:BatchWriteItem" not in actions, where
        # And an update is allowed only when every attribute it names is the counter, a key or an approval field
        if "dynamodb:UpdateItem" in actions:
            assert actions == {"dynamodb:UpdateItem"}, where
            allowed = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
            assert set(allowed) == set(UPDATABLE_ATTRIBUTES), where
    writers = {where for where, s in statements if "dynamodb:UpdateItem" in _as_list(s["Action"])}
    # (Register, Promote, RunRecorder's withdrawal, the rollout's outcome recorder)
    assert len(writers) == 4, writers
