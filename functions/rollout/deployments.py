"""AWS side of a model rollout: the serving function's versions, the canary alarms, CodeDeploy."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws_errors import storage_error
from functions.shared.errors import RolloutError
from functions.shared.settings import MODEL_VERSION

# describe_alarms fields that put_metric_alarm takes back unchanged.
_ALARM_FIELDS = (
    "AlarmName",
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


class ServingFunction:
    """The inference function and its serving alias."""

    def __init__(self, lambda_client: Any, function_name: str, alias: str) -> None:
        self._lambda = lambda_client
        self.name = function_name
        self.alias = alias

    def live_version(self) -> tuple[str, int | None]:
        """(function version the alias serves, model version pinned in it or None)."""
        try:
            alias = self._lambda.get_alias(FunctionName=self.name, Name=self.alias)
            if (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
                raise RolloutError(f"alias {self.alias} of {self.name} is splitting traffic: a rollout is in progress")
            version = alias["FunctionVersion"]
            config = self._lambda.get_function_configuration(FunctionName=self.name, Qualifier=version)
        except ClientError as exc:
            raise storage_error(exc, f"reading alias {self.alias} of {self.name}") from exc
        pinned = (config.get("Environment") or {}).get("Variables", {}).get(MODEL_VERSION)
        return version, int(pinned) if pinned else None

    def publish_pinned(self, model_name: str, model_version: int) -> str:
        """Publish a function version whose environment pins ``model_version``; returns the version."""
        try:
            config = self._lambda.get_function_configuration(FunctionName=self.name)
            variables = {**(config.get("Environment") or {}).get("Variables", {}), MODEL_VERSION: str(model_version)}
            self._lambda.update_function_configuration(FunctionName=self.name, Environment={"Variables": variables})
            self._lambda.get_waiter("function_updated_v2").wait(FunctionName=self.name)
            published = self._lambda.publish_version(
                FunctionName=self.name, Description=f"{model_name} model version {model_version}"
            )
        except ClientError as exc:
            raise storage_error(exc, f"publishing {self.name} pinned to {model_name} v{model_version}") from exc
        return str(published["Version"])

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


def point_alarms_at(cloudwatch_client: Any, alarm_names: tuple[str, ...], dimension: str, value: str) -> None:
    """Re-point the canary alarms at the metrics of one model version (the ``dimension`` value)."""
    try:
        alarms = cloudwatch_client.describe_alarms(AlarmNames=list(alarm_names))["MetricAlarms"]
        found = {alarm["AlarmName"] for alarm in alarms}
        missing = sorted(set(alarm_names) - found)
        if missing:
            raise RolloutError(f"canary alarms not found: {', '.join(missing)}")
        for alarm in alarms:
            definition = {key: alarm[key] for key in _ALARM_FIELDS if alarm.get(key) not in (None, "")}
            others = [d for d in alarm.get("Dimensions", []) if d["Name"] != dimension]
            definition["Dimensions"] = [*others, {"Name": dimension, "Value": value}]
            cloudwatch_client.put_metric_alarm(**definition)
    except ClientError as exc:
        raise storage_error(exc, f"pointing canary alarms at {dimension}={value}") from exc


class Deployments:
    """CodeDeploy deployments of the serving alias."""

    def __init__(self, codedeploy_client: Any) -> None:
        self._codedeploy = codedeploy_client

    def create(self, *, application: str, group: str, appspec: dict[str, Any], description: str) -> str:
        try:
            response = self._codedeploy.create_deployment(
                applicationName=application,
                deploymentGroupName=group,
                revision={
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {"content": json.dumps(appspec)},
                },
                description=description,
            )
        except ClientError as exc:
            raise storage_error(exc, f"creating a deployment in {application}/{group}") from exc
        return str(response["deploymentId"])

    def describe(self, deployment_id: str) -> dict[str, Any]:
        try:
            return dict(self._codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"])
        except ClientError as exc:
            raise storage_error(exc, f"reading deployment {deployment_id}") from exc

    def report_hook(self, deployment_id: str, execution_id: str, *, succeeded: bool) -> None:
        try:
            self._codedeploy.put_lifecycle_event_hook_execution_status(
                deploymentId=deployment_id,
                lifecycleEventHookExecutionId=execution_id,
                status="Succeeded" if succeeded else "Failed",
            )
        except ClientError as exc:
            raise storage_error(exc, f"reporting hook {execution_id} of deployment {deployment_id}") from exc
