"""What a synthesized stage template bills for: the inventory ``mlops cost`` prices.

Every resource type the template contains is either priced (``PRICED_TYPES``, each naming how
``mlops.cost.estimate`` prices it) or listed as unbilled with the reason (``UNBILLED_TYPES``); a
type in neither, or a billed option the estimate does not model, is reported in
``Inventory.unpriced``, and a test fails on it. The pipelines' steps are read from the state
machines' definitions in the template (which Lambda function each task invokes, with its
memory), the schedules from the rules and schedules that target a function.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.feature_store.athena_join import COMMITTED_FILES_TABLE

SECONDS_PER_MONTH = 30 * 24 * 3600  # the month every figure of the cost model is for

PRICED_TYPES: dict[str, str] = {
    "AWS::Lambda::Function": "Lambda GB-seconds and requests of every invocation: inference, each pipeline step "
    "the state machines invoke, scheduled and event-driven functions",
    "AWS::ApiGateway::RestApi": "API Gateway REST requests",
    "AWS::StepFunctions::StateMachine": "Step Functions state transitions of each run, Map children included",
    "AWS::Batch::JobDefinition": "Fargate vCPU-hours and GB-hours of the training jobs (its resource requirements)",
    "AWS::DynamoDB::Table": "DynamoDB on-demand reads and writes, storage and point-in-time recovery",
    "AWS::S3::Bucket": "S3 storage and requests (data, models, captures, access logs)",
    "AWS::KMS::Key": "KMS key-months and requests",
    "AWS::Logs::LogGroup": "CloudWatch Logs ingestion and storage for its retention",
    "AWS::EC2::FlowLog": "vended-log ingestion of the flow log into CloudWatch Logs",
    "AWS::EC2::VPCEndpoint": "interface endpoints: hours per Availability Zone (gateway endpoints have no charge)",
    "AWS::KinesisFirehose::DeliveryStream": "Firehose ingestion of the capture log lines",
    "AWS::CloudWatch::Alarm": "CloudWatch alarm metrics (standard or high resolution)",
    "AWS::CloudWatch::Dashboard": "CloudWatch dashboards",
    "AWS::SQS::Queue": "SQS requests (dead-letter queues: only when something fails)",
    "AWS::SNS::Topic": "SNS publishes (alarm notifications)",
    "AWS::Scheduler::Schedule": "EventBridge Scheduler invocations",
    "AWS::Events::Rule": "EventBridge custom events the rules match (AWS service events and schedules are free)",
    "AWS::SecretsManager::Secret": "Secrets Manager secret-months and reads (inference: once per container)",
    "AWS::Glue::Database": "Glue Data Catalog objects",
    "AWS::Glue::Table": "Glue Data Catalog objects (partition projection: no partition objects)",
}

_CONFIGURATION = "configuration of a priced resource; no charge of its own"
UNBILLED_TYPES: dict[str, str] = {
    "AWS::IAM::Role": "IAM has no charge",
    "AWS::IAM::Policy": "IAM has no charge",
    "AWS::IAM::OIDCProvider": "IAM has no charge",
    "AWS::Athena::WorkGroup": "a workgroup has no charge; its queries bill the bytes they scan (not in the estimate)",
    "AWS::ApiGateway::Account": "the account's CloudWatch role setting; no charge",
    "AWS::ApiGateway::ApiKey": "API keys have no charge; requests are priced on the RestApi",
    "AWS::ApiGateway::UsagePlan": "usage plans have no charge; requests are priced on the RestApi",
    "AWS::ApiGateway::UsagePlanKey": "usage plans have no charge",
    "AWS::ApiGateway::Deployment": _CONFIGURATION + " (RestApi)",
    "AWS::ApiGateway::Stage": "no charge without a cache cluster (the inventory reports a stage that enables one)",
    "AWS::ApiGateway::Method": _CONFIGURATION + " (RestApi)",
    "AWS::ApiGateway::Resource": _CONFIGURATION + " (RestApi)",
    "AWS::ApiGateway::Model": _CONFIGURATION + " (RestApi)",
    "AWS::ApiGateway::RequestValidator": _CONFIGURATION + " (RestApi)",
    "AWS::ApiGateway::GatewayResponse": _CONFIGURATION + " (RestApi)",
    "AWS::Batch::ComputeEnvironment": "AWS Batch has no charge of its own: its Fargate tasks are priced per job",
    "AWS::Batch::JobQueue": "AWS Batch has no charge of its own",
    "AWS::CodeDeploy::Application": "CodeDeploy deployments to Lambda have no charge",
    "AWS::CodeDeploy::DeploymentConfig": "CodeDeploy deployments to Lambda have no charge",
    "AWS::CodeDeploy::DeploymentGroup": "CodeDeploy deployments to Lambda have no charge",
    "AWS::EC2::VPC": "no charge (a NAT gateway or a public IPv4 address would be billed types of their own)",
    "AWS::EC2::Subnet": "no charge",
    "AWS::EC2::RouteTable": "no charge",
    "AWS::EC2::SubnetRouteTableAssociation": "no charge",
    "AWS::EC2::SecurityGroup": "no charge",
    "AWS::KMS::Alias": "aliases have no charge",
    "AWS::Lambda::Alias": "no charge without provisioned concurrency (the inventory reports an alias that has it)",
    "AWS::Lambda::Version": "no charge without provisioned concurrency (the inventory reports a version that has it)",
    "AWS::Lambda::Permission": _CONFIGURATION + " (Function)",
    "AWS::Lambda::EventInvokeConfig": _CONFIGURATION + " (Function); failed events go to a priced queue",
    "AWS::Logs::SubscriptionFilter": "no charge of its own: Firehose ingestion is priced on the delivery stream",
    "AWS::S3::BucketPolicy": "policies have no charge",
    "AWS::SNS::TopicPolicy": "policies have no charge",
    "AWS::SQS::QueuePolicy": "policies have no charge",
    "AWS::CDK::Metadata": "the CDK's version report; not an AWS resource",
}


class CostModelError(ValueError):
    """A traffic profile value is invalid or does not fit the stage; the message names it."""


@dataclass(frozen=True)
class PipelineRun:
    """The states a run of one state machine passes through, and the Lambda functions its tasks invoke."""

    transitions: int
    steps: tuple[tuple[str, str], ...]  # (task state, handler of the function it invokes), in run order
    # Distributed Map states on the path: (state name, the run of one item's child execution).
    map_children: tuple[tuple[str, PipelineRun], ...] = ()
    batch_jobs: int = 0
    batch_states: tuple[str, ...] = ()  # the Batch job states on the path, in run order (a job each)

    @property
    def invocations(self) -> tuple[str, ...]:
        return tuple(handler for _, handler in self.steps)


@dataclass(frozen=True)
class Inventory:
    """What the synthesized stage template bills for, read from the template itself."""

    resource_types: Mapping[str, int]
    function_memory_mb: Mapping[str, int]  # handler module (``feature_validate``) -> MB
    # Runs of each state machine, keyed by what it does: "feature", "feature_batch", "training",
    # "training_batch", "batch_inference"; and its definition's Distributed Map states by name.
    runs: Mapping[str, PipelineRun]
    scheduled_invocations: Mapping[str, float]  # handler -> invocations a month from rules and schedules
    scheduler_invocations: float  # of which EventBridge Scheduler's
    interface_endpoint_azs: int
    alarm_metrics: int
    high_resolution_alarm_metrics: int
    batch_vcpus: float
    batch_memory_gb: float
    online_views: int  # feature views the online store serves: their Glue tables, feedback views excepted
    unpriced: tuple[str, ...] = ()

    def count(self, resource_type: str) -> int:
        return self.resource_types.get(resource_type, 0)


def inventory_from_template(template_path: Path) -> Inventory:
    """Read what a synthesized stage template bills for: resource types, functions, pipelines, schedules."""
    resources: dict[str, dict[str, Any]] = json.loads(template_path.read_text())["Resources"]
    types = Counter(r["Type"] for r in resources.values())
    handlers = {logical: _handler_of(r) for logical, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    memory = {handlers[logical]: int(resources[logical]["Properties"].get("MemorySize", 128)) for logical in handlers}
    runs: dict[str, PipelineRun] = {}
    for r in resources.values():
        if r["Type"] == "AWS::StepFunctions::StateMachine":
            runs.update(_pipeline_runs(r["Properties"], handlers))
    scheduled: dict[str, float] = {}
    scheduler = 0.0
    for r in resources.values():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in props:
            targets = [t.get("Arn") for t in props.get("Targets", [])]
        elif r["Type"] == "AWS::Scheduler::Schedule":
            targets = [props["Target"].get("Arn")]
            scheduler += runs_per_month(props["ScheduleExpression"])
        else:
            continue
        for target in targets:
            handler = handlers.get(_ref(target) or "")
            if handler is not None:
                scheduled[handler] = scheduled.get(handler, 0.0) + runs_per_month(props["ScheduleExpression"])
    endpoints = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::VPCEndpoint"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    metrics = [(_alarm_metrics(a), _alarm_period(a) < 60) for a in alarms]
    jobs = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Batch::JobDefinition"]
    requirements = {
        q["Type"]: float(q["Value"])
        for job in jobs[:1]
        for q in job.get("ContainerProperties", {}).get("ResourceRequirements", [])
    }
    return Inventory(
        resource_types=dict(types),
        function_memory_mb=memory,
        runs=runs,
        scheduled_invocations=scheduled,
        scheduler_invocations=scheduler,
        interface_endpoint_azs=sum(
            len(e.get("SubnetIds", [])) for e in endpoints if e.get("VpcEndpointType") == "Interface"
        ),
        alarm_metrics=sum(n for n, high in metrics if not high),
        high_resolution_alarm_metrics=sum(n for n, high in metrics if high),
        batch_vcpus=requirements.get("VCPU", 0.0),
        batch_memory_gb=requirements.get("MEMORY", 0.0) / 1024,
        online_views=sum(
            not str(r["Properties"]["TableInput"].get("Name", "")).startswith("feedback_")
            # the Athena path's list of the files each query may read is no view
            and r["Properties"]["TableInput"].get("Name") != COMMITTED_FILES_TABLE
            for r in resources.values()
            if r["Type"] == "AWS::Glue::Table"
        ),
        unpriced=_unpriced(resources, types),
    )


def _unpriced(resources: Mapping[str, dict[str, Any]], types: Mapping[str, int]) -> tuple[str, ...]:
    """Resource types the model neither prices nor lists as unbilled, and billed options it does not model."""
    found = [t for t in sorted(types) if t not in PRICED_TYPES and t not in UNBILLED_TYPES]
    for logical, r in resources.items():
        props, kind = r.get("Properties", {}), r["Type"]
        if kind == "AWS::ApiGateway::Stage" and props.get("CacheClusterEnabled"):
            found.append(f"{kind} {logical}: cache cluster")
        if kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version") and props.get("ProvisionedConcurrencyConfig"):
            found.append(f"{kind} {logical}: provisioned concurrency")
        if kind == "AWS::Lambda::Function":
            if props.get("Architectures", ["x86_64"]) != ["x86_64"]:
                found.append(f"{kind} {logical}: architecture {props['Architectures']}")
            if int(props.get("EphemeralStorage", {}).get("Size", 512)) > 512:
                found.append(f"{kind} {logical}: ephemeral storage over 512 MB")
        if kind == "AWS::DynamoDB::Table" and props.get("BillingMode") != "PAY_PER_REQUEST":
            found.append(f"{kind} {logical}: provisioned capacity")
        if kind == "AWS::StepFunctions::StateMachine" and props.get("StateMachineType", "STANDARD") != "STANDARD":
            found.append(f"{kind} {logical}: {props['StateMachineType']} workflow")
        if kind == "AWS::EC2::VPCEndpoint" and props.get("VpcEndpointType", "Gateway") not in ("Gateway", "Interface"):
            found.append(f"{kind} {logical}: {props['VpcEndpointType']} endpoint")
    return tuple(found)


def _handler_of(function: dict[str, Any]) -> str:
    """``feature_validate`` for a function whose image command is ``functions.handlers.feature_validate.handler``."""
    props = function["Properties"]
    command = props.get("ImageConfig", {}).get("Command") or [props.get("Handler", "")]
    parts = str(command[0]).split(".")
    return parts[-2] if len(parts) >= 2 else parts[0]


def _ref(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def _alarm_metrics(alarm: dict[str, Any]) -> int:
    """Alarm metrics billed: one for a single-metric alarm, one per metric a metric-math alarm reads."""
    queries = alarm.get("Metrics")
    return sum(1 for q in queries if "MetricStat" in q) if queries else 1


def _alarm_period(alarm: dict[str, Any]) -> int:
    periods = [int(q["MetricStat"]["Period"]) for q in alarm.get("Metrics", []) if "MetricStat" in q]
    return min(periods) if periods else int(alarm.get("Period", 60))


def _pipeline_runs(props: dict[str, Any], handlers: Mapping[str, str]) -> dict[str, PipelineRun]:
    """The runs of one state machine, by what it does (its tasks name the functions it invokes)."""
    definition = json.loads(props["DefinitionString"]) if isinstance(props["DefinitionString"], str) else {}
    substitutions = props.get("DefinitionSubstitutions", {})
    function_of = {name: handlers[_ref(v) or ""] for name, v in substitutions.items() if _ref(v) in handlers}
    if not definition:
        return {}

    def run(*prefer: str) -> PipelineRun:
        return _walk(definition, function_of, set(prefer))

    everything = {h for name, h in function_of.items() if "${" + name + "}" in props["DefinitionString"]}
    if "train" in everything:
        return {
            "training": run("Register"),
            # A large set runs its whole data prep on Batch: the size rule's branches to the Batch states.
            "training_batch": run("Register", *_ON_BATCH),
            "training_tuned": run("Register", "PlanTrials"),
            "training_tuned_batch": run("Register", "PlanTrials", "TrialOnBatch", *_ON_BATCH),
        }
    if "feature_validate" in everything:
        return {"feature": run(), "feature_batch": run("PlanBatch")}
    if "batch_predict" in everything:
        return {"batch_inference": run()}
    return {}


# The training pipeline's Choice branches a run the size rule sent to Batch takes (EvaluateOnBatch follows).
_ON_BATCH = ("BuildOnBatch", "ValidateOnBatch", "TrainOnBatch")


def _walk(definition: dict[str, Any], function_of: Mapping[str, str], prefer: set[str]) -> PipelineRun:
    """Follow a successful run from ``StartAt``: at a Choice, a branch into ``prefer`` (each taken once) or else
    the Default, so a loop back to a Choice (a search's ChooseBest -> SearchOrTrain) ends."""
    states: dict[str, Any] = definition["States"]
    name: str | None = definition["StartAt"]
    transitions, steps, children, jobs = 0, [], [], []
    while name is not None:
        if transitions > len(states) * 4:
            raise CostModelError(f"the state machine loops through {name!r} on its default branches")
        state = states[name]
        transitions += 1
        kind = state["Type"]
        if kind == "Task":
            resource = str(state.get("Resource", ""))
            if resource.startswith("arn:aws:states:::batch:"):
                jobs.append(name)
            target = str(state.get("Parameters", {}).get("FunctionName", ""))
            placeholder = re.fullmatch(r"\$\{(\w+)\}", target)
            if placeholder and placeholder.group(1) in function_of:
                steps.append((name, function_of[placeholder.group(1)]))
        if kind == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            children.append((name, _walk(processor, function_of, set(prefer))))
        if kind == "Choice":
            branches = [c["Next"] for c in state["Choices"]]
            chosen = next((b for b in branches if b in prefer), None)
            prefer.discard(chosen or "")
            name = chosen or state.get("Default")
            continue
        name = None if state.get("End") or kind in ("Succeed", "Fail") else state.get("Next")
    return PipelineRun(transitions, tuple(steps), tuple(children), len(jobs), tuple(jobs))


def runs_per_month(expression: str) -> float:
    """How often an EventBridge ``rate(...)`` or ``cron(...)`` expression fires in a 30-day month."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        seconds = {"minute": 60, "hour": 3600, "day": 86400}[rate.group(2).rstrip("s")]
        return SECONDS_PER_MONTH / (int(rate.group(1)) * seconds)
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+)(?: (\S+))?\)", expression)
    if not cron:
        raise CostModelError(f"schedule {expression!r} is neither rate(...) nor cron(...)")
    minutes, hours, day_of_month, _month, day_of_week = cron.groups()[:5]
    if day_of_month in ("*", "?") and day_of_week in ("*", "?"):
        days = 30.0
    elif day_of_week not in ("*", "?"):
        days = _cron_field_count(day_of_week, 7) * 30 / 7
    else:
        days = float(_cron_field_count(day_of_month, 31))
    return _cron_field_count(minutes, 60) * _cron_field_count(hours, 24) * days


def _cron_field_count(text: str, size: int) -> int:
    """Values a cron field takes: ``*``, ``5``, ``1,3``, ``1-5``, ``*/15``, ``MON``, ``MON-FRI``."""
    count = 0
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            span = size
        elif "-" in base:
            low, high = base.split("-", 1)
            span = (_cron_value(high) - _cron_value(low)) % size + 1
        else:
            span = size - _cron_value(base) if step else 1  # 5/15: from 5 on, every 15
        count += math.ceil(span / int(step)) if step else span
    return count


def _cron_value(text: str) -> int:
    days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    return days.index(text.upper()) if text.upper() in days else int(text)
