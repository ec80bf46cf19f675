"""Mlops-cicd: what GitHub Actions needs to deploy the stages (deployed once per account by an admin)."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Token
from constructs import Construct

from infra.cicd_config import CicdConfig
from infra.config import StageConfigError
from infra.constructs.deploy_role import GitHubDeployRoles

STACK_NAME = "Mlops-cicd"


class CicdStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: CicdConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        # Deployed once in each stage's account: only the roles of the stages that live there.
        account = None if Token.is_unresolved(self.account) else self.account
        stages = config.stages_in(account)
        if not stages:
            raise StageConfigError(
                f"account {account} hosts no stage of cicd.stage_accounts {config.stage_accounts}: "
                "deploy Mlops-cicd with the credentials of a stage's account"
            )
        deployers = GitHubDeployRoles(self, "GitHub", config=config, stages=stages)
        for stage, role in deployers.roles.items():
            # Set as the repository variable AWS_DEPLOY_ROLE_ARN_<STAGE> (.github/workflows/deploy.yml).
            CfnOutput(self, f"DeployRoleArn{stage.capitalize()}", value=role.role_arn)
