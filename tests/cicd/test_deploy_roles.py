"""The Mlops-cicd stack: GitHub OIDC provider and least-privilege deploy roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.cicd_config import CICD, CicdConfig
from infra.config import StageConfigError
from infra.constructs.deploy_role import BOOTSTRAP_ROLES


@pytest.fixture(scope="module")
def template(assembly: Path) -> Template:
    return Template.from_json(json.loads((assembly / "Mlops-cicd.template.json").read_text()))


def _statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_github_oidc_provider_is_native_and_trusts_sts_audience(template: Template) -> None:
    template.resource_count_is("AWS::IAM::OIDCProvider", 1)
    template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {"Url": "https://token.actions.githubusercontent.com", "ClientIdList": ["sts.amazonaws.com"]},
    )
    assert not template.find_resources("AWS::Lambda::Function"), "no custom-resource Lambda"


def test_each_stage_role_trusts_exactly_one_subject_of_the_repository(template: Template) -> None:
    roles = template.find_resources("AWS::IAM::Role")
    subjects = {}
    for role in roles.values():
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        condition = statement["Condition"]
        assert list(condition) == ["StringEquals"], "no StringLike: a wildcard subject would admit any branch"
        assert condition["StringEquals"]["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
        subjects[role["Properties"]["Description"].split()[4]] = condition["StringEquals"][
            "token.actions.githubusercontent.com:sub"
        ]
        assert role["Properties"]["MaxSessionDuration"] == 3600
    assert subjects == {
        "dev": f"repo:{CICD.repository}:ref:refs/heads/main",
        "prod": f"repo:{CICD.repository}:environment:prod",
    }


def test_deploy_role_policy_has_no_wildcard_action_and_only_assumes_bootstrap_roles(template: Template) -> None:
    statements = _statements(template)
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
        assert all("*" not in action for action in statement["Action"])
        resources = [json.dumps(r) for r in statement["Resource"]]
        assert len(resources) == len(BOOTSTRAP_ROLES)
        for resource, role in zip(resources, BOOTSTRAP_ROLES, strict=True):
            assert f"cdk-hnb659fds-{role}-role-" in resource
            assert "*" not in resource


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repository": "no-slash"}, "cicd.repository"),
        ({"deploy_subjects": {"staging": "ref:refs/heads/main"}}, "unknown stage 'staging'"),
        ({"deploy_subjects": {"prod": "refs/tags/*"}}, r"deploy_subjects\['prod'\]"),
        ({"bootstrap_qualifier": "Has-Caps"}, "bootstrap_qualifier"),
        ({"max_session_hours": 24}, "max_session_hours"),
    ],
)
def test_bad_cicd_config_is_a_clear_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(StageConfigError, match=message):
        CicdConfig(**(CICD.__dict__ | change))


def test_local_cloud_reports_the_oidc_provider_as_not_emulated(cloud: Any) -> None:
    # Given the dev assembly (both stacks) stood up locally
    # Then the deploy roles exist and the OIDC provider is reported, with its meaning, as not emulated
    not_emulated = {(stack, rtype): meaning for stack, _, rtype, meaning in cloud.report.not_emulated}
    assert "GitHub OIDC" in not_emulated[("Mlops-cicd", "AWS::IAM::OIDCProvider")]
    emulated_roles = [lid for stack, lid, rtype in cloud.report.emulated if stack == "Mlops-cicd"]
    assert sum(lid.startswith("GitHubDeploy") and "Policy" not in lid for lid in emulated_roles) == 2
