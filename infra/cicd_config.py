"""Typed, validated configuration of the CI/CD stack (``Mlops-cicd``).

Edit ``CICD`` to your repository before deploying the stack; everything else
has a working default. Values are validated when the config is built, so a bad
value fails ``cdk synth`` with a message naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from infra.config import STAGES, StageConfigError

_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_QUALIFIER = re.compile(r"^[a-z0-9]{1,10}$")
_ACCOUNT = re.compile(r"^\d{12}$")
# What GitHub puts in the OIDC token's `sub` claim for each kind of job:
# a job bound to an environment gets `environment:<name>`, any other job `ref:<git ref>`.
_SUBJECT = re.compile(r"^(ref:refs/(heads|tags)/[A-Za-z0-9._/*-]+|environment:[A-Za-z0-9._-]+)$")

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class CicdConfig:
    """Who may deploy which stage: one deploy role per stage, trusted for one token subject, in its own account."""

    repository: str
    # stage -> the AWS account it is deployed to. Each stage's deploy role may assume the CDK bootstrap roles of
    # its own account only, and no two stages may share one: in a shared account the dev role (any push to main)
    # could assume the same bootstrap roles as prod and deploy Mlops-prod past the prod reviewers.
    stage_accounts: dict[str, str]
    # stage -> the GitHub OIDC subject (after `repo:<repository>:`) allowed to deploy it: a job bound to the
    # stage's GitHub environment. `dev` admits main and v* tags (a release deploys to dev first), `prod` only
    # v* tags, after its required reviewers approved (docs/operations.md); a bare tag push never gets prod.
    deploy_subjects: dict[str, str] = field(
        default_factory=lambda: {"dev": "environment:dev", "prod": "environment:prod"}
    )
    # Only one GitHub OIDC provider may exist per account: set False where it already exists.
    create_oidc_provider: bool = True
    # `cdk bootstrap --qualifier`; hnb659fds is the CDK default.
    bootstrap_qualifier: str = "hnb659fds"
    max_session_hours: int = 1

    def __post_init__(self) -> None:
        if not _REPOSITORY.match(self.repository):
            raise StageConfigError(f"cicd.repository must be 'owner/name', got {self.repository!r}")
        if not self.deploy_subjects:
            raise StageConfigError("cicd.deploy_subjects must name at least one stage")
        for stage, subject in self.deploy_subjects.items():
            if stage not in STAGES:
                raise StageConfigError(f"cicd.deploy_subjects: unknown stage {stage!r}; known: {', '.join(STAGES)}")
            if not _SUBJECT.match(subject):
                raise StageConfigError(
                    f"cicd.deploy_subjects[{stage!r}] must be 'ref:refs/heads/...', 'ref:refs/tags/...' "
                    f"or 'environment:<name>', got {subject!r}"
                )
        for stage in self.deploy_subjects:
            if not _ACCOUNT.match(self.stage_accounts.get(stage, "")):
                raise StageConfigError(
                    f"cicd.stage_accounts[{stage!r}] must be the 12-digit AWS account stage {stage} deploys to, "
                    f"got {self.stage_accounts.get(stage)!r}"
                )
        shared = sorted(
            s for s in self.deploy_subjects if list(self.stage_accounts.values()).count(self.stage_accounts[s]) > 1
        )
        if shared:
            raise StageConfigError(
                f"cicd.stage_accounts: stages {', '.join(shared)} share account {self.stage_accounts[shared[0]]}: "
                "a deploy role of one could assume the CDK bootstrap roles the other deploys with; give each stage "
                "its own account"
            )
        if not _QUALIFIER.match(self.bootstrap_qualifier):
            raise StageConfigError(
                f"cicd.bootstrap_qualifier must be 1-10 lowercase letters or digits, got {self.bootstrap_qualifier!r}"
            )
        if not 1 <= self.max_session_hours <= 12:
            raise StageConfigError(f"cicd.max_session_hours must be within 1..12, got {self.max_session_hours}")

    def stages_in(self, account: str | None) -> list[str]:
        """The stages whose deploy roles live in ``account``; all of them when it is unknown (an account-agnostic
        synth: each role is still limited to its own stage's account)."""
        return [s for s in self.deploy_subjects if account is None or self.stage_accounts[s] == account]

    def subject(self, stage: str) -> str:
        """The full ``sub`` claim a deploy of ``stage`` presents."""
        return f"repo:{self.repository}:{self.deploy_subjects[stage]}"


# Edit to your repository and your two accounts (docs/operations.md, "First deploy").
CICD = CicdConfig(
    repository="serverless-mlops/serverless-mlops-toolkit",
    stage_accounts={"dev": "111111111111", "prod": "222222222222"},
)
