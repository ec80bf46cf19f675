"""AWS side of a model rollout: the serving function's versions, the canary alarms, CodeDeploy.

Nothing here leaves CloudFormation-managed configuration changed: the stack's function (``$LATEST``),
its alias's definition and its alarms read after a rollout as the template wrote them.

- The model a published function version serves is pinned in *that version's* environment
  (``MLOPS_MODEL_VERSION``), immutable once published. A version already published from the
  current code and configuration with that pin is reused; otherwise the pin is set on ``$LATEST``
  only for the one ``PublishVersion`` that needs it (Lambda publishes nothing new while code and
  configuration are unchanged) and taken off again at once, guarded by the revision id so a
  concurrent ``cdk deploy`` is never overwritten.
- The stack's canary alarms are definitions: each rollout gets copies bound to its model version
  (``<alarm>-model-<version>``), passed to its deployment alone (``overrideAlarmConfiguration``)
  and deleted when it ends. The stack's alarms are never re-pointed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from functions.rollout.canary import RolloutContext
from functions.rollout.reconcile import ActiveRollout
from functions.shared.aws_errors import storage_error
from functions.shared.errors import RolloutError
from functions.shared.events import put_event
from functions.shared.settings import MODEL_VERSION

# describe_alarms fields that put_metric_alarm takes back unchanged.
_ALARM_FIELDS = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)
# What makes two published versions run the same: the configuration fields compared besides the pin.
_SAME_RUN = ("CodeSha256", "MemorySize", "Timeout", "Role", "Handler", "ImageConfigResponse")
# The outcome recorder's event once a rollout has ended and been recorded: the deployer runs again on it.
ROLLOUT_SOURCE = "mlops.rollout"
ROLLOUT_ENDED = "Model Rollout Ended"
# CodeDeploy's statuses of a deployment that has not ended.
ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")


class DeploymentInProgress(RolloutError):
    """CodeDeploy refused a deployment: the group already runs one."""


@dataclass(frozen=True)
class LiveAlias:
    """What alias ``live`` serves: its function version, that version's pinned model (None: unpinned), its split."""

    function_version: str
    model_version: int | None
    splitting: bool


def pinned_model(config: dict[str, Any]) -> int | None:
    pinned = _variables(config).get(MODEL_VERSION)
    return int(pinned) if pinned else None


def _variables(config: dict[str, Any]) -> dict[str, str]:
    return dict((config.get("Environment") or {}).get("Variables") or {})


class ServingFunction:
    """The inference function and its serving alias."""

    def __init__(self, lambda_client: Any, function_name: str, alias: str) -> None:
        self._lambda = lambda_client
        self.name = function_name
        self.alias = alias

    def live(self) -> LiveAlias:
        try:
            alias = self._lambda.get_alias(FunctionName=self.name, Name=self.alias)
            version = alias["FunctionVersion"]
            config = self._lambda.get_function_configuration(FunctionName=self.name, Qualifier=version)
        except ClientError as exc:
            raise storage_error(exc, f"reading alias {self.alias} of {self.name}") from exc
        splitting = bool((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"))
        return LiveAlias(version, pinned_model(config), splitting)

    def version_pinned_to(self, model_name: str, model_version: int) -> str:
        """A published version serving ``model_version`` with the current code and configuration."""
        try:
            latest = self._lambda.get_function_configuration(FunctionName=self.name)
            base = {k: v for k, v in _variables(latest).items() if k != MODEL_VERSION}
            existing = self._published_like(latest, base, model_version)
            if existing is not None:
                return existing
            return self._publish_with_pin(model_name, model_version, latest, base)
        except ClientError as exc:
            raise storage_error(exc, f"publishing {self.name} pinned to {model_name} v{model_version}") from exc

    def _published_like(self, latest: dict[str, Any], base: dict[str, str], model_version: int) -> str | None:
        wanted = {**base, MODEL_VERSION: str(model_version)}
        found = [
            version
            for page in self._lambda.get_paginator("list_versions_by_function").paginate(FunctionName=self.name)
            for version in page["Versions"]
            if version["Version"] != "$LATEST"
            and _variables(version) == wanted
            and all(version.get(key) == latest.get(key) for key in _SAME_RUN)
        ]
        return str(max(found, key=lambda v: int(v["Version"]))["Version"]) if found else None

    def _publish_with_pin(
        self, model_name: str, model_version: int, latest: dict[str, Any], base: dict[str, str]
    ) -> str:
        pinned = {**base, MODEL_VERSION: str(model_version)}
        self._lambda.update_function_configuration(
            FunctionName=self.name, Environment={"Variables": pinned}, **_revision(latest)
        )
        self._lambda.get_waiter("function_updated_v2").wait(FunctionName=self.name)
        try:
            updated = self._lambda.get_function_configuration(FunctionName=self.name)
            if _variables(updated) != pinned:
                raise RolloutError(f"{self.name} changed while a version pinned to v{model_version} was published")
            published = self._lambda.publish_version(
                FunctionName=self.name, Description=f"{model_name} model version {model_version}", **_revision(updated)
            )
        finally:
            self._unpin(pinned, base)
        if pinned_model(published) != model_version:
            raise RolloutError(
                f"{self.name}: the published version {published['Version']} is not pinned to v{model_version}"
            )
        return str(published["Version"])

    def _unpin(self, pinned: dict[str, str], base: dict[str, str]) -> None:
        """Give ``$LATEST`` its stack configuration back, unless someone (a deploy) changed it meanwhile."""
        current = self._lambda.get_function_configuration(FunctionName=self.name)
        if _variables(current) == pinned:
            self._lambda.update_function_configuration(
                FunctionName=self.name, Environment={"Variables": base}, **_revision(current)
            )
            self._lambda.get_waiter("function_updated_v2").wait(FunctionName=self.name)

    def invoke(self, version: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke one version directly (not through the alias) and return its answer."""
        try:
            response = self._lambda.invoke(FunctionName=self.name, Qualifier=version, Payload=json.dumps(event))
        except ClientError as exc:
            raise storage_error(exc, f"invoking {self.name}:{version}") from exc
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            return {"statusCode": 0, "body": json.dumps(payload)}
        return dict(payload)


def _revision(config: dict[str, Any]) -> dict[str, str]:
    return {"RevisionId": config["RevisionId"]} if config.get("RevisionId") else {}


def model_alarm_name(alarm: str, model_version: int) -> str:
    """The name of the copy of the stack's canary alarm ``alarm`` that watches one model version."""
    return f"{alarm}-model-{model_version}"


class CanaryAlarms:
    """The stack's canary alarm definitions and their per-rollout copies."""

    def __init__(self, cloudwatch_client: Any, definitions: tuple[str, ...], dimension: str) -> None:
        self._cloudwatch = cloudwatch_client
        self._definitions = definitions
        self._dimension = dimension

    def for_model(self, model_version: int) -> tuple[str, ...]:
        """Put (create or update) the copies watching ``model_version``'s metrics; returns their names."""
        try:
            alarms = self._cloudwatch.describe_alarms(AlarmNames=list(self._definitions))["MetricAlarms"]
            missing = sorted(set(self._definitions) - {alarm["AlarmName"] for alarm in alarms})
            if missing:
                raise RolloutError(f"canary alarms not found: {', '.join(missing)}")
            names = []
            for alarm in sorted(alarms, key=lambda a: self._definitions.index(a["AlarmName"])):
                definition = {key: alarm[key] for key in _ALARM_FIELDS if alarm.get(key) not in (None, "")}
                others = [d for d in alarm.get("Dimensions", []) if d["Name"] != self._dimension]
                name = model_alarm_name(alarm["AlarmName"], model_version)
                self._cloudwatch.put_metric_alarm(
                    AlarmName=name,
                    Dimensions=[*others, {"Name": self._dimension, "Value": str(model_version)}],
                    **definition,
                )
                names.append(name)
        except ClientError as exc:
            raise storage_error(exc, f"putting the canary alarms of model version {model_version}") from exc
        return tuple(names)

    def remove(self, model_version: int) -> None:
        names = [model_alarm_name(alarm, model_version) for alarm in self._definitions]
        try:
            self._cloudwatch.delete_alarms(AlarmNames=names)
        except ClientError as exc:
            raise storage_error(exc, f"deleting the canary alarms of model version {model_version}") from exc


class Deployments:
    """CodeDeploy deployments of the serving alias."""

    def __init__(self, codedeploy_client: Any) -> None:
        self._codedeploy = codedeploy_client

    def create(
        self,
        *,
        application: str,
        group: str,
        appspec: dict[str, Any],
        description: str,
        alarms: tuple[str, ...],
        all_at_once: bool = False,
    ) -> str:
        """Start a deployment watched by ``alarms`` (none: not watched), canary per the group, or all at once."""
        extra: dict[str, Any] = {
            "overrideAlarmConfiguration": {"enabled": bool(alarms), "alarms": [{"name": name} for name in alarms]}
        }
        if all_at_once:
            # An operator's rollback: every request to the version rolled back to, no alarm can stop it.
            extra["deploymentConfigName"] = "CodeDeployDefault.LambdaAllAtOnce"
            extra["autoRollbackConfiguration"] = {"enabled": False}
        try:
            response = self._codedeploy.create_deployment(
                applicationName=application,
                deploymentGroupName=group,
                revision={
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {"content": json.dumps(appspec)},
                },
                description=description,
                **extra,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "DeploymentLimitExceededException":
                # Another run of the deployer (or CloudFormation) started one since this run looked.
                raise DeploymentInProgress(f"{application}/{group}: {exc.response['Error'].get('Message')}") from exc
            raise storage_error(exc, f"creating a deployment in {application}/{group}") from exc
        return str(response["deploymentId"])

    def active(self, *, application: str, group: str) -> ActiveRollout | None:
        """The group's deployment that has not ended, if any (CodeDeploy runs one at a time per group).

        One not started by the deployer (CloudFormation shifting ``live`` to a version ``cdk deploy``
        published) has no rollout context: its model version is None.
        """
        try:
            pages = self._codedeploy.get_paginator("list_deployments").paginate(
                applicationName=application, deploymentGroupName=group, includeOnlyStatuses=list(ACTIVE_STATUSES)
            )
            ids = sorted(deployment_id for page in pages for deployment_id in page["deployments"])
        except ClientError as exc:
            raise storage_error(exc, f"listing the deployments in progress in {application}/{group}") from exc
        if not ids:
            return None
        try:
            rollout = RolloutContext.from_description(self.describe(ids[0]).get("description"))
        except RolloutError:
            return ActiveRollout(ids[0], None, None)
        return ActiveRollout(ids[0], rollout.model_version, rollout.previous_model_version)

    def describe(self, deployment_id: str) -> dict[str, Any]:
        try:
            return dict(self._codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"])
        except ClientError as exc:
            raise storage_error(exc, f"reading deployment {deployment_id}") from exc

    def stop(self, deployment_id: str) -> str:
        """Stop a deployment and point the alias back at the version it shifted from; returns CodeDeploy's status."""
        try:
            response = self._codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        except ClientError as exc:
            raise storage_error(exc, f"stopping deployment {deployment_id}") from exc
        return str(response.get("status", ""))

    def report_hook(self, deployment_id: str, execution_id: str, *, succeeded: bool) -> None:
        try:
            self._codedeploy.put_lifecycle_event_hook_execution_status(
                deploymentId=deployment_id,
                lifecycleEventHookExecutionId=execution_id,
                status="Succeeded" if succeeded else "Failed",
            )
        except ClientError as exc:
            raise storage_error(exc, f"reporting hook {execution_id} of deployment {deployment_id}") from exc


def announce_rollout_end(
    events_client: Any, *, model_name: str, deployment_id: str, status: str, served_version: int | None
) -> str:
    """Put "Model Rollout Ended" on the default bus; returns the event id. A refused entry is an error."""
    detail = {
        "model_name": model_name,
        "deployment_id": deployment_id,
        "status": status,
        "served_version": served_version,
    }
    return put_event(
        events_client, source=ROLLOUT_SOURCE, detail_type=ROLLOUT_ENDED, detail=detail,
        doing=f"announcing the end of deployment {deployment_id}",
    )  # fmt: skip
