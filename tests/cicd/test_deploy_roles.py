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
        "dev": f"repo:{CICD.repository}:environment:dev",
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


def _assumable_accounts(template: Template) -> dict[str, set[str]]:
    """Stage -> the accounts whose bootstrap roles its deploy role may assume."""
    policies = template.find_resources("AWS::IAM::Policy").values()
    roles = template.find_resources("AWS::IAM::Role")
    out: dict[str, set[str]] = {}
    for policy in policies:
        (role,) = policy["Properties"]["Roles"]
        stage = roles[role["Ref"]]["Properties"]["Description"].split()[4]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for resource in statement["Resource"]:
                text = json.dumps(resource)
                out.setdefault(stage, set()).update(a for a in CICD.stage_accounts.values() if f":iam::{a}:" in text)
    return out


def test_each_deploy_role_assumes_only_its_own_stage_accounts_bootstrap_roles(template: Template) -> None:
    # The dev role (any push to main) cannot assume a role prod deploys with: they live in another account
    assert _assumable_accounts(template) == {stage: {account} for stage, account in CICD.stage_accounts.items()}
    assert CICD.stage_accounts["dev"] != CICD.stage_accounts["prod"]


def test_synth_refuses_dev_and_prod_in_one_account() -> None:
    # Given a CI/CD config that puts dev and prod in the same account, Then it is refused naming both
    with pytest.raises(StageConfigError, match="stages dev, prod share account 111111111111"):
        CicdConfig(repository=CICD.repository, stage_accounts={"dev": "111111111111", "prod": "111111111111"})


def test_mlops_cicd_in_a_stage_account_holds_only_that_stages_role() -> None:
    # The stack deployed with a stage account's credentials creates the roles of the stages living there
    # (the synthesized, account-agnostic template above has both, each limited to its own account)
    assert CICD.stages_in(CICD.stage_accounts["prod"]) == ["prod"]
    assert CICD.stages_in(CICD.stage_accounts["dev"]) == ["dev"]
    assert CICD.stages_in(None) == ["dev", "prod"]
    # And an account that hosts no stage gets none (build_app then synthesizes no Mlops-cicd stack)
    assert CICD.stages_in("333333333333") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repository": "no-slash"}, "cicd.repository"),
        ({"deploy_subjects": {"staging": "ref:refs/heads/main"}}, "unknown stage 'staging'"),
        ({"deploy_subjects": {"prod": "refs/tags/*"}}, r"deploy_subjects\['prod'\]"),
        ({"bootstrap_qualifier": "Has-Caps"}, "bootstrap_qualifier"),
        ({"max_session_hours": 24}, "max_session_hours"),
        ({"stage_accounts": {"dev": "111111111111"}}, r"stage_accounts\['prod'\] must be the 12-digit"),
        ({"stage_accounts": {"dev": "1234", "prod": "222222222222"}}, r"stage_accounts\['dev'\]"),
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
