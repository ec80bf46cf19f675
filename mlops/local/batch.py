"""AWS Batch on the local cloud: moto's Batch resources, jobs run in-process instead of in Docker.

moto's ``Job.run`` starts the job definition's image with Docker. Here it is replaced: the job's
container command is looked up in ``ENTRYPOINTS`` (the dispatch ``functions/entrypoint.sh`` does
in the image) and run in this process, isolated like a Lambda invocation (its own copy of the
project's modules, the job definition's environment plus the job's overrides). Exit status 0
marks the job SUCCEEDED, anything else (or an exception, kept as the status reason) FAILED, so
Step Functions' ``batch:submitJob.sync`` sees what it would see in AWS.

moto's Step Functions interpreter (ported from LocalStack) leaves out the boto-shape
normalisation of service-integration requests and responses (``JobName`` -> ``jobName`` and back),
without which ``batch:submitJob.sync`` cannot call Batch at all; ``installed`` puts it back for
the Batch integration only, from botocore's own service model.

Not emulated: vCPU/memory limits, the job timeout, retries (``retryStrategy``), array jobs'
parallelism (children run one at a time), Fargate networking.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.model import OperationModel
from moto.batch.models import Job
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch import (
    StateTaskServiceBatch,
)

from mlops.local import moto_patches
from mlops.local.intrinsics import PhysicalResource
from mlops.local.lambda_runtime import InProcessLambdaRuntime
from mlops.local.provisioning import Provisioners, ProvisioningContext

# Container command (first word) -> the module whose ``main(argv, env)`` the image runs for it.
ENTRYPOINTS = {"batch": "functions.handlers.batch_train"}

logger = logging.getLogger(__name__)


@dataclass
class JobRecord:
    job_id: str
    job_name: str
    command: list[str]
    exit_code: int
    reason: str | None = None


@dataclass
class LocalBatch:
    runtime: InProcessLambdaRuntime
    jobs: list[JobRecord] = field(default_factory=list)

    @contextmanager
    def installed(self) -> Iterator[None]:
        batch = self

        def run(job: Job) -> None:
            batch.run(job)

        with moto_patches.patched(
            {
                "batch.run_in_process": run,
                "batch.sfn_parameters": _normalise_parameters,
                "batch.sfn_response": _normalise_response,
                "sfn.sync_task_wakes": _WAKE_ON_JOB_END,
            }
        ):
            yield

    def run(self, job: Job) -> None:
        job.job_started_at = datetime.now()
        job._start_attempt()
        job.status = "RUNNING"
        command = [str(part) for part in job._get_container_property("command", [])]
        environment = {e["name"]: str(e["value"]) for e in job._get_container_property("environment", [])}
        reason: str | None = None
        try:
            if not command or command[0] not in ENTRYPOINTS:
                raise ValueError(f"container command {command!r} names no known entrypoint ({sorted(ENTRYPOINTS)})")
            role = job._get_container_property("jobRoleArn", None)
            with self.runtime.isolated(f"batch:{job.job_definition.name}", environment, role_arn=role or None):
                main = importlib.import_module(ENTRYPOINTS[command[0]]).main
                code = int(main(command[1:], environment) or 0)
        except Exception as exc:  # the job fails, as a crashed container does; the reason is kept
            code = 1
            reason = f"{type(exc).__name__}: {exc}"
            logger.error("local Batch job %s failed:\n%s", job.job_id, "".join(traceback.format_exception(exc)))
        job.exit_code = code
        if reason is not None:
            job.job_stopped_reason = reason[:250]
        self.jobs.append(JobRecord(job.job_id, job.job_name, command, code, reason))
        job._mark_stopped(success=code == 0)
        with _JOB_ENDED:
            _JOB_ENDED.notify_all()


# Notified as each local job ends: a .sync task waiting on a job wakes then (see _WakeOnJobEnd).
_JOB_ENDED = threading.Condition()


class _WakeOnJobEnd:
    """``time`` as moto's .sync task loop sees it: between two checks of its job it sleeps 0.5 s; here it sleeps
    until a job ends (or those 0.5 s pass, e.g. a job that ended just before the wait: the next check sees it)."""

    def sleep(self, seconds: float) -> None:
        with _JOB_ENDED:
            _JOB_ENDED.wait(timeout=seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_WAKE_ON_JOB_END = _WakeOnJobEnd()


@cache
def _operation(service: str, action: str) -> OperationModel:
    """The API's model of one operation, parsed once per process (a new botocore session parses the service's
    whole JSON model; the model is read-only)."""
    model = botocore.session.get_session().get_service_model(service)
    for name in model.operation_names:
        if xform_name(name) == action:
            return model.operation_model(name)
    raise KeyError(f"{service} has no operation {action!r}")


def _normalise_parameters(
    self: StateTaskServiceBatch,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """Step Functions' parameter names (``JobName``) to the API's (``jobName``), as AWS does."""
    operation = _operation(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    if operation.input_shape is not None:
        self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(
    self: StateTaskServiceBatch,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """The API's response names (``jobId``) to Step Functions' (``JobId``), as AWS does."""
    operation = _operation(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    if operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)


# -- provisioners: EC2 networking (only what Batch validates) and Batch's resources -------------------------
def provisioners(context: ProvisioningContext) -> Provisioners:
    return {
        "AWS::EC2::VPC": partial(_vpc, context),
        "AWS::EC2::Subnet": partial(_subnet, context),
        "AWS::EC2::SecurityGroup": partial(_security_group, context),
        "AWS::Batch::ComputeEnvironment": partial(_compute_environment, context),
        "AWS::Batch::JobQueue": partial(_job_queue, context),
        "AWS::Batch::JobDefinition": partial(_job_definition, context),
    }


def _vpc(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    vpc = context.client("ec2").create_vpc(CidrBlock=props["CidrBlock"])["Vpc"]
    return PhysicalResource(vpc["VpcId"], {"VpcId": vpc["VpcId"], "CidrBlock": vpc["CidrBlock"]})


def _subnet(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    subnet = context.client("ec2").create_subnet(
        VpcId=props["VpcId"], CidrBlock=props["CidrBlock"], AvailabilityZone=props["AvailabilityZone"]
    )["Subnet"]
    return PhysicalResource(
        subnet["SubnetId"], {"SubnetId": subnet["SubnetId"], "AvailabilityZone": subnet["AvailabilityZone"]}
    )


def _security_group(
    context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    name = props.get("GroupName") or context.name(stack, logical_id, 255)
    group = context.client("ec2").create_security_group(
        GroupName=name, Description=props["GroupDescription"], VpcId=props["VpcId"]
    )
    context.notes.append(f"{stack}/{logical_id}: security group rules are recorded in the template only")
    return PhysicalResource(group["GroupId"], {"GroupId": group["GroupId"], "VpcId": props["VpcId"]})


def _compute_environment(
    context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    name = props.get("ComputeEnvironmentName") or context.name(stack, logical_id, 128)
    resources = props["ComputeResources"]
    service_role = props.get("ServiceRole") or _service_linked_role(context.client("iam"))
    arn = context.client("batch").create_compute_environment(
        computeEnvironmentName=name,
        serviceRole=service_role,
        type=props["Type"].upper(),
        state=props.get("State", "ENABLED"),
        computeResources={
            "type": resources["Type"],
            "maxvCpus": int(resources["MaxvCpus"]),
            "subnets": resources["Subnets"],
            "securityGroupIds": resources["SecurityGroupIds"],
        },
    )["computeEnvironmentArn"]
    return PhysicalResource(arn, {"ComputeEnvironmentArn": arn})


def _service_linked_role(iam: Any) -> str:
    """AWS uses Batch's service-linked role when a compute environment names none; moto needs it to exist."""
    try:
        return str(iam.get_role(RoleName="AWSServiceRoleForBatch")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_service_linked_role(AWSServiceName="batch.amazonaws.com")["Role"]
        return str(role["Arn"])


def _job_queue(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = props.get("JobQueueName") or context.name(stack, logical_id, 128)
    arn = context.client("batch").create_job_queue(
        jobQueueName=name,
        state=props.get("State", "ENABLED"),
        priority=int(props["Priority"]),
        computeEnvironmentOrder=[
            {"order": int(o["Order"]), "computeEnvironment": o["ComputeEnvironment"]}
            for o in props["ComputeEnvironmentOrder"]
        ],
    )["jobQueueArn"]
    return PhysicalResource(arn, {"JobQueueArn": arn})


def _job_definition(
    context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    name = props.get("JobDefinitionName") or context.name(stack, logical_id, 128)
    kwargs: dict[str, Any] = {
        "jobDefinitionName": name,
        "type": props["Type"],
        "containerProperties": _api_shape(props["ContainerProperties"]),
    }
    if "PlatformCapabilities" in props:
        kwargs["platformCapabilities"] = props["PlatformCapabilities"]
    if "Timeout" in props:
        kwargs["timeout"] = _api_shape(props["Timeout"])
    if "RetryStrategy" in props:
        kwargs["retryStrategy"] = _api_shape(props["RetryStrategy"])
    arn = context.client("batch").register_job_definition(**kwargs)["jobDefinitionArn"]
    return PhysicalResource(arn, {"JobDefinitionArn": arn})


# Maps whose keys are user data, not CloudFormation property names.
_VERBATIM_KEYS = frozenset({"Options", "Tags", "Parameters"})


def _api_shape(value: Any) -> Any:
    """CloudFormation property names (``PascalCase``) to the Batch API's (``camelCase``)."""
    if isinstance(value, list):
        return [_api_shape(item) for item in value]
    if isinstance(value, dict):
        return {
            key[:1].lower() + key[1:]: (item if key in _VERBATIM_KEYS else _api_shape(item))
            for key, item in value.items()
        }
    return value
