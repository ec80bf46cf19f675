"""Prediction capture and ground-truth feedback, the inputs of monitoring (C9).

Captured predictions leave the inference function as log lines, not as API calls: the handler
writes each request's records to stdout as capture lines (``functions/serving/capture_format.py``)
and CloudWatch Logs delivers them. The function's log group has a subscription filter (capture
lines only) whose destination is the model's Firehose delivery stream; its Decompression and
CloudWatchLogProcessing (message extraction) processors turn each log event back into its
message, one line each, batched into JSON Lines objects under ``captures/model=<name>/YYYY/MM/DD/HH/``
of the Captures bucket. The request path pays a ``json.dumps`` and a write to stdout, no network
round trip. Feedback is rare and written straight to ``feedback/model=<name>/YYYY/MM/DD/HH/<uuid>.jsonl``
(per model, so each model's monitor reads and joins only its own ground truth).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from botocore.exceptions import ClientError

from functions.serving.capture_format import MAX_LINE_BYTES, CaptureLines, capture_lines, capture_record
from functions.shared.aws_errors import storage_error

__all__ = ["FeedbackStore", "PredictionCapture", "capture_record"]


class PredictionCapture:
    """Writes capture lines to the function's log stream (stdout in Lambda); CloudWatch Logs delivers them."""

    def __init__(self, stream: TextIO, *, max_bytes: int = MAX_LINE_BYTES) -> None:
        self._stream = stream
        self._max_bytes = max_bytes

    def put(self, records: Sequence[dict[str, Any]]) -> CaptureLines:
        """Write the records in one ``write`` (so the lines stay whole and together); raises ``OSError``."""
        encoded = capture_lines(records, max_bytes=self._max_bytes)
        if encoded.lines:
            self._stream.write("".join(f"{line}\n" for line in encoded.lines))
            self._stream.flush()
        return encoded


class FeedbackStore:
    def __init__(self, s3_client: Any, bucket: str, *, model: str | None = None) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._prefix = f"feedback/model={model}/" if model else "feedback/"

    def put(self, items: Sequence[dict[str, Any]], *, at: datetime) -> str:
        """Store ground-truth labels for prediction ids; returns the object key."""
        key = f"{self._prefix}{at.astimezone(UTC).strftime('%Y/%m/%d/%H')}/{uuid.uuid4()}.jsonl"
        body = "".join(
            json.dumps({**item, "timestamp": at.astimezone(UTC).isoformat()}, separators=(",", ":")) + "\n"
            for item in items
        )
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson")
        except ClientError as exc:
            raise storage_error(exc, "storing feedback") from exc
        return key
