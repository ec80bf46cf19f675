"""EventBridge for the local cloud: delivery to Step Functions, Lambda and SNS; schedules.

moto matches events against rules (its own pattern matcher) and delivers to
SQS, log groups and buses, but not to Step Functions or Lambda targets. The
local cloud wraps moto's ``Rule.send_to_targets`` so that, after moto's own
delivery, matching rules also reach those targets — whether the event came
from ``PutEvents`` in a handler, an alarm state change, or a schedule.
Target input (``Input``, ``InputPath``, ``InputTransformer``), retries and
the target's dead-letter queue behave as in AWS; every delivery is recorded.

Schedules fire on demand (``fire_schedule``) or by a local clock
(``advance_clock``) that evaluates each rule's ``rate()``/``cron()``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from croniter import croniter
from jsonpath_ng.ext import parse as jsonpath_parse
from moto.events.models import Rule, events_backends

from mlops.local import moto_patches
from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_OWN_TARGETS = ("states", "lambda", "sns")
_MOTO_TARGETS = ("sqs", "logs", "events")


@dataclass(frozen=True)
class Delivery:
    """One attempt-chain of delivering an event to a target."""

    rule: str
    target_arn: str
    event_id: str
    ok: bool
    attempts: int
    result: str
    dead_lettered_to: str | None = None


def _service(target: dict[str, Any]) -> str:
    return str(target["Arn"].split(":")[2])


def _rule_matches(rule: Rule, event: dict[str, Any]) -> bool:
    """A scheduled rule receives only its own schedule's events; its empty pattern must not match the rest."""
    if rule.scheduled_expression:
        return event.get("detail-type") == "Scheduled Event" and rule.arn in event.get("resources", [])
    return bool(rule.event_pattern.matches_event(event))


def cron_to_croniter(expression: str) -> str:
    """AWS ``cron(min hour dom month dow year)`` to a 5-field cron croniter understands."""
    fields = expression.split()
    if len(fields) != 6:
        raise ValueError(f"cron expression {expression!r} must have 6 fields")
    minute, hour, dom, month, dow, year = fields
    if year not in ("*", "?"):
        raise ValueError(f"cron expression {expression!r}: a year field other than * is not supported locally")
    dom = "*" if dom == "?" else dom
    if dow == "?":
        dow = "*"
    else:
        # AWS numbers days 1-7 from Sunday; cron numbers them 0-6.
        dow = re.sub(r"\d", lambda m: str(int(m.group(0)) - 1), dow)
    return f"{minute} {hour} {dom} {month} {dow}"


def firings(schedule: str, after: datetime, until: datetime) -> list[datetime]:
    """Times in ``(after, until]`` at which ``schedule`` fires."""
    rate = _RATE.match(schedule)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        step = timedelta(**{f"{unit}s": amount})
        times, t = [], after + step
        while t <= until:
            times.append(t)
            t += step
        return times
    if schedule.startswith("cron(") and schedule.endswith(")"):
        iterator = croniter(cron_to_croniter(schedule[5:-1]), after)
        times = []
        while True:
            t = iterator.get_next(datetime)
            if t > until:
                return times
            times.append(t)
    raise ValueError(f"unsupported schedule expression {schedule!r}")


class EventRouter:
    def __init__(self, *, clients: Callable[[str], Any], account: str, region: str, now: datetime) -> None:
        self._clients = clients
        self._account = account
        self._region = region
        self.clock = now
        self.deliveries: list[Delivery] = []
        # Called with the new time after each advance_clock (e.g. CodeDeploy's canary clock).
        self.tickers: list[Callable[[datetime], Any]] = []
        # Other schedulers on this clock (EventBridge Scheduler): ``due(after, until)`` and ``fire(name, at)``.
        self.schedule_sources: list[Any] = []

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Wrap moto's rule delivery for the lifetime of the local cloud."""
        original = moto_patches.original("events.deliver_targets")
        router = self

        def send_to_targets(rule: Rule, event: dict[str, Any], transform_input: bool = True) -> None:
            everything = rule.targets
            theirs = [t for t in everything if _service(t) not in _OWN_TARGETS]
            if theirs:
                # moto transforms input for every target it sees, so it sees only its own.
                rule.targets = theirs
                try:
                    original(rule, {"ingestion-time": event.get("time"), **event}, transform_input)
                finally:
                    rule.targets = everything
            if rule.state == "ENABLED" and _rule_matches(rule, event):
                router.deliver(rule, event)

        with moto_patches.patched({"events.deliver_targets": send_to_targets}):
            yield

    def _rules(self) -> list[Rule]:
        backend = events_backends[self._account][self._region]
        return [rule for bus in backend.event_buses.values() for rule in bus.rules.values()]

    def rule(self, name: str) -> Rule:
        for rule in self._rules():
            if rule.name == name:
                return rule
        raise KeyError(f"no EventBridge rule named {name!r}")

    def put_event(self, event: dict[str, Any]) -> None:
        """Route an AWS-shaped event (e.g. an alarm state change) through the default bus's rules."""
        backend = events_backends[self._account][self._region]
        for rule in list(backend.event_buses["default"].rules.values()):
            rule.send_to_targets(event)

    def fire_schedule(self, rule_name: str, at: datetime | None = None) -> list[Delivery]:
        """Fire a scheduled rule now (or as if at ``at``), as EventBridge does on schedule."""
        rule = self.rule(rule_name)
        if not rule.scheduled_expression:
            raise ValueError(f"rule {rule_name!r} has no schedule")
        at = at or self.clock
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account,
            "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [rule.arn],
            "detail": {},
        }
        before = len(self.deliveries)
        rule.send_to_targets(event)
        return self.deliveries[before:]

    def advance_clock(self, until: datetime) -> list[Delivery]:
        """Move the local clock, firing every enabled schedule that comes due on the way."""
        due: list[tuple[datetime, str]] = []
        for rule in self._rules():
            if rule.scheduled_expression and rule.state == "ENABLED":
                due.extend((t, rule.name) for t in firings(rule.scheduled_expression, self.clock, until))
        sources = [(t, name, source) for source in self.schedule_sources for t, name in source.due(self.clock, until)]
        before = len(self.deliveries)
        for at, name, source in sorted([(t, n, None) for t, n in due] + sources, key=lambda d: (d[0], d[1])):
            if source is None:
                self.fire_schedule(name, at)
            else:
                source.fire(name, at)
        self.clock = until
        for ticker in self.tickers:
            ticker(until)
        return self.deliveries[before:]

    def deliver(self, rule: Rule, event: dict[str, Any]) -> None:
        for target in rule.targets:
            service = _service(target)
            if service in _OWN_TARGETS:
                self.deliveries.append(self._deliver_one(rule, target, event, service))
            elif service not in _MOTO_TARGETS:
                self.deliveries.append(
                    Delivery(
                        rule.name,
                        target["Arn"],
                        event["id"],
                        False,
                        0,
                        f"target service {service!r} is not emulated by the local cloud",
                    )
                )

    def _deliver_one(self, rule: Rule, target: dict[str, Any], event: dict[str, Any], service: str) -> Delivery:
        attempts, error = 0, ""
        max_attempts = 1 + int(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 0))
        while attempts < max_attempts:
            attempts += 1
            try:
                payload = target_input(target, event)
                result = self._send(service, target["Arn"], payload)
                return Delivery(rule.name, target["Arn"], event["id"], True, attempts, result)
            except Exception as exc:  # recorded on the delivery and dead-lettered, as EventBridge does
                error = f"{type(exc).__name__}: {exc}"
        dlq = target.get("DeadLetterConfig", {}).get("Arn")
        if dlq:
            queue_name = dlq.split(":")[-1]
            sqs = self._clients("sqs")
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            sqs.send_message(
                QueueUrl=url,
                MessageBody=json.dumps(event),
                MessageAttributes={
                    "RULE_ARN": {"DataType": "String", "StringValue": rule.arn},
                    "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
                    "ERROR_CODE": {"DataType": "String", "StringValue": error.split(":", 1)[0]},
                    "ERROR_MESSAGE": {"DataType": "String", "StringValue": error[:1000]},
                },
            )
        return Delivery(rule.name, target["Arn"], event["id"], False, attempts, error, dlq)

    def _send(self, service: str, arn: str, payload: Any) -> str:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        if service == "states":
            execution = self._clients("stepfunctions").start_execution(stateMachineArn=arn, input=body)
            return str(execution["executionArn"])
        if service == "lambda":
            response = self._clients("lambda").invoke(FunctionName=arn, InvocationType="Event", Payload=body)
            if response.get("FunctionError"):
                raise RuntimeError(f"function error: {response['Payload'].read().decode()[:500]}")
            return f"invoked {arn}"
        if service == "sns":
            message = self._clients("sns").publish(TopicArn=arn, Message=body)
            return str(message["MessageId"])
        raise ValueError(f"target service {service!r} is not emulated by the local cloud")


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What EventBridge sends the target: ``Input``, ``InputPath``, ``InputTransformer`` or the event."""
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        node: Any = event
        path = target["InputPath"]
        if path != "$":
            for part in path.removeprefix("$.").split("."):
                node = node[part]
        return node
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        return transform_input(
            transformer.get("InputTemplate", "<aws.events.event.json>"), transformer.get("InputPathsMap", {}), event
        )
    return event


def transform_input(template: str, paths: dict[str, str], event: dict[str, Any]) -> Any:
    """EventBridge's input transformer.

    A placeholder outside a JSON string is replaced by the JSON of its value
    (strings get quotes); inside a string, by the bare text. A path that
    matches nothing yields ``null``. The result is parsed when it is JSON.
    """
    values: dict[str, Any] = {"aws.events.event.json": event, "aws.events.event.ingestion-time": event.get("time")}
    for name, path in paths.items():
        matches = jsonpath_parse(path).find(event)
        values[name] = matches[0].value if matches else None
    out: list[str] = []
    in_string = escaped = False
    i = 0
    while i < len(template):
        char = template[i]
        if char == "<":
            end = template.find(">", i)
            name = template[i + 1 : end] if end > 0 else ""
            if name in values:
                value = values[name]
                if in_string:
                    text = value if isinstance(value, str) else json.dumps(value)
                    out.append(json.dumps(text)[1:-1])
                else:
                    out.append(json.dumps(value))
                i = end + 1
                continue
        if char == '"' and not escaped:
            in_string = not in_string
        escaped = char == "\\" and not escaped
        out.append(char)
        i += 1
    rendered = "".join(out)
    try:
        return json.loads(rendered)
    except json.JSONDecodeError:
        return rendered


# -- provisioner: a rule in moto, which the router reads its pattern, schedule and targets from -------------
def provisioners(context: ProvisioningContext) -> Provisioners:
    return {"AWS::Events::Rule": partial(_events_rule, context)}


def _events_rule(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    events = context.client("events")
    name = props.get("Name") or context.name(stack, logical_id, 64)
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
