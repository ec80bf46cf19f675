"""CodeDeploy for Lambda in the local cloud: canary traffic shifting, hooks, alarm rollback.

moto's CodeDeploy stores applications, groups and deployments and nothing
more. Here a deployment in a Lambda deployment group runs as CodeDeploy
runs it, driven by ``step(now)`` (also called by ``EventRouter.advance_clock``):

1. the first step runs the AppSpec's ``BeforeAllowTraffic`` hook with
   ``{DeploymentId, LifecycleEventHookExecutionId}`` and reads the status the
   hook reports through ``PutLifecycleEventHookExecutionStatus`` (added to
   moto here); a hook that fails, errors or reports nothing fails the
   deployment with no traffic shifted;
2. the canary percentage goes to the target version through the alias's
   ``AdditionalVersionWeights`` (``lambda_versions`` routes by weight);
3. each later step evaluates the CloudWatch alarms (``alarms.AlarmEvaluator``,
   over the metrics the handlers emitted) once per minute of the canary
   interval, with each alarm's definition as CloudWatch now stores it. An
   alarm in ALARM stops the deployment and, with ``DEPLOYMENT_STOP_ON_ALARM``
   auto-rollback, points the alias back at the current version; when the
   interval passes quietly, the alias moves wholly to the target version.

A deployment's own ``deploymentConfigName``, ``overrideAlarmConfiguration``
and ``autoRollbackConfiguration`` replace the group's, as in CodeDeploy; an
alarm created through the API (not the template) is evaluated from its stored
definition while a deployment watches it. A group runs one deployment at a
time (``DeploymentLimitExceededException``). ``StopDeployment`` (added to
moto here) stops one on the next step, its alias pointed back with auto-rollback.
Every state change puts a "CodeDeploy Deployment State-change Notification"
event on the default bus; ``errorInformation`` in ``GetDeployment`` carries
the failing hook, the activated alarms or the manual stop, as CodeDeploy reports them.
Not emulated: linear configs, AfterAllowTraffic hooks, the separate
rollback deployment CodeDeploy creates (the stopped deployment's
``rollbackInfo`` says what was rolled back).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.codedeploy.exceptions import CodeDeployException, DeploymentDoesNotExistException
from moto.codedeploy.models import CodeDeployBackend, DeploymentInfo, codedeploy_backends
from moto.codedeploy.responses import CodeDeployResponse

from mlops.local import moto_patches
from mlops.local.alarms import AlarmEvaluator, LocalAlarm
from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext

_PREDEFINED = re.compile(r"^CodeDeployDefault\.LambdaCanary(\d+)Percent(\d+)Minutes?$")
ALARM_MESSAGE = (
    "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, "
    "and the affected deployments have been stopped. Activated alarms: "
)


@dataclass(frozen=True)
class TrafficRouting:
    """Share of traffic (0..1) given to the new version first, and for how long; all-at-once is (1.0, 0)."""

    canary_share: float
    interval: timedelta

    @classmethod
    def from_properties(cls, name: str, props: dict[str, Any]) -> TrafficRouting:
        routing = props.get("TrafficRoutingConfig") or {"Type": "AllAtOnce"}
        if routing["Type"] == "AllAtOnce":
            return cls(1.0, timedelta(0))
        if routing["Type"] == "TimeBasedCanary":
            canary = routing["TimeBasedCanary"]
            return cls(float(canary["CanaryPercentage"]) / 100, timedelta(minutes=int(canary["CanaryInterval"])))
        raise ValueError(f"deployment config {name}: {routing['Type']} traffic routing is not emulated locally")


@dataclass(frozen=True)
class LambdaGroup:
    application: str
    name: str
    group_id: str
    config_name: str
    alarms: tuple[str, ...]
    rollback_events: frozenset[str]


@dataclass
class Rollout:
    deployment_id: str
    group: LambdaGroup
    function_name: str
    alias: str
    current_version: str
    target_version: str
    before_allow_traffic: str | None
    routing: TrafficRouting
    alarms: tuple[str, ...]
    rollback_events: frozenset[str]
    state: str = "Created"
    shifted_at: datetime | None = None
    evaluated_until: datetime | None = None
    hook_status: dict[str, str | None] = field(default_factory=dict)
    error: dict[str, str] = field(default_factory=dict)
    rollback: dict[str, str] = field(default_factory=dict)
    # Set by StopDeployment: "MANUAL_STOP" (point the alias back) or "" (leave it), acted on by the next step.
    stop_requested: str | None = None


class LocalCodeDeploy:
    def __init__(
        self,
        *,
        clients: Callable[[str], Any],
        alarms: Callable[[], AlarmEvaluator],
        put_event: Callable[[dict[str, Any]], None],
        account: str,
        region: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clients = clients
        self._clock = clock
        self._alarms = alarms
        self._put_event = put_event
        self._account = account
        self._region = region
        self.configs: dict[str, TrafficRouting] = {}
        self.groups: dict[tuple[str, str], LambdaGroup] = {}
        self.rollouts: dict[str, Rollout] = {}
        self.events: list[dict[str, Any]] = []

    # -- moto patches ------------------------------------------------------------
    @contextmanager
    def installed(self) -> Iterator[None]:
        original_create = moto_patches.original("codedeploy.run_deployments")
        original_info = moto_patches.original("codedeploy.deployment_info")
        emulator = self

        def create_deployment(backend: CodeDeployBackend, application_name: str, *args: Any, **kwargs: Any) -> str:
            emulator._refuse_second(application_name, kwargs.get("deployment_group_name"))
            deployment_id = original_create(backend, application_name, *args, **kwargs)
            emulator._accept(backend.deployments[deployment_id])
            return str(deployment_id)

        def put_lifecycle_event_hook_execution_status(response: CodeDeployResponse) -> str:
            params = json.loads(response.body)
            emulator.record_hook_status(
                params["deploymentId"], params["lifecycleEventHookExecutionId"], params["status"]
            )
            return json.dumps({"lifecycleEventHookExecutionId": params["lifecycleEventHookExecutionId"]})

        def stop_deployment(response: CodeDeployResponse) -> str:
            params = json.loads(response.body)
            emulator.stop(params["deploymentId"], roll_back=bool(params.get("autoRollbackEnabled")))
            return json.dumps({"status": "Pending", "statusMessage": "The deployment is being stopped"})

        def deployment_info(deployment: DeploymentInfo) -> dict[str, Any]:
            info = original_info(deployment)
            rollout = emulator.rollouts.get(deployment.deployment_id)
            if rollout is not None:
                info["errorInformation"] = dict(rollout.error)
                info["rollbackInfo"] = dict(rollout.rollback)
            return info

        with moto_patches.patched(
            {
                "codedeploy.run_deployments": create_deployment,
                "codedeploy.hook_status": put_lifecycle_event_hook_execution_status,
                "codedeploy.stop_deployment": stop_deployment,
                "codedeploy.deployment_info": deployment_info,
            }
        ):
            yield

    # -- provisioners ------------------------------------------------------------
    def create_application(self, name: str, props: dict[str, Any]) -> PhysicalResource:
        platform = props.get("ComputePlatform", "Server")
        self._clients("codedeploy").create_application(applicationName=name, computePlatform=platform)
        return PhysicalResource(name)

    def create_config(self, name: str, props: dict[str, Any]) -> PhysicalResource:
        if props.get("ComputePlatform") != "Lambda":
            raise ValueError(f"deployment config {name}: only Lambda deployment configs are emulated locally")
        self.configs[name] = TrafficRouting.from_properties(name, props)
        return PhysicalResource(name)

    def create_group(self, name: str, props: dict[str, Any]) -> PhysicalResource:
        alarm_config = props.get("AlarmConfiguration") or {}
        alarms = tuple(a["Name"] for a in alarm_config.get("Alarms", [])) if alarm_config.get("Enabled") else ()
        rollback = props.get("AutoRollbackConfiguration") or {}
        events = frozenset(rollback.get("Events", [])) if rollback.get("Enabled") else frozenset()
        config_name = props.get("DeploymentConfigName", "CodeDeployDefault.LambdaAllAtOnce")
        kwargs: dict[str, Any] = {
            "applicationName": props["ApplicationName"],
            "deploymentGroupName": name,
            "serviceRoleArn": props["ServiceRoleArn"],
            "deploymentConfigName": config_name,
            "alarmConfiguration": {"enabled": bool(alarms), "alarms": [{"name": a} for a in alarms]},
            "autoRollbackConfiguration": {"enabled": bool(events), "events": sorted(events)},
        }
        if "DeploymentStyle" in props:
            style = props["DeploymentStyle"]
            kwargs["deploymentStyle"] = {
                "deploymentType": style.get("DeploymentType"),
                "deploymentOption": style.get("DeploymentOption"),
            }
        group_id = self._clients("codedeploy").create_deployment_group(**kwargs)["deploymentGroupId"]
        self.groups[(props["ApplicationName"], name)] = LambdaGroup(
            props["ApplicationName"], name, group_id, config_name, alarms, events
        )
        return PhysicalResource(name)

    # -- the deployment lifecycle --------------------------------------------------
    def _accept(self, deployment: DeploymentInfo) -> None:
        group = self.groups.get((deployment.application_name, deployment.deployment_group_name))
        if group is None or deployment.application.compute_platform != "Lambda":
            raise ValueError(
                f"deployment {deployment.deployment_id}: only Lambda deployment groups are emulated locally"
            )
        appspec = _appspec(deployment.revision)
        resources = appspec.get("Resources") or []
        if len(resources) != 1:
            raise ValueError(f"deployment {deployment.deployment_id}: the AppSpec must name exactly one function")
        (properties,) = [spec["Properties"] for spec in resources[0].values()]
        hooks = {name: arn for hook in appspec.get("Hooks", []) for name, arn in hook.items()}
        unsupported = sorted(set(hooks) - {"BeforeAllowTraffic"})
        if unsupported:
            raise ValueError(f"deployment {deployment.deployment_id}: hooks {unsupported} are not emulated locally")
        config_name = deployment.deployment_config_name or group.config_name
        # A deployment's own alarm and rollback configuration replaces its group's.
        override: Any = deployment.override_alarm_configuration or {}
        alarms = group.alarms
        if override:
            alarms = tuple(a["name"] for a in override.get("alarms", [])) if override.get("enabled") else ()
        rollback = deployment.auto_rollback_configuration
        rollback_events = group.rollback_events
        if rollback:
            rollback_events = frozenset(rollback.get("events", [])) if rollback.get("enabled") else frozenset()
        self.rollouts[deployment.deployment_id] = Rollout(
            deployment_id=deployment.deployment_id,
            group=group,
            function_name=properties["Name"],
            alias=properties["Alias"],
            current_version=str(properties["CurrentVersion"]),
            target_version=str(properties["TargetVersion"]),
            before_allow_traffic=hooks.get("BeforeAllowTraffic"),
            routing=self._routing(config_name),
            alarms=alarms,
            rollback_events=rollback_events,
        )

    def _refuse_second(self, application: str, group: str | None) -> None:
        for rollout in self.rollouts.values():
            if (rollout.group.application, rollout.group.name) == (application, group) and rollout.state in (
                "Created",
                "InProgress",
            ):
                raise CodeDeployException(
                    "DeploymentLimitExceededException",
                    f"The Deployment Group '{group}' already has an active Deployment '{rollout.deployment_id}'",
                )

    def stop(self, deployment_id: str, *, roll_back: bool) -> None:
        """StopDeployment: the deployment stops on the next step (CodeDeploy answers Pending and stops it within
        seconds), its alias pointed back at the current version if asked."""
        rollout = self.rollouts.get(deployment_id)
        if rollout is None:
            raise DeploymentDoesNotExistException(f"The deployment {deployment_id} could not be found.")
        if rollout.state not in ("Created", "InProgress"):
            raise CodeDeployException(
                "DeploymentAlreadyCompletedException", f"The deployment {deployment_id} has already completed."
            )
        rollout.stop_requested = "MANUAL_STOP" if roll_back else ""

    def _routing(self, config_name: str) -> TrafficRouting:
        if config_name in self.configs:
            return self.configs[config_name]
        if config_name == "CodeDeployDefault.LambdaAllAtOnce":
            return TrafficRouting(1.0, timedelta(0))
        predefined = _PREDEFINED.match(config_name)
        if predefined:
            return TrafficRouting(int(predefined.group(1)) / 100, timedelta(minutes=int(predefined.group(2))))
        raise ValueError(f"deployment config {config_name!r} is not emulated locally")

    def record_hook_status(self, deployment_id: str, execution_id: str, status: str) -> None:
        rollout = self.rollouts.get(deployment_id)
        if rollout is None:
            raise DeploymentDoesNotExistException(f"The deployment {deployment_id} could not be found.")
        if execution_id not in rollout.hook_status:
            raise ValueError(f"deployment {deployment_id} has no lifecycle hook execution {execution_id}")
        if status not in ("Succeeded", "Failed"):
            raise ValueError(f"lifecycle hook status must be Succeeded or Failed, got {status!r}")
        rollout.hook_status[execution_id] = status

    def step(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Advance every unfinished deployment to ``now`` (default: the local cloud's clock); returns the
        state-change events put."""
        now = now or self._clock()
        before = len(self.events)
        for rollout in list(self.rollouts.values()):
            if rollout.stop_requested is not None and rollout.state in ("Created", "InProgress"):
                rollout.error = {"code": "MANUAL_STOP", "message": "The deployment was stopped by StopDeployment"}
                self._finish(rollout, "Stopped", "STOP", now, roll_back=rollout.stop_requested or None)
                continue
            if rollout.state == "Created":
                self._before_allow_traffic(rollout, now)
            if rollout.state == "InProgress":
                self._watch_canary(rollout, now)
        return self.events[before:]

    def _before_allow_traffic(self, rollout: Rollout, now: datetime) -> None:
        self._set_status(rollout, "InProgress", "START", now)
        if rollout.before_allow_traffic:
            execution_id = str(uuid.uuid4())
            rollout.hook_status[execution_id] = None
            response = self._clients("lambda").invoke(
                FunctionName=rollout.before_allow_traffic,
                Payload=json.dumps(
                    {"DeploymentId": rollout.deployment_id, "LifecycleEventHookExecutionId": execution_id}
                ),
            )
            status = rollout.hook_status[execution_id]
            if response.get("FunctionError") or status != "Succeeded":
                detail = response["Payload"].read().decode()[:500] if response.get("FunctionError") else status
                rollout.error = {
                    "code": "HOOK_EXECUTION_FAILURE",
                    "message": f"The deployment failed because the BeforeAllowTraffic hook reported {detail}",
                }
                self._finish(rollout, "Failed", "FAILURE", now, roll_back="DEPLOYMENT_FAILURE")
                return
        self._alias(rollout, rollout.current_version, rollout.routing.canary_share)
        rollout.shifted_at = rollout.evaluated_until = now
        if rollout.routing.canary_share >= 1.0:
            self._complete(rollout, now)

    def _watch_canary(self, rollout: Rollout, now: datetime) -> None:
        assert rollout.shifted_at is not None and rollout.evaluated_until is not None
        end = rollout.shifted_at + rollout.routing.interval
        tick = rollout.evaluated_until
        while tick < min(now, end):
            tick = min(tick + timedelta(minutes=1), end)
            activated = self._activated_alarms(rollout.alarms, tick)
            rollout.evaluated_until = tick
            if activated:
                rollout.error = {"code": "ALARM_ACTIVE", "message": ALARM_MESSAGE + ", ".join(activated)}
                self._finish(rollout, "Stopped", "STOP", tick, roll_back="DEPLOYMENT_STOP_ON_ALARM")
                return
        if rollout.evaluated_until >= end:
            self._complete(rollout, end)

    def _activated_alarms(self, names: tuple[str, ...], at: datetime) -> list[str]:
        if not names:
            return []
        evaluator = self._alarms()
        stored = self._clients("cloudwatch").describe_alarms(AlarmNames=list(names))["MetricAlarms"]
        for alarm in stored:
            # An alarm put through the API (a rollout's copy of a template alarm) is evaluated as CloudWatch stores it.
            if alarm["AlarmName"] not in evaluator.alarms:
                definition = {k: v for k, v in alarm.items() if v not in (None, "", [])}
                evaluator.add(LocalAlarm.from_properties(alarm["AlarmName"], alarm["AlarmArn"], definition))
        evaluator.evaluate(at)
        return [name for name in names if name in evaluator.alarms and evaluator.alarms[name].state == "ALARM"]

    def _complete(self, rollout: Rollout, now: datetime) -> None:
        self._alias(rollout, rollout.target_version, 0.0)
        self._set_status(rollout, "Succeeded", "SUCCESS", now)

    def _finish(self, rollout: Rollout, status: str, state: str, now: datetime, *, roll_back: str | None) -> None:
        if roll_back == "MANUAL_STOP" or roll_back in rollout.rollback_events:
            self._alias(rollout, rollout.current_version, 0.0)
            rollout.rollback = {
                "rollbackMessage": f"Automatic rollback ({roll_back}): alias {rollout.alias} of "
                f"{rollout.function_name} points at version {rollout.current_version} again"
            }
        self._set_status(rollout, status, state, now)

    def _alias(self, rollout: Rollout, version: str, target_share: float) -> None:
        weights = {rollout.target_version: target_share} if 0.0 < target_share < 1.0 else {}
        self._clients("lambda").update_alias(
            FunctionName=rollout.function_name,
            Name=rollout.alias,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )

    def _set_status(self, rollout: Rollout, status: str, state: str, now: datetime) -> None:
        rollout.state = status
        if status in ("Succeeded", "Failed", "Stopped"):
            self._forget_api_alarms(rollout)
        deployment = codedeploy_backends[self._account][self._region].deployments[rollout.deployment_id]
        deployment.status = status
        if status == "InProgress":
            deployment.start_time = now
        elif status in ("Succeeded", "Failed", "Stopped"):
            deployment.complete_time = now
        group = rollout.group
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CodeDeploy Deployment State-change Notification",
            "source": "aws.codedeploy",
            "account": self._account,
            "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [
                f"arn:aws:codedeploy:{self._region}:{self._account}:application:{group.application}",
                f"arn:aws:codedeploy:{self._region}:{self._account}:deploymentgroup:{group.application}/{group.name}",
            ],
            "detail": {
                "account": self._account,
                "region": self._region,
                "deploymentId": rollout.deployment_id,
                "instanceGroupId": group.group_id,
                "deploymentGroup": group.name,
                "state": state,
                "application": group.application,
            },
        }
        self.events.append(event)
        self._put_event(event)

    def _forget_api_alarms(self, rollout: Rollout) -> None:
        """Stop evaluating the alarms this deployment brought (they may be deleted once it has ended)."""
        evaluator = self._alarms()
        for name in set(rollout.alarms) - set(rollout.group.alarms):
            evaluator.alarms.pop(name, None)


def _appspec(revision: dict[str, Any]) -> dict[str, Any]:
    if revision.get("revisionType") != "AppSpecContent":
        raise ValueError("Lambda deployments need an AppSpecContent revision")
    content = revision["appSpecContent"]["content"]
    return dict(json.loads(content))


def provisioners(context: ProvisioningContext, codedeploy: LocalCodeDeploy) -> Provisioners:
    return {
        "AWS::CodeDeploy::Application": lambda stack, logical_id, props: codedeploy.create_application(
            props.get("ApplicationName") or context.name(stack, logical_id, 100), props
        ),
        "AWS::CodeDeploy::DeploymentConfig": lambda stack, logical_id, props: codedeploy.create_config(
            props.get("DeploymentConfigName") or context.name(stack, logical_id, 100), props
        ),
        "AWS::CodeDeploy::DeploymentGroup": lambda stack, logical_id, props: codedeploy.create_group(
            props.get("DeploymentGroupName") or context.name(stack, logical_id, 100), props
        ),
    }
