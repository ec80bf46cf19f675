"""Inference API: ``POST /predict`` and ``GET /health`` behind API Gateway (REST, proxy)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from sklearn.base import ClassifierMixin

from functions.adapters.clients import client
from functions.adapters.objects import ObjectStore, S3Uri
from functions.adapters.registry import ModelRegistry, ModelVersion
from functions.core.artifact import load_verified_model
from functions.core.errors import InvalidRequestError, ModelNotFoundError
from functions.core.signature import ModelSignature, records_to_matrix
from functions.settings import InferenceSettings

__all__ = ["SETTINGS", "app", "handler"]

SETTINGS = InferenceSettings

logger = Logger()
metrics = Metrics()
app = APIGatewayRestResolver()


@lru_cache(maxsize=1)
def settings() -> InferenceSettings:
    return InferenceSettings.from_env()


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    signature: ModelSignature
    model: ClassifierMixin
    checked_at: float


class ModelCache:
    """The serving model, kept across invocations of a warm function."""

    def __init__(self) -> None:
        self.loaded: LoadedModel | None = None

    def current(self) -> LoadedModel:
        """The latest registered model; the registry is re-checked every ``model_refresh_seconds``."""
        now, loaded = time.monotonic(), self.loaded
        if loaded is not None and now - loaded.checked_at < settings().model_refresh_seconds:
            return loaded
        latest = ModelRegistry(client("dynamodb"), settings().registry_table).latest(settings().model_name)
        if loaded is not None and loaded.version.version == latest.version:
            self.loaded = LoadedModel(loaded.version, loaded.signature, loaded.model, now)
            return self.loaded
        data = ObjectStore(client("s3")).get_bytes(S3Uri.parse(latest.artifact_uri))
        model = load_verified_model(data, latest.artifact_sha256)
        self.loaded = LoadedModel(latest, ModelSignature.from_dict(latest.signature), model, now)
        logger.info("model loaded", extra={"model": latest.model_name, "version": latest.version})
        return self.loaded


models = ModelCache()


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not valid JSON")


def parse_body(raw: str | None) -> dict[str, Any]:
    if not raw:
        raise InvalidRequestError("request body is empty; expected a JSON object with 'records'")
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("request body must be a JSON object with 'records'")
    if "records" not in body:
        raise InvalidRequestError("missing field 'records'")
    extra = sorted(set(body) - {"records"})
    if extra:
        raise InvalidRequestError(f"unknown field {extra[0]!r}")
    return body


@app.post("/predict")
def predict() -> dict[str, Any]:
    started = time.perf_counter()
    body = parse_body(app.current_event.body)
    loaded = models.current()
    matrix = records_to_matrix(body["records"], loaded.signature, max_records=settings().max_records)
    labels = loaded.model.predict(matrix)
    probabilities = loaded.model.predict_proba(matrix)
    classes = [str(c) for c in loaded.model.classes_]
    predictions = [
        {
            "prediction_id": str(uuid.uuid4()),
            "label": str(label),
            "probabilities": {c: round(float(p), 6) for c, p in zip(classes, row, strict=True)},
        }
        for label, row in zip(labels, np.atleast_2d(probabilities), strict=True)
    ]
    metrics.add_metric(name="PredictedRecords", unit=MetricUnit.Count, value=len(predictions))
    metrics.add_metric(name="PredictLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1e3)
    return {
        "model": {"name": loaded.version.model_name, "version": loaded.version.version},
        "predictions": predictions,
    }


@app.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@app.exception_handler(InvalidRequestError)
def invalid_request(exc: InvalidRequestError) -> Response:
    metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
    logger.info("invalid request", extra={"error": str(exc)})
    return Response(status_code=exc.status, content_type=content_types.APPLICATION_JSON, body={"message": str(exc)})


@app.exception_handler(ModelNotFoundError)
def no_model(exc: ModelNotFoundError) -> Response:
    return Response(status_code=503, content_type=content_types.APPLICATION_JSON, body={"message": str(exc)})


@app.exception_handler(Exception)
def server_error(exc: Exception) -> Response:
    metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
    logger.exception("unhandled error")
    return Response(
        status_code=500,
        content_type=content_types.APPLICATION_JSON,
        body={"message": "internal error", "correlation_id": logger.get_correlation_id()},
    )


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
