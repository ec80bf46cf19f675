"""Stand the synthesized stacks up on moto, in-process, and make them run.

``LocalCloud`` reads a cloud assembly (``cdk.out``), resolves every
resource's properties (intrinsics included) and creates the resources in
moto in dependency order. Where moto stops short, it fills the gap:

- Lambda: ``lambda_runtime.InProcessLambdaRuntime`` runs the handler named in
  the template with the template's environment;
- Step Functions: moto's interpreter runs the template's definition with its
  ``DefinitionSubstitutions`` resolved here;
- EventBridge: ``events.EventRouter`` delivers to Step Functions, Lambda and
  SNS targets and fires schedules;
- CloudWatch: ``alarms.AlarmEvaluator`` turns EMF output into metrics and
  evaluates the template's alarms;
- EventBridge Scheduler: ``scheduler.LocalScheduler`` fires ``AWS::Scheduler::Schedule``
  targets on the router's clock;
- Step Functions status events: ``execution_events`` puts "Execution Status Change"
  on the default bus when an execution ends;
- API Gateway: ``gateway.LocalGateway`` serves the template's REST API on
  loopback;
- Lambda versions and aliases: ``lambda_versions`` routes a weighted alias
  by weight; each version runs with its own environment;
- CodeDeploy (Lambda): ``codedeploy.LocalCodeDeploy`` runs deployments:
  pre-traffic hook, canary shift, alarm evaluation, rollback or completion;
- CloudWatch Logs subscription filters: ``logs.LogSubscriptions`` delivers a function's
  matching log lines to the destination Firehose stream, as its processors would shape them.

Every resource type it does not emulate is listed in ``report`` with what
that means locally; nothing is skipped silently.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from functions.shared.settings import IMAGE_PROJECT_CONTEXT, IMAGE_PROJECT_DIR
from mlops.local import map_runs, moto_patches
from mlops.local.alarms import AlarmEvaluator, LocalAlarm
from mlops.local.assembly import AssemblyError, StackTemplate, image_build_contexts, load_assembly
from mlops.local.batch import LocalBatch
from mlops.local.codedeploy import LocalCodeDeploy
from mlops.local.events import EventRouter
from mlops.local.execution_events import execution_status_events
from mlops.local.gateway import LocalGateway, Method, RestApi, lambda_arn_from_integration_uri
from mlops.local.iam import OPERATOR, LocalIam, caller_credentials
from mlops.local.iam import authorize as iam_authorize
from mlops.local.intrinsics import PhysicalResource, Resolver, references
from mlops.local.lambda_runtime import InProcessLambdaRuntime, LocalFunction
from mlops.local.lambda_versions import WeightedAliases, create_alias, invoke_in_backend, publish_version
from mlops.local.logs import LogSubscriptions
from mlops.local.scheduler import LocalScheduler

ACCOUNT = "123456789012"

# Resource types the local cloud deliberately does not emulate, and what that means.
NOT_EMULATED: dict[str, str] = {
    "AWS::Lambda::Permission": "resource policies are not enforced: any local caller may invoke the function",
    "AWS::S3::BucketPolicy": "not enforced locally (TLS-only and deny statements do not apply)",
    "AWS::SQS::QueuePolicy": "not enforced locally: any local caller may send to the queue",
    "AWS::SNS::TopicPolicy": "not enforced locally: any local caller may publish to the topic",
    "AWS::ApiGateway::Account": "account-level API Gateway logging role: no execution logs are shipped locally",
    "AWS::ApiGateway::Deployment": "the local gateway always serves the template's current methods",
    "AWS::CDK::Metadata": "CDK usage analytics: no runtime meaning",
    "AWS::CloudWatch::Dashboard": "console view only: locally, read metrics from moto CloudWatch or cloud.alarms",
    "AWS::IAM::OIDCProvider": "GitHub OIDC federation: only GitHub Actions tokens use it; nothing local signs in",
    "AWS::Glue::Database": "not emulated (no Glue catalog locally): Athena queries of the offline store exist only "
    "in AWS; locally read the same Parquet files with pyarrow or `mlops features training-set`",
    "AWS::Glue::Table": "not emulated (no Glue catalog locally): its partition projection serves Athena in AWS only",
    "AWS::EC2::RouteTable": "routing is not emulated: local Batch jobs and Lambdas reach every local service",
    "AWS::EC2::SubnetRouteTableAssociation": "routing is not emulated (see AWS::EC2::RouteTable)",
    "AWS::EC2::VPCEndpoint": "not needed locally: jobs call the in-process services directly",
    "AWS::EC2::FlowLog": "no network traffic exists locally, so no flow logs are written",
}

# Behaviour that exists in AWS and is absent locally, whatever the template says.
LOCAL_LIMITS = (
    "IAM: a function's (and a Batch job's) calls are decided against its role by moto's evaluator (iam.py); "
    "resource policies, KMS key policies, the state machine role's service integrations and calls from threads "
    "a function starts are not checked",
    "Lambda timeouts are checked when an invocation ends (past its timeout it fails as Lambda reports it, but "
    "it was not stopped mid-way); memory limits are not enforced; invocations run one at a time",
    "API Gateway usage-plan throttling and quotas are not enforced",
    "CodeDeploy (Lambda) deployments advance on cloud.codedeploy.step() or router.advance_clock(); "
    "linear configs, AfterAllowTraffic hooks and AWS's separate rollback deployment are not emulated",
    "API Gateway IAM (SigV4) auth checks that a request is signed, not that the signature is valid",
    "AWS Batch jobs run in-process, one at a time (mlops/local/batch.py): no Docker, no vCPU/memory limits, "
    "no job timeout, no Batch-level retries",
)


@dataclass
class ProvisionReport:
    emulated: list[tuple[str, str, str]] = field(default_factory=list)
    not_emulated: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{len(self.emulated)} resources emulated"]
        for stack, logical_id, rtype, meaning in self.not_emulated:
            out.append(f"not emulated: {stack}/{logical_id} ({rtype}): {meaning}")
        out.extend(f"note: {note}" for note in self.notes)
        out.extend(f"limit: {limit}" for limit in LOCAL_LIMITS)
        return out


@dataclass(frozen=True)
class ExecutionResult:
    arn: str
    name: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    seconds: float


class LocalCloud:
    """The synthesized stacks, running on moto in this process. Use as a context manager."""

    def __init__(self, assembly_dir: Path | str, *, region: str = "us-east-1", now: datetime | None = None) -> None:
        self.assembly_dir = Path(assembly_dir)
        self.region = region
        self.account = ACCOUNT
        self.stacks: list[StackTemplate] = load_assembly(self.assembly_dir)
        self.physical: dict[str, dict[str, PhysicalResource]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.exports: dict[str, Any] = {}
        self.report = ProvisionReport()
        self._exit: ExitStack | None = None
        self._clients: dict[str, Any] = {}
        self.runtime = InProcessLambdaRuntime(region=region, metric_sink=self._ingest_metrics)
        self.log_subscriptions = LogSubscriptions(self.client, account=ACCOUNT, clock=self.clock)
        self.runtime.log_listeners.append(self.log_subscriptions.deliver)
        # The image ships the project (a named build context) at IMAGE_PROJECT_DIR: here it is the folder itself.
        project = image_build_contexts(self.assembly_dir).get(IMAGE_PROJECT_CONTEXT)
        self.project_dir = Path(project) if project else None
        if project:
            self.runtime.image_paths[IMAGE_PROJECT_DIR] = project
        self.batch = LocalBatch(self.runtime)
        self.router = EventRouter(clients=self.client, account=ACCOUNT, region=region, now=now or datetime.now(UTC))
        self.scheduler = LocalScheduler(clients=self.client, router=self.router, account=ACCOUNT, region=region)
        self.execution_events: list[dict[str, Any]] = []
        self.alarms: AlarmEvaluator | None = None
        self.aliases = WeightedAliases(seed=0)
        self.codedeploy = LocalCodeDeploy(
            clients=self.client,
            alarms=self._alarm_evaluator,
            put_event=self.router.put_event,
            account=ACCOUNT,
            region=region,
            clock=self.clock,
        )
        self.router.tickers.append(self.codedeploy.step)
        self.gateway: LocalGateway | None = None
        self._api_parts: dict[str, Any] = {}
        self._ended = threading.Condition()
        self.iam = LocalIam(lambda: self.client("sts"))

    # -- lifecycle -----------------------------------------------------------
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        moto_patches.check_moto()
        exit_stack = ExitStack()
        try:
            exit_stack.enter_context(moto_patches.moto_settings(self.region))
            exit_stack.enter_context(mock_aws(config=moto_patches.MOTO_CONFIG))
            runtime = self.runtime

            def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
                environment = {k: str(v) for k, v in (function.environment_vars or {}).items()}
                return runtime.invoke(
                    function.function_name, event, version=str(function.version), environment=environment
                )

            exit_stack.enter_context(
                moto_patches.patched(
                    {
                        "lambda.run_in_process": invoke,
                        "sfn.name_executions": _start_execution_named,
                        "sfn.validate_once": _validate_definition_once,
                        # Local IAM (iam.py): clients sign as the thread's role session; moto decides those requests.
                        "botocore.caller_credentials": caller_credentials,
                        "iam.enforce": iam_authorize,
                    }
                )
            )
            exit_stack.callback(self.iam.close)
            self.runtime.acting_as = self.iam.acting_as
            exit_stack.enter_context(self.runtime.installed())
            exit_stack.enter_context(map_runs.installed())
            exit_stack.enter_context(self.batch.installed())
            exit_stack.enter_context(self.router.installed())
            exit_stack.enter_context(self.aliases.installed())
            exit_stack.enter_context(self.codedeploy.installed())
            self.execution_events = exit_stack.enter_context(
                execution_status_events(
                    self.router, account=ACCOUNT, region=self.region, on_emitted=self._execution_ended
                )
            )
            self.alarms = AlarmEvaluator(
                cloudwatch=self.client("cloudwatch"),
                sns=self.client("sns"),
                put_event=self.router.put_event,
                account=ACCOUNT,
                region=self.region,
                clock=self.clock,
            )
            self.gateway = LocalGateway(
                invoke=partial(invoke_in_backend, ACCOUNT, self.region),
                account=ACCOUNT,
                region=self.region,
                clock=self.clock,
            )
            for stack in self.stacks:
                self._provision(stack)
            if self.gateway.apis:
                self.gateway.start()
                exit_stack.callback(self.gateway.stop)
        except BaseException:
            exit_stack.close()
            raise
        self._exit = exit_stack

    def stop(self) -> None:
        if self._exit is not None:
            try:
                self._drain_executions()
            finally:
                self._exit.close()
                self._exit = None
        self._clients.clear()

    def _drain_executions(self, timeout_s: float = 120) -> None:
        """Let every running execution end before moto goes away: an execution's worker thread outliving its
        cloud would run functions (and swap the process environment) under the next cloud or test."""
        sfn = self.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
            for execution in running["executions"]:
                self.wait_for_execution(execution["executionArn"], timeout_s=timeout_s)

    def clock(self) -> datetime:
        """The local cloud's one clock (set by ``now=``, moved by ``router.advance_clock``): alarms, schedules,
        deployments, status events and log timestamps read it, never the wall clock."""
        return self.router.clock

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = _client(service, self.region)
        return self._clients[service]

    # -- operator helpers ------------------------------------------------------
    def output(self, key: str, stack: str | None = None) -> Any:
        """A stack output (from the only stack unless ``stack`` is given)."""
        names = [stack] if stack else list(self.outputs)
        for name in names:
            if key in self.outputs.get(name, {}):
                return self.outputs[name][key]
        raise KeyError(f"no stack output {key!r}")

    def function_name(self, logical_id_prefix: str) -> str:
        """The physical name of the function whose logical id starts with ``logical_id_prefix``."""
        matches = [
            resource.ref
            for stack in self.stacks
            for logical_id, spec in stack.resources.items()
            if spec["Type"] == "AWS::Lambda::Function" and logical_id.startswith(logical_id_prefix)
            for resource in [self.physical[stack.name][logical_id]]
        ]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} functions match {logical_id_prefix!r}")
        return matches[0]

    def run_state_machine(
        self, arn: str, payload: dict[str, Any], *, name: str | None = None, timeout_s: float = 300
    ) -> ExecutionResult:
        """Start an execution and wait for it to finish."""
        sfn = self.client("stepfunctions")
        kwargs: dict[str, Any] = {"stateMachineArn": arn, "input": json.dumps(payload)}
        if name:
            kwargs["name"] = name
        execution_arn = sfn.start_execution(**kwargs)["executionArn"]
        return self.wait_for_execution(execution_arn, timeout_s=timeout_s)

    def wait_for_execution(self, execution_arn: str, *, timeout_s: float = 300) -> ExecutionResult:
        """Block until the execution ends and its status-change event was delivered (woken by that event)."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout_s
        with self._ended:
            while True:
                described = sfn.describe_execution(executionArn=execution_arn)
                # The worker sets the final status, then delivers the status-change event to its targets:
                # return once both happened (StopExecution ends an execution with no worker event).
                if described["status"] == "ABORTED" or (
                    described["status"] != "RUNNING" and self._event_delivered(execution_arn)
                ):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"execution {execution_arn} still running after {timeout_s}s")
                self._ended.wait(timeout=min(remaining, 1.0))
        output = described.get("output")
        return ExecutionResult(
            arn=execution_arn,
            name=described["name"],
            status=described["status"],
            output=json.loads(output) if output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            seconds=(described.get("stopDate", described["startDate"]) - described["startDate"]).total_seconds(),
        )

    def _execution_ended(self, event: dict[str, Any]) -> None:
        with self._ended:
            self._ended.notify_all()

    def _event_delivered(self, execution_arn: str) -> bool:
        return any(e["detail"]["executionArn"] == execution_arn for e in self.execution_events or ())

    def _alarm_evaluator(self) -> AlarmEvaluator:
        assert self.alarms is not None, "the local cloud is not started"
        return self.alarms

    def _ingest_metrics(self, document: dict[str, Any]) -> None:
        if self.alarms is not None:
            self.alarms.ingest_emf(document)

    # -- provisioning ------------------------------------------------------------
    def _provision(self, stack: StackTemplate) -> None:
        template = stack.template
        physical: dict[str, PhysicalResource] = {}
        self.physical[stack.name] = physical
        resolver = Resolver(
            stack_name=stack.name,
            account=ACCOUNT,
            region=self.region,
            resources=physical,
            parameters={n: self._parameter(stack.name, n, s) for n, s in template.get("Parameters", {}).items()},
            exports=self.exports,
        )
        conditions: dict[str, bool] = {}
        resolver.conditions = conditions
        for name, expression in template.get("Conditions", {}).items():
            conditions[name] = resolver.evaluate_condition(expression, f"{stack.name}/Conditions/{name}")
        for name in template.get("Rules", {}):
            self.report.notes.append(f"{stack.name}: template rule {name} is a deploy-time check, not evaluated")

        for logical_id in _dependency_order(stack.resources):
            spec = stack.resources[logical_id]
            if "Condition" in spec and not conditions[spec["Condition"]]:
                continue
            rtype = spec["Type"]
            where = f"{stack.name}/{logical_id}"
            props = resolver.resolve(spec.get("Properties", {}), where)
            provisioner = self._provisioners().get(rtype)
            if provisioner is not None:
                physical[logical_id] = provisioner(stack.name, logical_id, props)
                self.report.emulated.append((stack.name, logical_id, rtype))
                continue
            meaning = NOT_EMULATED.get(rtype)
            if meaning is None:
                meaning = (
                    "custom resource: its provider Lambda is not run locally"
                    if rtype.startswith("Custom::")
                    else "not emulated: anything that relies on it exists only in AWS"
                )
            physical[logical_id] = PhysicalResource(ref=f"local-{logical_id}")
            self.report.not_emulated.append((stack.name, logical_id, rtype, meaning))

        self._finish_apis()
        outputs: dict[str, Any] = {}
        for key, output in template.get("Outputs", {}).items():
            value = resolver.resolve(output["Value"], f"{stack.name}/Outputs/{key}")
            outputs[key] = value
            if "Export" in output:
                self.exports[resolver.resolve(output["Export"]["Name"])] = value
        self.outputs[stack.name] = outputs

    def _parameter(self, stack: str, name: str, spec: dict[str, Any]) -> Any:
        if spec.get("Type", "").startswith("AWS::SSM::Parameter::Value"):
            self.report.notes.append(f"{stack}: parameter {name} reads SSM at deploy time; locally 'local'")
            return "local"
        if "Default" not in spec:
            raise AssemblyError(f"{stack}: parameter {name} has no default; the local cloud cannot supply it")
        return spec["Default"]

    def _provisioners(self) -> dict[str, Callable[[str, str, dict[str, Any]], PhysicalResource]]:
        return {
            "AWS::S3::Bucket": self._s3_bucket,
            "AWS::DynamoDB::Table": self._dynamodb_table,
            "AWS::IAM::Role": self._iam_role,
            "AWS::IAM::Policy": self._iam_policy,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Logs::SubscriptionFilter": self._subscription_filter,
            "AWS::Lambda::Function": self._lambda_function,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::SQS::Queue": self._sqs_queue,
            "AWS::SNS::Topic": self._sns_topic,
            "AWS::SNS::Subscription": self._sns_subscription,
            "AWS::Events::Rule": self._events_rule,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::KinesisFirehose::DeliveryStream": self._firehose_stream,
            "AWS::Scheduler::Schedule": self._scheduler_schedule,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::Lambda::Version": lambda _s, _l, props: publish_version(self.client("lambda"), props),
            "AWS::Lambda::Alias": lambda _s, _l, props: create_alias(self.client("lambda"), props),
            "AWS::CodeDeploy::Application": lambda stack, logical_id, props: self.codedeploy.create_application(
                props.get("ApplicationName") or self._name(stack, logical_id, 100), props
            ),
            "AWS::CodeDeploy::DeploymentConfig": lambda stack, logical_id, props: self.codedeploy.create_config(
                props.get("DeploymentConfigName") or self._name(stack, logical_id, 100), props
            ),
            "AWS::CodeDeploy::DeploymentGroup": lambda stack, logical_id, props: self.codedeploy.create_group(
                props.get("DeploymentGroupName") or self._name(stack, logical_id, 100), props
            ),
            "AWS::ApiGateway::RestApi": self._rest_api,
            "AWS::ApiGateway::Resource": self._api_part("Resource"),
            "AWS::ApiGateway::Method": self._api_part("Method"),
            "AWS::ApiGateway::Stage": self._api_part("Stage"),
            "AWS::ApiGateway::ApiKey": self._api_key,
            "AWS::ApiGateway::UsagePlan": self._api_part("UsagePlan"),
            "AWS::ApiGateway::UsagePlanKey": self._api_part("UsagePlanKey"),
            "AWS::ApiGateway::RequestValidator": self._api_part("RequestValidator"),
            "AWS::ApiGateway::Model": self._api_model,
            "AWS::ApiGateway::GatewayResponse": self._api_part("GatewayResponse"),
            "AWS::EC2::VPC": self._vpc,
            "AWS::EC2::Subnet": self._subnet,
            "AWS::EC2::SecurityGroup": self._security_group,
            "AWS::Batch::ComputeEnvironment": self._batch_compute_environment,
            "AWS::Batch::JobQueue": self._batch_job_queue,
            "AWS::Batch::JobDefinition": self._batch_job_definition,
        }

    def _name(self, stack: str, logical_id: str, max_length: int, *, lower: bool = False) -> str:
        """A physical name as CloudFormation makes them: stack, logical id, random-looking suffix."""
        suffix = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:8]
        base = re.sub(r"[^A-Za-z0-9-]", "-", f"{stack}-{logical_id}")[: max_length - 9]
        name = f"{base}-{suffix}"
        return name.lower() if lower else name

    def _s3_bucket(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        s3 = self.client("s3")
        name = props.get("BucketName") or self._name(stack, logical_id, 63, lower=True)
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
                    "Rules": [
                        {
                            ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                            for k, v in rule.items()
                        }
                        for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration") is not None:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        return PhysicalResource(
            name,
            {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
            },
        )

    def _dynamodb_table(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        ddb = self.client("dynamodb")
        name = props.get("TableName") or self._name(stack, logical_id, 255)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        sse = props.get("SSESpecification", {})
        if sse.get("SSEEnabled"):
            kwargs["SSESpecification"] = {
                "Enabled": True,
                **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
            }
        description = ddb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )
        pitr = props.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        return PhysicalResource(
            name, {"Arn": description["TableArn"], "StreamArn": description.get("LatestStreamArn", "")}
        )

    def _iam_role(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        iam = self.client("iam")
        name = props.get("RoleName") or self._name(stack, logical_id, 64)
        role = iam.create_role(
            RoleName=name,
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            Description=props.get("Description", ""),
        )["Role"]
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )
        for arn in props.get("ManagedPolicyArns", []):
            self.report.notes.append(f"{stack}/{logical_id}: managed policy {arn} recorded, not attached locally")
        return PhysicalResource(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def _iam_policy(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        iam = self.client("iam")
        for role in props.get("Roles", []):
            iam.put_role_policy(
                RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=json.dumps(props["PolicyDocument"])
            )
        return PhysicalResource(props["PolicyName"])

    def _log_group(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        logs = self.client("logs")
        name = props.get("LogGroupName") or self._name(stack, logical_id, 512)
        logs.create_log_group(logGroupName=name, **({"kmsKeyId": props["KmsKeyId"]} if "KmsKeyId" in props else {}))
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        return PhysicalResource(name, {"Arn": f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:{name}:*"})

    def _subscription_filter(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("FilterName") or self._name(stack, logical_id, 512)
        self.log_subscriptions.add(name, props, f"{stack}/{logical_id}")
        self.report.notes.append(
            f"{stack}/{logical_id}: matching log lines are delivered when the invocation ends; "
            "AWS delivers within seconds to minutes"
        )
        return PhysicalResource(name)

    def _lambda_function(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("FunctionName") or self._name(stack, logical_id, 64)
        image = props.get("PackageType") == "Image"
        handler = props.get("ImageConfig", {}).get("Command", [None])[0] if image else props.get("Handler")
        if not handler:
            raise AssemblyError(f"{stack}/{logical_id}: no handler (ImageConfig.Command or Handler)")
        environment = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        kwargs: dict[str, Any] = {
            "FunctionName": name,
            "Role": props["Role"],
            "Timeout": int(props.get("Timeout", 3)),
            "MemorySize": int(props.get("MemorySize", 128)),
            "Environment": {"Variables": environment},
        }
        if image:
            kwargs.update(
                PackageType="Image", Code={"ImageUri": props["Code"]["ImageUri"]}, ImageConfig=props["ImageConfig"]
            )
        else:
            self.report.notes.append(
                f"{stack}/{logical_id}: zip function; its handler runs from this checkout's import path"
            )
            kwargs.update(Runtime=props["Runtime"], Handler=handler, Code={"ZipFile": _placeholder_zip()})
        arn = self.client("lambda").create_function(**kwargs)["FunctionArn"]
        self.runtime.register(
            LocalFunction(
                name=name,
                arn=arn,
                handler=handler,
                environment=environment,
                memory_mb=kwargs["MemorySize"],
                timeout_s=kwargs["Timeout"],
                log_group=str(props.get("LoggingConfig", {}).get("LogGroup", "")),
                role_arn=str(props["Role"]),
            )
        )
        return PhysicalResource(name, {"Arn": arn})

    def _state_machine(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        definition = props.get("DefinitionString")
        if definition is None:
            definition = json.dumps(props["Definition"])
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        leftover = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
        if leftover:
            raise AssemblyError(f"{stack}/{logical_id}: placeholders with no substitution: {', '.join(leftover)}")
        name = props.get("StateMachineName") or self._name(stack, logical_id, 80)
        arn = self.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=props["RoleArn"], type=props.get("StateMachineType", "STANDARD")
        )["stateMachineArn"]
        return PhysicalResource(arn, {"Arn": arn, "Name": name})

    def _sqs_queue(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        sqs = self.client("sqs")
        name = props.get("QueueName") or self._name(stack, logical_id, 80)
        attributes = {
            key: json.dumps(value) if isinstance(value, dict) else str(value)
            for key, value in props.items()
            if key
            in (
                "DelaySeconds",
                "MessageRetentionPeriod",
                "VisibilityTimeout",
                "RedrivePolicy",
                "FifoQueue",
                "ReceiveMessageWaitTimeSeconds",
                "MaximumMessageSize",
                "KmsMasterKeyId",
            )
        }
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{name}"
        return PhysicalResource(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _sns_topic(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("TopicName") or self._name(stack, logical_id, 256)
        attributes = {"KmsMasterKeyId": props["KmsMasterKeyId"]} if "KmsMasterKeyId" in props else {}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return PhysicalResource(arn, {"TopicArn": arn, "TopicName": name})

    def _sns_subscription(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        arn = self.client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
        )["SubscriptionArn"]
        return PhysicalResource(arn)

    def _events_rule(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        events = self.client("events")
        name = props.get("Name") or self._name(stack, logical_id, 64)
        kwargs: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
        if "EventPattern" in props:
            pattern = props["EventPattern"]
            kwargs["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if "ScheduleExpression" in props:
            kwargs["ScheduleExpression"] = props["ScheduleExpression"]
        if "EventBusName" in props:
            kwargs["EventBusName"] = props["EventBusName"]
        if "Description" in props:
            kwargs["Description"] = props["Description"]
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = props.get("Targets", [])
        if targets:
            events.put_targets(Rule=name, EventBusName=kwargs.get("EventBusName", "default"), Targets=targets)
        return PhysicalResource(name, {"Arn": arn})

    def _alarm(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("AlarmName") or self._name(stack, logical_id, 255)
        kwargs = {k: v for k, v in props.items() if k not in ("AlarmName", "Tags")}
        self.client("cloudwatch").put_metric_alarm(AlarmName=name, **kwargs)
        arn = f"arn:aws:cloudwatch:{self.region}:{ACCOUNT}:alarm:{name}"
        assert self.alarms is not None
        self.alarms.add(LocalAlarm.from_properties(name, arn, props))
        return PhysicalResource(name, {"Arn": arn})

    def _firehose_stream(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("DeliveryStreamName") or self._name(stack, logical_id, 64)
        destination = props.get("ExtendedS3DestinationConfiguration")
        if destination is None:
            raise AssemblyError(f"{stack}/{logical_id}: only S3 destinations are emulated for Firehose")
        arn = self.client("firehose").create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType=props.get("DeliveryStreamType", "DirectPut"),
            ExtendedS3DestinationConfiguration=destination,
        )["DeliveryStreamARN"]
        self.report.notes.append(
            f"{stack}/{logical_id}: Firehose writes each PutRecordBatch as its own object at once; "
            "AWS buffers per BufferingHints"
        )
        return PhysicalResource(name, {"Arn": arn})

    def _scheduler_schedule(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("Name") or self._name(stack, logical_id, 64)
        schedule = self.scheduler.provision(name, props)
        return PhysicalResource(name, {"Arn": schedule.arn})

    def _kms_key(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        kms = self.client("kms")
        key = kms.create_key(Description=props.get("Description", logical_id))["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key["KeyId"])
        return PhysicalResource(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})

    def _kms_alias(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        self.client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        return PhysicalResource(props["AliasName"])

    # -- EC2 networking (only what Batch validates) and Batch -------------------------
    def _vpc(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        vpc = self.client("ec2").create_vpc(CidrBlock=props["CidrBlock"])["Vpc"]
        return PhysicalResource(vpc["VpcId"], {"VpcId": vpc["VpcId"], "CidrBlock": vpc["CidrBlock"]})

    def _subnet(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        subnet = self.client("ec2").create_subnet(
            VpcId=props["VpcId"], CidrBlock=props["CidrBlock"], AvailabilityZone=props["AvailabilityZone"]
        )["Subnet"]
        return PhysicalResource(
            subnet["SubnetId"], {"SubnetId": subnet["SubnetId"], "AvailabilityZone": subnet["AvailabilityZone"]}
        )

    def _security_group(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("GroupName") or self._name(stack, logical_id, 255)
        group = self.client("ec2").create_security_group(
            GroupName=name, Description=props["GroupDescription"], VpcId=props["VpcId"]
        )
        self.report.notes.append(f"{stack}/{logical_id}: security group rules are recorded in the template only")
        return PhysicalResource(group["GroupId"], {"GroupId": group["GroupId"], "VpcId": props["VpcId"]})

    def _batch_compute_environment(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("ComputeEnvironmentName") or self._name(stack, logical_id, 128)
        resources = props["ComputeResources"]
        service_role = props.get("ServiceRole") or self._batch_service_linked_role()
        arn = self.client("batch").create_compute_environment(
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

    def _batch_service_linked_role(self) -> str:
        """AWS uses Batch's service-linked role when a compute environment names none; moto needs it to exist."""
        iam = self.client("iam")
        try:
            return str(iam.get_role(RoleName="AWSServiceRoleForBatch")["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            role = iam.create_service_linked_role(AWSServiceName="batch.amazonaws.com")["Role"]
            return str(role["Arn"])

    def _batch_job_queue(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("JobQueueName") or self._name(stack, logical_id, 128)
        arn = self.client("batch").create_job_queue(
            jobQueueName=name,
            state=props.get("State", "ENABLED"),
            priority=int(props["Priority"]),
            computeEnvironmentOrder=[
                {"order": int(o["Order"]), "computeEnvironment": o["ComputeEnvironment"]}
                for o in props["ComputeEnvironmentOrder"]
            ],
        )["jobQueueArn"]
        return PhysicalResource(arn, {"JobQueueArn": arn})

    def _batch_job_definition(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("JobDefinitionName") or self._name(stack, logical_id, 128)
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
        arn = self.client("batch").register_job_definition(**kwargs)["jobDefinitionArn"]
        return PhysicalResource(arn, {"JobDefinitionArn": arn})

    # -- API Gateway: collected, then assembled into the local gateway ----------
    def _rest_api(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        api_id = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]
        assert self.gateway is not None
        self.gateway.apis[api_id] = RestApi(api_id=api_id, name=props.get("Name", logical_id))
        return PhysicalResource(api_id, {"RootResourceId": f"{api_id}-root"})

    def _api_part(self, kind: str) -> Callable[[str, str, dict[str, Any]], PhysicalResource]:
        def provision(stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
            part_id = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]
            self._api_parts.setdefault(kind, {})[part_id] = props
            # CloudFormation's Ref on a stage is its name; on the others, an id.
            ref = props["StageName"] if kind == "Stage" else part_id
            return PhysicalResource(ref, {"ResourceId": part_id})

        return provision

    def _api_key(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        key_id = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]
        # AWS generates the value at deploy time; locally a random one per cloud.
        value = props.get("Value") or secrets.token_urlsafe(30)
        self._api_parts.setdefault("ApiKey", {})[key_id] = {**props, "Value": value}
        return PhysicalResource(key_id, {"APIKeyId": key_id})

    def _api_model(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("Name") or f"Model{hashlib.sha256(logical_id.encode()).hexdigest()[:8]}"
        self._api_parts.setdefault("Model", {})[name] = props
        return PhysicalResource(name)

    def _finish_apis(self) -> None:
        assert self.gateway is not None
        parts = self._api_parts
        resources = parts.get("Resource", {})

        def path_of(resource_id: str) -> str:
            if resource_id.endswith("-root"):
                return "/"
            resource = resources[resource_id]
            parent = path_of(resource["ParentId"])
            return f"{parent.rstrip('/')}/{resource['PathPart']}"

        for api in self.gateway.apis.values():
            api.methods.clear()
        for method_id, props in parts.get("Method", {}).items():
            api = self.gateway.apis[props["RestApiId"]]
            integration = props.get("Integration", {})
            if integration.get("Type") != "AWS_PROXY":
                raise AssemblyError(f"method {method_id}: only Lambda proxy integrations are served locally")
            validator = parts.get("RequestValidator", {}).get(props.get("RequestValidatorId", ""), {})
            model_name = (props.get("RequestModels") or {}).get("application/json")
            model = parts.get("Model", {}).get(model_name) if model_name else None
            schema = model.get("Schema") if model else None
            api.methods.append(
                Method(
                    http_method=props["HttpMethod"],
                    resource_path=path_of(props["ResourceId"]),
                    resource_id=props["ResourceId"],
                    function_arn=lambda_arn_from_integration_uri(integration["Uri"]),
                    api_key_required=bool(props.get("ApiKeyRequired")),
                    iam_auth=props.get("AuthorizationType") == "AWS_IAM",
                    validate_body=bool(validator.get("ValidateRequestBody")),
                    model_schema=json.loads(schema) if isinstance(schema, str) else schema,
                )
            )
        for props in parts.get("Stage", {}).values():
            self.gateway.apis[props["RestApiId"]].stage = props["StageName"]
        for props in parts.get("GatewayResponse", {}).values():
            if props.get("ResponseType") == "BAD_REQUEST_BODY":
                template = (props.get("ResponseTemplates") or {}).get("application/json")
                self.gateway.apis[props["RestApiId"]].bad_request_template = template
        plans = parts.get("UsagePlan", {})
        for props in parts.get("UsagePlanKey", {}).values():
            key = parts["ApiKey"][props["KeyId"]]
            for stage in plans[props["UsagePlanId"]].get("ApiStages", []):
                self.gateway.apis[stage["ApiId"]].api_keys.add(key["Value"])


@cache
def _client(service: str, region: str) -> Any:
    """One boto3 client per service and region for the process: every local cloud uses the same fixed
    credentials, and moto intercepts a client's requests while any cloud is running (a client costs tens
    of milliseconds to build, and a cloud needs about twenty)."""
    # Signed as the operator whatever thread calls: the cloud's own work (deliveries, deployments, alarms) is
    # AWS acting as a service, not the function whose call set it off.
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        aws_access_key_id=OPERATOR.access_key,
        aws_secret_access_key=OPERATOR.secret_key,
        aws_session_token=OPERATOR.token,
    )


@lru_cache(maxsize=256)
def _validate_definition_once(definition: str) -> None:
    """moto parses a definition to validate it at CreateStateMachine (and again to run it); parsing the same
    text gives the same answer, so each text is validated once per process (a failure is not cached)."""
    moto_patches.original("sfn.validate_once")(definition)


def _start_execution_named(
    backend: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: Any = None,
    execution_input: Any = None,
    trace_header: Any = None,
) -> Any:
    """Name unnamed executions with a UUID, as Step Functions does (moto leaves them nameless)."""
    return moto_patches.original("sfn.name_executions")(
        backend, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
    )


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


def _dependency_order(resources: dict[str, dict[str, Any]]) -> list[str]:
    ordered: list[str] = []
    state: dict[str, str] = {}

    def visit(logical_id: str) -> None:
        if state.get(logical_id) == "done":
            return
        if state.get(logical_id) == "visiting":
            raise AssemblyError(f"resource dependency cycle through {logical_id}")
        state[logical_id] = "visiting"
        spec = resources[logical_id]
        depends = spec.get("DependsOn", [])
        needed = references(spec.get("Properties", {})) | set([depends] if isinstance(depends, str) else depends)
        for dependency in sorted(needed & resources.keys()):
            visit(dependency)
        state[logical_id] = "done"
        ordered.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return ordered


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "code runs in-process from the checkout")
    return buffer.getvalue()
