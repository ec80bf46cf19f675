"""Mlops-cicd: what GitHub Actions needs to deploy the stages (deployed once per account by an admin)."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.cicd_config import CicdConfig
from infra.constructs.deploy_role import GitHubDeployRoles

STACK_NAME = "Mlops-cicd"


class CicdStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: CicdConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        deployers = GitHubDeployRoles(self, "GitHub", config=config)
        for stage, role in deployers.roles.items():
            # Set as the repository variable AWS_DEPLOY_ROLE_ARN_<STAGE> (.github/workflows/deploy.yml).
            CfnOutput(self, f"DeployRoleArn{stage.capitalize()}", value=role.role_arn)
