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

Each resource type's provisioner lives in its service's module (``provisioners(context, ...)``, given a
``provisioning.ProvisioningContext``); ``LocalCloud`` composes their tables and keeps the lifecycle.
Every resource type it does not emulate is listed in ``report`` with what
that means locally; nothing is skipped silently.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
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
from mlops.local import (
    alarms,
    athena,
    batch,
    codedeploy,
    events,
    gateway,
    iam,
    lambda_runtime,
    lambda_versions,
    logs,
    map_runs,
    moto_patches,
    resources,
    scheduler,
)
from mlops.local.alarms import AlarmEvaluator
from mlops.local.assembly import AssemblyError, StackTemplate, image_build_contexts, load_assembly
from mlops.local.batch import LocalBatch
from mlops.local.codedeploy import LocalCodeDeploy
from mlops.local.events import EventRouter
from mlops.local.execution_events import execution_status_events
from mlops.local.gateway import LocalGateway, RestApiParts
from mlops.local.iam import OPERATOR, LocalIam, caller_credentials
from mlops.local.iam import authorize as iam_authorize
from mlops.local.intrinsics import PhysicalResource, Resolver, references
from mlops.local.lambda_runtime import InProcessLambdaRuntime
from mlops.local.lambda_versions import WeightedAliases, invoke_in_backend
from mlops.local.logs import LogSubscriptions
from mlops.local.provisioning import Provisioners, ProvisioningContext
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
    "Step Functions: a Retry's IntervalSeconds (with its BackoffRate and jitter) is not waited out: the next "
    "attempt starts at once; the attempts, their number and what they catch are as in AWS",
    "API Gateway usage-plan throttling and quotas are not enforced",
    "CodeDeploy (Lambda) deployments advance on cloud.codedeploy.step() or router.advance_clock(); "
    "linear configs, AfterAllowTraffic hooks and AWS's separate rollback deployment are not emulated",
    "API Gateway IAM (SigV4) auth checks that a request is signed, not that the signature is valid",
    "AWS Batch jobs run in-process, one at a time (mlops/local/batch.py): no Docker, no vCPU/memory limits, "
    "no job timeout, no Batch-level retries",
    "Athena runs the workgroup's queries on DuckDB over the Glue tables' files in moto's S3 (athena.py): the SQL "
    "the toolkit writes, not all of Athena's; Glue partition projection is not evaluated (partitions come from "
    "the files' keys)",
    "CloudWatch: Lambda's, Step Functions' and SQS's own metrics exist locally (alarms.py), API Gateway's "
    "(5XXError, Count, Latency) do not: the API alarms on them see missing data",
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
        self._context = ProvisioningContext(
            clients=self.client, account=ACCOUNT, region=region, notes=self.report.notes
        )
        self.runtime = InProcessLambdaRuntime(region=region, metric_sink=self._ingest_metrics)
        self.log_subscriptions = LogSubscriptions(self.client, account=ACCOUNT, clock=self.clock)
        self.runtime.log_listeners.append(self.log_subscriptions.deliver)
        # The image ships the project (a named build context) at IMAGE_PROJECT_DIR: here it is the folder itself.
        project = image_build_contexts(self.assembly_dir).get(IMAGE_PROJECT_CONTEXT)
        self.project_dir = Path(project) if project else None
        if project:
            self.runtime.image_paths[IMAGE_PROJECT_DIR] = project
        self.batch = LocalBatch(self.runtime)
        self.athena = athena.LocalAthena(region)
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
        self._api_parts: RestApiParts | None = None
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
            exit_stack.enter_context(moto_patches.quiet_moto_logs())
            exit_stack.enter_context(mock_aws(config=moto_patches.MOTO_CONFIG))
            exit_stack.enter_context(moto_patches.shared_service_models())
            runtime = self.runtime

            def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
                environment = {k: str(v) for k, v in (function.environment_vars or {}).items()}
                payload, errored, logs = runtime.invoke(
                    function.function_name, event, version=str(function.version), environment=environment
                )
                if self.alarms is not None:  # Lambda's own metrics (AWS/Lambda Invocations, Errors)
                    self.alarms.record_invocation(function.function_name, errored=errored)
                return payload, errored, logs

            exit_stack.enter_context(
                moto_patches.patched(
                    {
                        "lambda.run_in_process": invoke,
                        "sfn.name_executions": _start_execution_named,
                        "sfn.validate_once": _validate_definition_once,
                        "sfn.retry_without_waiting": _RETRY_CLOCK,
                        "dynamodb.query_partition": _query_partition,
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
            exit_stack.enter_context(self.athena.installed())
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
            self._api_parts = RestApiParts(self.gateway)
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
        if self.alarms is not None:  # Step Functions' own metrics (AWS/States Executions<Status>)
            self.alarms.record_execution(event)
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

        provisioners = self._provisioners()

        for logical_id in _dependency_order(stack.resources):
            spec = stack.resources[logical_id]
            if "Condition" in spec and not conditions[spec["Condition"]]:
                continue
            rtype = spec["Type"]
            where = f"{stack.name}/{logical_id}"
            props = resolver.resolve(spec.get("Properties", {}), where)
            provisioner = provisioners.get(rtype)
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

        assert self._api_parts is not None
        self._api_parts.assemble()
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

    def _provisioners(self) -> Provisioners:
        """Every emulated resource type's provisioner: each service module's table, over the started cloud."""
        context = self._context
        assert self.alarms is not None and self._api_parts is not None, "the local cloud is not started"
        return {
            **resources.provisioners(context),
            **iam.provisioners(context),
            **logs.provisioners(context, self.log_subscriptions),
            **lambda_runtime.provisioners(context, self.runtime),
            **lambda_versions.provisioners(context),
            **events.provisioners(context),
            **alarms.provisioners(context, self.alarms),
            **scheduler.provisioners(context, self.scheduler),
            **codedeploy.provisioners(context, self.codedeploy),
            **gateway.provisioners(self._api_parts),
            **batch.provisioners(context),
            **athena.provisioners(context),
        }


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


class _NoWait:
    """``time`` as moto's Retry sees it locally: its interval is not waited out (the local cloud's clock is the
    tests' and the operator's, see ``LocalCloud.clock``; a wall-clock wait only slowed every retried run)."""

    def sleep(self, _seconds: float) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_RETRY_CLOCK = _NoWait()


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


def _query_partition(table: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's ``Table.query`` over the one partition a table query names, and an index query without moto's
    whole-table sort before its own.

    moto lists and sorts every item of the table for each query, then keeps the partition's, so a query's cost
    grew with the table (the metadata store's lineage walks and run reads). The partition's items, sorted the
    same way, are exactly what it kept."""
    query = moto_patches.original("dynamodb.query_partition")
    # (range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward, projection_expressions,
    # index_name, ...): moto's backend passes index_name by position
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    view = copy.copy(table)
    if index_name is None and hash_key is not None:
        partition = table.items.get(hash_key)
        view.items = {hash_key: partition} if partition is not None else {}
    elif index_name is not None:
        # An index query sorts its matches by the index keys and then the table's keys (a total order), so
        # moto's whole-table sort before it changes nothing: the items are handed over unsorted.
        view.all_items = lambda: _unsorted_items(table)
    return query(view, hash_key, *args, **kwargs)


def _unsorted_items(table: Any) -> list[Any]:
    if not table.range_key_attr:
        return list(table.items.values())
    return [item for partition in table.items.values() for item in partition.values()]
