"""All Lambda defaults in one place: container images, role, log group, tracing, env."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.project import Project
from functions.shared import settings as env_names
from infra.config import FunctionSizing, StageConfig
from infra.nag import acknowledge

REPO_ROOT = Path(__file__).resolve().parents[2]

# The build context is the repository root, but only functions/ is sent:
# everything else (venv, cdk.out, tests) would bloat and destabilize the hash.
IMAGE_EXCLUDES = ["*", "!functions", "!functions/**", "**/__pycache__", "**/*.pyc"]
# The project is a second, named build context (it may live anywhere on disk): the image copies it
# to IMAGE_PROJECT_DIR. Its content hash is a build argument, so a project change is a new image.
PROJECT_CONTEXT = env_names.IMAGE_PROJECT_CONTEXT
_PROJECT_SKIP = {"__pycache__", ".git", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


class FunctionImage(StrEnum):
    """Which container image a function runs: its Dockerfile, relative to the repository root."""

    # Everything but serving, and the Batch training job: the training stack and the project.
    FULL = "functions/Dockerfile"
    # The inference functions and the pre-traffic hook: what serving imports (ONNX models only), no project.
    SERVING = "functions/Dockerfile.serving"


def project_sha256(root: Path) -> str:
    """The sha256 over a project folder's files (paths and bytes), caches and VCS metadata left out."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not _PROJECT_SKIP & set(relative.parts) and path.suffix != ".pyc":
            digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class FunctionFactory(Construct):
    """Creates every Lambda function of a stack from one of two container images.

    pandas + pyarrow + scikit-learn exceed Lambda's 250 MB unzipped limit for
    zip packages, so functions ship as container images built at deploy time
    (CDK hashes them at synth; no Docker is needed to synth): ``FunctionImage.FULL``
    (``functions/Dockerfile``, with the project) for every function but serving,
    ``FunctionImage.SERVING`` (``functions/Dockerfile.serving``) for the inference
    functions and the pre-traffic hook. Each function sets its handler through the
    image command.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        project: Project,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        assert project.root is not None, "a project loaded from its folder"
        self._project_root = project.root
        self._project_sha256 = project_sha256(project.root)
        # The stage's data key: every log group of the stack is encrypted with it.
        self.key = key

    @property
    def image_build(self) -> dict[str, dict[str, str]]:
        """Build options of the full image (Lambda and Batch alike): the project context and its hash."""
        return {
            "build_contexts": {PROJECT_CONTEXT: str(self._project_root)},
            "build_args": {"PROJECT_SHA256": self._project_sha256},
        }

    @property
    def image_environment(self) -> dict[str, str]:
        """What every container of the full image needs to find the project it ships."""
        return {env_names.PROJECT_DIR: env_names.IMAGE_PROJECT_DIR}

    def function(
        self,
        construct_id: str,
        *,
        handler: str,
        sizing: FunctionSizing,
        environment: Mapping[str, str],
        description: str,
        async_dead_letters: sqs.IQueue | None = None,
        reserved_concurrency: int | None = None,
        image: FunctionImage = FunctionImage.FULL,
    ) -> lambda_.DockerImageFunction:
        """A function running ``handler`` (``module.function``) of ``image`` with its own role and log group.

        A function invoked asynchronously (S3/SNS/EventBridge -> Lambda) must pass
        ``async_dead_letters``: events that fail all retries land there. Without it
        the function is declared synchronous-only (Step Functions tasks, API Gateway),
        where the caller sees every failure and a DLQ would never receive anything.
        """
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=log_retention(self._config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if self._config.retain_data else RemovalPolicy.DESTROY,
            encryption_key=self.key,
        )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{construct_id}: writes its own logs; data grants are added by the stack",
        )
        # Written out instead of the AWSLambdaBasicExecutionRole managed
        # policy, which would allow writing to every log group in the account.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        full = image is FunctionImage.FULL
        code = lambda_.DockerImageCode.from_image_asset(
            str(REPO_ROOT),
            file=image.value,
            cmd=[handler],
            exclude=IMAGE_EXCLUDES,
            build_contexts=self.image_build["build_contexts"] if full else None,
            build_args=self.image_build["build_args"] if full else None,
            ignore_mode=IgnoreMode.DOCKER,
        )
        function = lambda_.DockerImageFunction(
            self,
            construct_id,
            code=code,
            description=description,
            memory_size=sizing.memory_mb,
            timeout=Duration.seconds(sizing.timeout_s),
            role=role,
            log_group=log_group,
            architecture=lambda_.Architecture.X86_64,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
            dead_letter_queue=async_dead_letters,
            retry_attempts=2 if async_dead_letters is not None else None,
            environment={
                env_names.SERVICE_NAME: construct_id,
                env_names.METRICS_NAMESPACE: f"Mlops/{self._config.name}",
                **(self.image_environment if full else {}),
                **environment,
            },
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords "
            "do not support resource-level permissions.",
        )
        if async_dead_letters is not None:
            acknowledge(
                function,
                "Serverless-LambdaAsyncFailureDestination",
                "Async events that fail their 2 retries land in the function's dead-letter queue "
                "(async_dead_letters); a failure destination would deliver them a second time.",
            )
        if async_dead_letters is None:
            acknowledge(
                function,
                "Serverless-LambdaDLQ",
                "Invoked synchronously only (Step Functions task or API Gateway proxy): the caller "
                "receives every failure (ASL Retry/Catch, HTTP 5xx + alarm); a DLQ only serves async invokes.",
            )
        return function


_RETENTION = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def log_retention(days: int) -> logs.RetentionDays:
    """The ``RetentionDays`` member for a number of days the stage config validated."""
    return logs.RetentionDays[_RETENTION[days]]
