"""EventBridge Scheduler for the local cloud: ``AWS::Scheduler::Schedule`` fired by the router's clock.

A schedule is created in moto (so ``get_schedule`` answers) and registered
here. It fires on demand (``fire``) or when ``EventRouter.advance_clock``
passes one of its times (``rate()``/``cron()`` evaluated as for rules, in
UTC). Firing sends the target ``Input`` with Scheduler's context attributes
(``<aws.scheduler.scheduled-time>`` and friends) substituted, retries up to
the target's ``RetryPolicy.MaximumRetryAttempts`` and then sends the input to
the target's dead-letter queue with Scheduler's message attributes.
Lambda, Step Functions and SNS targets are delivered; others are reported.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from mlops.local.events import Delivery, EventRouter, firings
from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext

_DELIVERED = ("lambda", "states", "sns")


@dataclass(frozen=True)
class LocalSchedule:
    name: str
    arn: str
    expression: str
    timezone: str
    target: dict[str, Any]
    enabled: bool


class LocalScheduler:
    def __init__(self, *, clients: Callable[[str], Any], router: EventRouter, account: str, region: str) -> None:
        self._clients = clients
        self._router = router
        self._account = account
        self._region = region
        self.schedules: dict[str, LocalSchedule] = {}
        router.schedule_sources.append(self)

    def provision(self, name: str, props: dict[str, Any]) -> LocalSchedule:
        timezone = props.get("ScheduleExpressionTimezone", "UTC")
        if timezone not in ("UTC", "Etc/UTC"):
            raise ValueError(f"schedule {name}: time zone {timezone!r} is not supported locally (UTC only)")
        group = props.get("GroupName", "default")
        kwargs: dict[str, Any] = {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": props["ScheduleExpression"],
            "FlexibleTimeWindow": props.get("FlexibleTimeWindow", {"Mode": "OFF"}),
            "Target": {k: v for k, v in props["Target"].items() if k in ("Arn", "RoleArn", "Input", "RetryPolicy")},
            "State": props.get("State", "ENABLED"),
        }
        arn = self._clients("scheduler").create_schedule(**kwargs)["ScheduleArn"]
        schedule = LocalSchedule(
            name=name,
            arn=arn,
            expression=props["ScheduleExpression"],
            timezone=timezone,
            target=props["Target"],
            enabled=props.get("State", "ENABLED") == "ENABLED",
        )
        self.schedules[name] = schedule
        return schedule

    # -- the router's clock asks these two -------------------------------------
    def due(self, after: datetime, until: datetime) -> list[tuple[datetime, str]]:
        return [
            (t, name)
            for name, schedule in self.schedules.items()
            if schedule.enabled
            for t in firings(schedule.expression, after, until)
        ]

    def fire(self, name: str, at: datetime | None = None) -> list[Delivery]:
        """Fire schedule ``name`` now (the router's clock) or as if at ``at``."""
        schedule = self.schedules[name]
        at = (at or self._router.clock).astimezone(UTC)
        execution_id = str(uuid.uuid4())
        target = schedule.target
        arn = target["Arn"]
        service = arn.split(":")[2]
        max_attempts = 1 + int(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 185))
        attempts, error = 0, ""
        while attempts < max_attempts:
            attempts += 1
            body = _render(target.get("Input", "{}"), schedule, at, execution_id, attempts)
            try:
                if service not in _DELIVERED:
                    raise ValueError(f"target service {service!r} is not emulated by the local scheduler")
                result = self._router._send(service, arn, body)
                delivery = Delivery(f"schedule/{name}", arn, execution_id, True, attempts, result)
                self._router.deliveries.append(delivery)
                return [delivery]
            except Exception as exc:  # recorded on the delivery and dead-lettered, as Scheduler does
                error = f"{type(exc).__name__}: {exc}"
        dlq = target.get("DeadLetterConfig", {}).get("Arn")
        if dlq:
            sqs = self._clients("sqs")
            url = sqs.get_queue_url(QueueName=dlq.split(":")[-1])["QueueUrl"]
            sqs.send_message(
                QueueUrl=url,
                MessageBody=_render(target.get("Input", "{}"), schedule, at, execution_id, attempts),
                MessageAttributes={
                    "SCHEDULE_ARN": {"DataType": "String", "StringValue": schedule.arn},
                    "TARGET_ARN": {"DataType": "String", "StringValue": arn},
                    "EXECUTION_ID": {"DataType": "String", "StringValue": execution_id},
                    "ERROR_CODE": {"DataType": "String", "StringValue": error.split(":", 1)[0]},
                    "ERROR_MESSAGE": {"DataType": "String", "StringValue": error[:1000]},
                },
            )
        delivery = Delivery(f"schedule/{name}", arn, execution_id, False, attempts, error, dlq)
        self._router.deliveries.append(delivery)
        return [delivery]


def _render(template: str, schedule: LocalSchedule, at: datetime, execution_id: str, attempt: int) -> str:
    values = {
        "<aws.scheduler.schedule-arn>": schedule.arn,
        "<aws.scheduler.scheduled-time>": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": execution_id,
        "<aws.scheduler.attempt-number>": str(attempt),
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    json.loads(template)  # Scheduler sends the text as is; it must still be the JSON the template gave
    return template


def provisioners(context: ProvisioningContext, scheduler: LocalScheduler) -> Provisioners:
    return {"AWS::Scheduler::Schedule": partial(_schedule, context, scheduler)}


def _schedule(
    context: ProvisioningContext, scheduler: LocalScheduler, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    name = props.get("Name") or context.name(stack, logical_id, 64)
    schedule = scheduler.provision(name, props)
    return PhysicalResource(name, {"Arn": schedule.arn})
