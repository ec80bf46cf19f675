"""Training on AWS Batch (Fargate) for training sets too large for Lambda (C5).

The job runs the same container image as the Lambda functions (``functions/Dockerfile``) with
the command ``batch`` (``functions/entrypoint.sh`` -> ``functions.handlers.batch_train``): a large
set's data prep (BuildTrainingSet, ValidateData, Split, Evaluate: their own handlers) and its fit.

Network: a VPC with private isolated subnets only (no internet route, no NAT): the job reaches
ECR, S3 and CloudWatch Logs through VPC endpoints. Flow logs go to CloudWatch Logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import Duration, IgnoreMode, IStableStringProducer, Lazy, RemovalPolicy, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.shared import settings as env_names
from infra.config import StageConfig
from infra.constructs.function_factory import IMAGE_EXCLUDES, REPO_ROOT, log_retention
from infra.nag import acknowledge


@jsii.implements(IStableStringProducer)
class _LateValue:
    """A job environment value the stack sets after the job definition exists (``set_environment``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.value: str | None = None

    def produce(self) -> str:
        if self.value is None:
            raise ValueError(f"the Batch training job's {self.name} was declared but never set (set_environment)")
        return self.value


class BatchTraining(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        environment: Mapping[str, str],
        image_build: Mapping[str, Mapping[str, str]],
        key: kms.IKey | None = None,
        late_environment: Sequence[str] = (),
    ) -> None:
        """``late_environment``: variables of the job whose values come later, from ``set_environment``
        (what the stack builds after the pipeline, such as the feature store's bucket)."""
        super().__init__(scope, construct_id)
        self._late = {name: _LateValue(name) for name in late_environment}
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=removal,
            encryption_key=key,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="jobs", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
            ],
            flow_logs={"All": ec2.FlowLogOptions(destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))},
        )
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        for name, service in (
            ("EcrApi", ec2.InterfaceVpcEndpointAwsService.ECR),
            ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
            ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
        ):
            endpoint = self.vpc.add_interface_endpoint(name, service=service, private_dns_enabled=True)
            acknowledge(
                endpoint,
                "AwsSolutions-EC23",
                "The endpoint's security group allows only TCP 443 from the VPC's own CIDR block; the rule cannot "
                "evaluate the CIDR because it is a Fn::GetAtt of the VPC.",
            )
        security_group = ec2.SecurityGroup(
            self,
            "JobSecurityGroup",
            vpc=self.vpc,
            description="Batch training jobs: no inbound; outbound to the VPC endpoints",
            allow_all_outbound=True,
        )
        compute = batch.FargateComputeEnvironment(
            self,
            "Compute",
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[security_group],
            maxv_cpus=config.batch.max_vcpus,
            spot=False,
        )
        self.queue = batch.JobQueue(self, "Queue", priority=1)
        self.queue.add_compute_environment(compute, 1)

        job_logs = logs.LogGroup(
            self,
            "JobLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=removal,
            encryption_key=key,
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Batch training job: data grants are added by the stack",
        )
        execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Batch training job: pulls the image and writes its own logs",
        )
        container = batch.EcsFargateContainerDefinition(
            self,
            "Container",
            image=ecs.ContainerImage.from_asset(
                str(REPO_ROOT),
                file="functions/Dockerfile",
                exclude=IMAGE_EXCLUDES,
                ignore_mode=IgnoreMode.DOCKER,
                build_contexts=dict(image_build["build_contexts"]),
                build_args=dict(image_build["build_args"]),
            ),
            cpu=config.batch.vcpus,
            memory=Size.mebibytes(config.batch.memory_mb),
            command=["batch"],
            environment={
                **environment,
                # What a function gets from the factory: the steps' metrics (Evaluate's) go to the stage's namespace.
                env_names.SERVICE_NAME: "BatchTraining",
                env_names.METRICS_NAMESPACE: f"Mlops/{config.name}",
                **{name: Lazy.string(late) for name, late in self._late.items()},
            },
            job_role=self.job_role,
            execution_role=execution_role,
            logging=ecs.LogDriver.aws_logs(stream_prefix="train", log_group=job_logs),
            assign_public_ip=False,
        )
        self.job_definition = batch.EcsJobDefinition(
            self,
            "JobDefinition",
            container=container,
            timeout=Duration.seconds(config.batch.timeout_s),
            retry_attempts=1,
        )
        self.job_seconds = config.batch.timeout_s
        acknowledge(
            execution_role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken does not support resource-level permissions; the image pull itself is "
            "limited to the asset repository.",
        )

    def set_environment(self, name: str, value: str) -> None:
        """The value of a variable declared in ``late_environment``."""
        if name not in self._late:
            raise ValueError(f"{name} is not a late environment variable of the Batch job ({sorted(self._late)})")
        self._late[name].value = value
