"""GitHub Actions -> AWS through OIDC: the identity provider and one deploy role per stage."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.cicd_config import GITHUB_OIDC_AUDIENCE, GITHUB_OIDC_URL, CicdConfig

# The roles `cdk bootstrap` creates. `cdk deploy` assumes them: deploy (CloudFormation
# change sets, reading bootstrap SSM), file/image publishing (asset bucket and ECR
# repository), lookup (context lookups). CloudFormation itself runs as the separate
# cfn-exec role, which only CloudFormation may assume.
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")
_ISSUER = GITHUB_OIDC_URL.removeprefix("https://")


class GitHubDeployRoles(Construct):
    """The GitHub OIDC provider (or the existing one) and the deploy role of each stage in this account.

    Each role trusts one token subject of one repository and can do one thing:
    assume the CDK bootstrap roles of its stage's account (``stage_accounts``) and
    this region. That is the least-privilege pattern for CDK: what a deploy may
    change is decided by the bootstrap's cfn-exec role policy, not by CI
    credentials; and since no two stages share an account, no stage's role can
    assume the roles another stage deploys with.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: CicdConfig, stages: list[str]) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        if config.create_oidc_provider:
            # The native L1-backed provider: no custom-resource Lambda. GitHub's
            # certificate chain is trusted by IAM, so no thumbprint is pinned.
            provider_arn = iam.OidcProviderNative(
                self, "GitHubProvider", url=GITHUB_OIDC_URL, client_ids=[GITHUB_OIDC_AUDIENCE]
            ).oidc_provider_arn
        else:
            provider_arn = stack.format_arn(service="iam", region="", resource="oidc-provider", resource_name=_ISSUER)
        self.roles: dict[str, iam.Role] = {}
        for stage in stages:
            account = config.stage_accounts[stage]
            bootstrap_roles = [
                f"arn:{stack.partition}:iam::{account}:role/"
                f"cdk-{config.bootstrap_qualifier}-{role}-role-{account}-{stack.region}"
                for role in BOOTSTRAP_ROLES
            ]
            role = iam.Role(
                self,
                f"Deploy{stage.capitalize()}",
                description=f"GitHub Actions deploys stage {stage} of {config.repository} via the CDK bootstrap roles "
                f"of account {account}",
                max_session_duration=Duration.hours(config.max_session_hours),
                assumed_by=iam.WebIdentityPrincipal(
                    provider_arn,
                    conditions={
                        "StringEquals": {
                            f"{_ISSUER}:aud": GITHUB_OIDC_AUDIENCE,
                            f"{_ISSUER}:sub": config.subject(stage),
                        }
                    },
                ),
            )
            # sts:TagSession: the CDK CLI may pass session tags when it assumes the bootstrap roles.
            role.add_to_policy(
                iam.PolicyStatement(actions=["sts:AssumeRole", "sts:TagSession"], resources=bootstrap_roles)
            )
            self.roles[stage] = role
