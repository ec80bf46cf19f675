"""Put one event on the default EventBridge bus, refusals included in the errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws_errors import storage_error
from functions.shared.errors import StorageError


def put_event(events_client: Any, *, source: str, detail_type: str, detail: Mapping[str, Any], doing: str) -> str:
    """Put the event; returns its id. A refused entry is an error (naming ``doing``), not a silent miss."""
    try:
        response = events_client.put_events(
            Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(dict(detail))}]
        )
    except ClientError as exc:
        raise storage_error(exc, doing) from exc
    entry = response["Entries"][0]
    if response.get("FailedEntryCount") or "EventId" not in entry:
        raise StorageError(
            f"EventBridge refused the event ({doing}): {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
        )
    return str(entry["EventId"])
