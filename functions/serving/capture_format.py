"""The capture line: the shape in which the inference function logs its predictions, pure.

One line per request (or several, when a request's records would pass CloudWatch Logs' event
limit), a JSON object with a fixed marker and the request's capture records::

    {"mlops_capture": "v1", "records": [<capture record>, ...]}

The inference log group's subscription filter selects these lines by the marker
(``CAPTURE_FILTER_PATTERN``); monitoring reads them back from the Captures bucket
(``functions/monitoring/captures.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CAPTURE_MARKER = "mlops_capture"
CAPTURE_SHAPE = "v1"
# The subscription filter's pattern (infra/constructs/inference_api.py), matching capture lines only.
CAPTURE_FILTER_PATTERN = f'{{ $.{CAPTURE_MARKER} = "{CAPTURE_SHAPE}" }}'
# CloudWatch Logs' limit on one log event (256 KB), less the 26 bytes it counts per event.
MAX_LINE_BYTES = 256 * 1024 - 26

_HEAD = f'{{"{CAPTURE_MARKER}":"{CAPTURE_SHAPE}","records":['
_TAIL = "]}"


@dataclass(frozen=True)
class CaptureLines:
    """A request's capture records as log lines; ``oversized`` records could not be carried."""

    lines: tuple[str, ...]
    records: int
    oversized: int


def capture_lines(records: Sequence[dict[str, Any]], *, max_bytes: int = MAX_LINE_BYTES) -> CaptureLines:
    """Pack records into as few capture lines as fit, each at most ``max_bytes`` (UTF-8, newline excluded).

    Records keep their order. JSON is ASCII-escaped, so a line's length in characters is its
    size in bytes. A record too large for a line of its own is left out and counted.
    """
    # Most requests fit one line: one json.dumps of the whole line (measured: about half the time
    # of encoding 100 records one by one); only a request past the limit is packed record by record.
    whole = json.dumps({CAPTURE_MARKER: CAPTURE_SHAPE, "records": list(records)}, separators=(",", ":"))
    if len(whole) <= max_bytes:
        return CaptureLines((whole,) if records else (), len(records), 0)
    budget = max_bytes - len(_HEAD) - len(_TAIL)
    lines: list[str] = []
    chunk: list[str] = []
    size = oversized = 0
    for record in records:
        text = json.dumps(record, separators=(",", ":"))
        if len(text) > budget:
            oversized += 1
            continue
        if chunk and size + 1 + len(text) > budget:
            lines.append(_HEAD + ",".join(chunk) + _TAIL)
            chunk, size = [], 0
        size += len(text) + (1 if chunk else 0)
        chunk.append(text)
    if chunk:
        lines.append(_HEAD + ",".join(chunk) + _TAIL)
    return CaptureLines(tuple(lines), len(records) - oversized, oversized)


def capture_record(
    *,
    prediction_id: str,
    model_name: str,
    model_version: int,
    features: dict[str, Any],
    prediction: dict[str, Any],
    at: datetime,
    source: str | None = None,
) -> dict[str, Any]:
    """One captured prediction, in the layout monitoring reads (``functions.monitoring.captures``).

    ``features`` are the request's values: numbers and strings as sent, booleans as their
    category text ``"true"``/``"false"`` (monitoring treats a boolean as a category, under
    that key). ``prediction`` is ``{"label", "probabilities"}`` or a regression's ``{"value"}``.
    ``source`` marks traffic that did not come through the endpoint (``"batch"``: batch inference).
    """
    record: dict[str, Any] = {
        "prediction_id": prediction_id,
        "timestamp": at.astimezone(UTC).isoformat(),
        "model_name": model_name,
        "model_version": model_version,
        "features": {name: str(v).lower() if isinstance(v, bool) else v for name, v in features.items()},
        "prediction": prediction,
    }
    if source is not None:
        record["source"] = source
    return record
