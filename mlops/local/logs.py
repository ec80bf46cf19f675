"""CloudWatch Logs subscription filters, locally: a function's log lines that match reach their Firehose stream.

In AWS, every log event of a subscribed log group that matches the filter pattern is sent to the
destination (gzip-compressed batches of ``{"messageType": "DATA_MESSAGE", ..., "logEvents": [...]}``);
a Firehose stream then applies its processors: ``Decompression`` (GZIP) unpacks the batch,
``CloudWatchLogProcessing`` with ``DataMessageExtraction`` keeps only each event's message, and
``AppendDelimiterToRecord`` ends each record with a newline.

Locally, the in-process Lambda runtime hands each invocation's output to :meth:`LogSubscriptions.deliver`;
each line is one log event (Lambda's Text log format), and the lines that match are put to the
destination stream through moto's Firehose, shaped as that stream's processors would shape them
(moto runs no processors itself). Supported, and refused with a clear error at provisioning
otherwise: Firehose destinations, those three processors, and the filter-pattern syntax the
stack uses, a JSON property compared with ``=`` to a string or a number (``{ $.key = "value" }``).

:class:`LogFile` is where a person finds those logs: every function's log lines and every library's log
records (moto, botocore, warnings) in one file, so a command's own output can tell its story alone
(``mlops demo`` writes ``.mlops/demo.log``; ``--verbose`` also shows them).
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from mlops.local.assembly import AssemblyError
from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext

_JSON_EQUALS = re.compile(
    r'^\{\s*\$(?P<path>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*=\s*(?P<value>"[^"\\*]*"|-?\d+(?:\.\d+)?)\s*\}$'
)
_PROCESSORS = {"Decompression", "CloudWatchLogProcessing", "AppendDelimiterToRecord"}
_BATCH = 500  # PutRecordBatch's limit


@dataclass(frozen=True)
class FilterPattern:
    """``{ $.a.b = "value" }`` or ``{ $.a = 3 }``: a JSON object event whose property at ``path`` equals ``value``."""

    path: tuple[str, ...]
    value: str | float

    @classmethod
    def parse(cls, text: str, where: str) -> FilterPattern:
        found = _JSON_EQUALS.match(text.strip())
        if found is None:
            raise AssemblyError(
                f"{where}: filter pattern {text!r} is not emulated locally; only a JSON property compared "
                'with = to a string or number without wildcards is, e.g. { $.key = "value" }'
            )
        raw = found["value"]
        value: str | float = raw[1:-1] if raw.startswith('"') else float(raw)
        return cls(tuple(found["path"].split(".")[1:]), value)

    def matches(self, message: str) -> bool:
        if not message.startswith("{") or any(f'"{key}"' not in message for key in self.path):
            return False  # cheap refusals first: most lines are not JSON or lack the property
        try:
            node: Any = json.loads(message)
        except json.JSONDecodeError:
            return False
        for key in self.path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        if isinstance(self.value, str):
            return node == self.value
        return isinstance(node, int | float) and not isinstance(node, bool) and float(node) == self.value


@dataclass(frozen=True)
class FirehoseDelivery:
    """How one Firehose stream turns a CloudWatch Logs batch into records (its processors)."""

    stream: str
    decompress: bool
    extract_messages: bool
    delimiter: bool

    @classmethod
    def of_stream(cls, firehose: Any, stream: str, where: str) -> FirehoseDelivery:
        description = firehose.describe_delivery_stream(DeliveryStreamName=stream)["DeliveryStreamDescription"]
        destination = description["Destinations"][0].get("ExtendedS3DestinationDescription", {})
        processing = destination.get("ProcessingConfiguration") or {}
        processors = processing.get("Processors", []) if processing.get("Enabled") else []
        kinds = {
            p["Type"]: {q["ParameterName"]: q["ParameterValue"] for q in p.get("Parameters", [])} for p in processors
        }
        unknown = sorted(set(kinds) - _PROCESSORS)
        if unknown:
            raise AssemblyError(f"{where}: Firehose processor(s) {', '.join(unknown)} of {stream} are not emulated")
        if kinds.get("Decompression", {}).get("CompressionFormat", "GZIP") != "GZIP":
            raise AssemblyError(f"{where}: {stream} decompresses {kinds['Decompression']['CompressionFormat']}; "
                                "CloudWatch Logs sends GZIP")  # fmt: skip
        extract = kinds.get("CloudWatchLogProcessing", {}).get("DataMessageExtraction") == "true"
        if "CloudWatchLogProcessing" in kinds and ("Decompression" not in kinds or not extract):
            raise AssemblyError(f"{where}: {stream}: CloudWatchLogProcessing needs Decompression and "
                                "DataMessageExtraction=true (as Firehose requires)")  # fmt: skip
        return cls(stream, "Decompression" in kinds, extract, "AppendDelimiterToRecord" in kinds)

    def records(self, document: dict[str, Any]) -> list[bytes]:
        """The records Firehose stores for one CloudWatch Logs batch."""
        end = b"\n" if self.delimiter else b""
        if self.extract_messages:
            return [event["message"].encode() + end for event in document["logEvents"]]
        payload = json.dumps(document, separators=(",", ":")).encode()
        return [(payload if self.decompress else gzip.compress(payload)) + end]


@dataclass(frozen=True)
class SubscriptionFilter:
    name: str
    log_group: str
    pattern: FilterPattern
    delivery: FirehoseDelivery


class LogSubscriptions:
    """The template's ``AWS::Logs::SubscriptionFilter`` resources, applied to local functions' output."""

    def __init__(
        self, clients: Callable[[str], Any], *, account: str, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._clients = clients
        self._account = account
        self._clock = clock or (lambda: datetime.now(UTC))
        self.filters: list[SubscriptionFilter] = []
        self.delivered = 0  # log events delivered, for tests and the curious

    def add(self, name: str, props: dict[str, Any], where: str) -> SubscriptionFilter:
        """Register a filter from its (resolved) template properties; refuses what is not emulated."""
        destination = str(props["DestinationArn"])
        if ":firehose:" not in destination or ":deliverystream/" not in destination:
            raise AssemblyError(f"{where}: subscription destination {destination} is not emulated; only Firehose is")
        stream = destination.rsplit("/", 1)[1]
        subscription = SubscriptionFilter(
            name=name,
            log_group=str(props["LogGroupName"]),
            pattern=FilterPattern.parse(str(props.get("FilterPattern", "")), where),
            delivery=FirehoseDelivery.of_stream(self._clients("firehose"), stream, where),
        )
        self.filters.append(subscription)
        return subscription

    def deliver(self, log_group: str, log_stream: str, text: str) -> None:
        """One invocation's output (one log event per line) -> the matching filters' streams."""
        for subscription in self.filters:
            if subscription.log_group != log_group:
                continue
            now = int(self._clock().timestamp() * 1000)
            events = [
                {"id": uuid.uuid4().hex, "timestamp": now, "message": line}
                for line in text.splitlines()
                if subscription.pattern.matches(line)
            ]
            if not events:
                continue
            document = {
                "messageType": "DATA_MESSAGE",
                "owner": self._account,
                "logGroup": log_group,
                "logStream": log_stream,
                "subscriptionFilters": [subscription.name],
                "logEvents": events,
            }
            records = subscription.delivery.records(document)
            firehose = self._clients("firehose")
            for start in range(0, len(records), _BATCH):
                firehose.put_record_batch(
                    DeliveryStreamName=subscription.delivery.stream,
                    Records=[{"Data": data} for data in records[start : start + _BATCH]],
                )
            self.delivered += len(events)


class LogFile:
    """One file holding the local cloud's function logs and the libraries' log records, each line stamped.

    A function's lines are written as ``<time> <log group> <line>``, once its invocation ends (attach
    :meth:`function_output` to the runtime's ``log_listeners``); a library record as ``<time> <LEVEL> <logger>:
    <message>``. ``echo`` receives every line too (``--verbose``).
    """

    def __init__(self, stream: TextIO, *, echo: Callable[[str], None] | None = None) -> None:
        self._stream = stream
        self._echo = echo
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, line: str) -> None:
        """One entry (a record may span lines: a traceback, a warning with its source line)."""
        line = line.rstrip()
        with self._lock:
            self._stream.write(f"{line}\n")
            self._stream.flush()
            self.lines += 1
        if self._echo is not None:
            self._echo(line)

    def function_output(self, log_group: str, log_stream: str, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        for line in text.splitlines():
            if line.strip():
                self.write(f"{stamp} {log_group} {line}")


class _ToLogFile(logging.Handler):
    def __init__(self, log: LogFile) -> None:
        super().__init__(logging.DEBUG)
        self.log = log
        self.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.write(self.format(record))
        except Exception:  # logging's contract: a failing handler reports through handleError, never raises
            self.handleError(record)


@contextmanager
def log_to_file(path: Path, *, echo: Callable[[str], None] | None = None) -> Iterator[LogFile]:
    """Route every library's log records and warnings to ``path`` (replaced) until the block ends.

    The root logger gets the file as a handler and INFO as its level, so nothing reaches Python's
    last-resort stderr handler; records a filter demoted to DEBUG (``moto_patches.quiet_moto_logs``)
    are kept in the file with the reason they are not failures.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with path.open("w", encoding="utf-8") as stream:
        log = LogFile(stream, echo=echo)
        handler = _ToLogFile(log)
        level = root.level
        root.addHandler(handler)
        root.setLevel(min(level, logging.INFO) if level else logging.INFO)
        logging.captureWarnings(True)
        try:
            yield log
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(level)


# -- provisioners: log groups, their subscription filters and the Firehose streams they feed ----------------
def provisioners(context: ProvisioningContext, subscriptions: LogSubscriptions) -> Provisioners:
    return {
        "AWS::Logs::LogGroup": partial(_log_group, context),
        "AWS::Logs::SubscriptionFilter": partial(_subscription_filter, context, subscriptions),
        "AWS::KinesisFirehose::DeliveryStream": partial(_firehose_stream, context),
    }


def _log_group(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    logs = context.client("logs")
    name = props.get("LogGroupName") or context.name(stack, logical_id, 512)
    logs.create_log_group(logGroupName=name, **({"kmsKeyId": props["KmsKeyId"]} if "KmsKeyId" in props else {}))
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    return PhysicalResource(name, {"Arn": f"arn:aws:logs:{context.region}:{context.account}:log-group:{name}:*"})


def _subscription_filter(
    context: ProvisioningContext, subscriptions: LogSubscriptions, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    name = props.get("FilterName") or context.name(stack, logical_id, 512)
    subscriptions.add(name, props, f"{stack}/{logical_id}")
    context.notes.append(
        f"{stack}/{logical_id}: matching log lines are delivered when the invocation ends; "
        "AWS delivers within seconds to minutes"
    )
    return PhysicalResource(name)


def _firehose_stream(
    context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    name = props.get("DeliveryStreamName") or context.name(stack, logical_id, 64)
    destination = props.get("ExtendedS3DestinationConfiguration")
    if destination is None:
        raise AssemblyError(f"{stack}/{logical_id}: only S3 destinations are emulated for Firehose")
    arn = context.client("firehose").create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType=props.get("DeliveryStreamType", "DirectPut"),
        ExtendedS3DestinationConfiguration=destination,
    )["DeliveryStreamARN"]
    context.notes.append(
        f"{stack}/{logical_id}: Firehose writes each PutRecordBatch as its own object at once; "
        "AWS buffers per BufferingHints"
    )
    return PhysicalResource(name, {"Arn": arn})
