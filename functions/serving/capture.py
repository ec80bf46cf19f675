"""Prediction capture and ground-truth feedback, the inputs of monitoring (C9).

Captured predictions go through a Kinesis Data Firehose delivery stream,
which batches them into JSON Lines objects under the Captures bucket's
``captures/model=<name>/YYYY/MM/DD/HH/`` prefix (Firehose's own time layout),
so the inference function spends one small ``PutRecordBatch`` per request
instead of an S3 write. Feedback is rare and written straight to
``feedback/YYYY/MM/DD/HH/<uuid>.jsonl``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws_errors import storage_error
from functions.shared.errors import StorageError

_MAX_BATCH = 500  # PutRecordBatch limit


class PredictionCapture:
    def __init__(self, firehose_client: Any, stream_name: str) -> None:
        self._firehose = firehose_client
        self._stream = stream_name

    def put(self, records: Sequence[dict[str, Any]]) -> None:
        """Send records (one JSON line each); failed records are retried once, then an error."""
        pending = [{"Data": (json.dumps(r, separators=(",", ":")) + "\n").encode()} for r in records]
        for attempt in range(2):
            failed: list[dict[str, bytes]] = []
            for start in range(0, len(pending), _MAX_BATCH):
                chunk = pending[start : start + _MAX_BATCH]
                try:
                    response = self._firehose.put_record_batch(DeliveryStreamName=self._stream, Records=chunk)
                except ClientError as exc:
                    raise storage_error(exc, f"capturing {len(chunk)} predictions") from exc
                if response.get("FailedPutCount"):
                    failed.extend(
                        record
                        for record, result in zip(chunk, response["RequestResponses"], strict=True)
                        if result.get("ErrorCode")
                    )
            if not failed:
                return
            pending = failed
            if attempt == 1:
                raise StorageError(f"{len(failed)} captured predictions were refused by Firehose twice")


def capture_record(
    *,
    prediction_id: str,
    model_name: str,
    model_version: int,
    features: dict[str, Any],
    prediction: dict[str, Any],
    at: datetime,
) -> dict[str, Any]:
    """One captured prediction, in the layout monitoring reads (``functions.monitoring.captures``).

    ``features`` are the request's values: numbers and strings as sent, booleans as their
    category text ``"true"``/``"false"`` (monitoring treats a boolean as a category, under
    that key). ``prediction`` is ``{"label", "probabilities"}`` or a regression's ``{"value"}``.
    """
    return {
        "prediction_id": prediction_id,
        "timestamp": at.astimezone(UTC).isoformat(),
        "model_name": model_name,
        "model_version": model_version,
        "features": {name: str(v).lower() if isinstance(v, bool) else v for name, v in features.items()},
        "prediction": prediction,
    }


class FeedbackStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def put(self, items: Sequence[dict[str, Any]], *, at: datetime) -> str:
        """Store ground-truth labels for prediction ids; returns the object key."""
        key = f"feedback/{at.astimezone(UTC).strftime('%Y/%m/%d/%H')}/{uuid.uuid4()}.jsonl"
        body = "".join(
            json.dumps({**item, "timestamp": at.astimezone(UTC).isoformat()}, separators=(",", ":")) + "\n"
            for item in items
        )
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson")
        except ClientError as exc:
            raise storage_error(exc, "storing feedback") from exc
        return key
