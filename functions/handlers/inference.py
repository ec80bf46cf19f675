"""Inference API behind API Gateway (REST, proxy): predict, model, feedback, health, OpenAPI."""

from __future__ import annotations

import json
import math
import re
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers import canary_metrics
from functions.registry.model_registry import ModelRegistry, ModelVersion
from functions.registry.model_store import load_serving_model, resolve_serving
from functions.serving.capture import FeedbackStore, PredictionCapture, capture_record
from functions.serving.online_view import online_view
from functions.serving.predictor import Predictor
from functions.serving.signature import ModelSignature, records_to_columns
from functions.shared.clients import client
from functions.shared.errors import InvalidRequestError, ModelNotFoundError
from functions.shared.objects import ObjectStore
from functions.shared.settings import InferenceSettings

if TYPE_CHECKING:
    from functions.feature_store.definitions import FeatureView

__all__ = ["SETTINGS", "app", "handler"]

SETTINGS = InferenceSettings

logger = Logger()
metrics = Metrics()
# GET /health, /model and /openapi.json publish no metric on purpose (Powertools' documented way to say so).
warnings.filterwarnings("ignore", "No application metrics to publish*")
# Each model's routes live under /models/<name>/ (and at the root for a one-model project); API Gateway sends a
# model's routes only to that model's function, so the prefix is stripped and the routes below serve both.
app = APIGatewayRestResolver(strip_prefixes=[re.compile(r"^/models/[^/]+(?=/)")])


@lru_cache(maxsize=1)
def settings() -> InferenceSettings:
    return InferenceSettings.from_env()


@lru_cache(maxsize=1)
def serving_view() -> FeatureView:
    """The view predictions by entity id read, as the stack described it (the project is not shipped here)."""
    return online_view(settings().online_view)


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    signature: ModelSignature
    model: Any  # an OnnxModel, or the scikit-learn estimator
    runtime: str
    checked_at: float

    @property
    def predictor(self) -> Predictor:
        return Predictor(self.model, self.signature, runtime=self.runtime)


class ModelCache:
    """The serving model, kept across invocations of a warm function."""

    def __init__(self) -> None:
        self.loaded: LoadedModel | None = None

    def current(self) -> LoadedModel:
        """The latest registered model; the registry is re-checked every ``model_refresh_seconds``."""
        now, loaded = time.monotonic(), self.loaded
        if loaded is not None and now - loaded.checked_at < settings().model_refresh_seconds:
            return loaded
        registry = ModelRegistry(client("dynamodb"), settings().registry_table)
        # A version the rollout deployer published serves its pinned model version; $LATEST the champion.
        latest = resolve_serving(registry, settings().model_name, pinned=settings().model_version)
        if loaded is not None and loaded.version.version == latest.version:
            self.loaded = LoadedModel(loaded.version, loaded.signature, loaded.model, loaded.runtime, now)
            return self.loaded
        model, runtime = load_model(latest)
        self.loaded = LoadedModel(latest, ModelSignature.from_dict(latest.signature), model, runtime, now)
        logger.info("model loaded", extra={"model": latest.model_name, "version": latest.version, "runtime": runtime})
        return self.loaded


def load_model(version: ModelVersion) -> tuple[Any, str]:
    return load_serving_model(ObjectStore(client("s3")), version)


models = ModelCache()


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not valid JSON")


def parse_body(raw: str | None, *, required: str | None, allowed: set[str] | None = None) -> dict[str, Any]:
    """The JSON object body, refusing bad JSON, NaN/Infinity, a missing ``required`` or unknown fields."""
    expected = required or " or ".join(f"'{a}'" for a in sorted(allowed or ()))
    if not raw:
        raise InvalidRequestError(f"request body is empty; expected a JSON object with {expected}")
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError(f"request body must be a JSON object with {expected}")
    if required is not None and required not in body:
        raise InvalidRequestError(f"missing field '{required}'")
    extra = sorted(set(body) - (allowed or ({required} if required else set())))
    if extra:
        raise InvalidRequestError(f"unknown field {extra[0]!r}")
    return body


@app.post(
    "/predict",
    summary="Predict",
    description=(
        'Body: {"records": [{feature: value, ...}, ...]}, each value of its feature\'s dtype in the serving '
        "model's signature (GET /model): a number for float and int (int: integral), a string for string, "
        "true or false for bool. Answers one prediction per record, a label with class probabilities "
        "(classification) or a value (regression), with its prediction id (send it back with ground truth "
        "to POST /feedback) and the serving model version."
    ),
)
def predict() -> dict[str, Any]:
    started = time.perf_counter()
    body = parse_body(app.current_event.body, required=None, allowed={"records", "entities"})
    loaded = models.current()
    if ("records" in body) == ("entities" in body):
        raise InvalidRequestError("send exactly one of 'records' (feature values) or 'entities' (entity ids)")
    if "entities" in body:
        return predict_entities(body["entities"], loaded)
    columns = records_to_columns(body["records"], loaded.signature, max_records=settings().max_records)
    predicted = loaded.predictor.predict(columns)
    predictions = [{"prediction_id": str(uuid.uuid4()), **predicted.answer(i)} for i in range(len(predicted))]
    metrics.add_metric(name="PredictedRecords", unit=MetricUnit.Count, value=len(predictions))
    canary_metrics.record_agreement(predicted.outcomes, loaded.version.metrics, headers=app.current_event.headers)
    metrics.add_metric(name="PredictLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1e3)
    capture(loaded, body["records"], predictions)
    return {
        "model": {"name": loaded.version.model_name, "version": loaded.version.version},
        "predictions": predictions,
    }


def predict_entities(entities: Any, loaded: LoadedModel) -> dict[str, Any]:
    """Predict from the online store's features: one answer per entity, with its read status.

    A NOT_FOUND or EXPIRED entity gets its status and no prediction (the others are still
    answered); the features are the serving model's signature, read from the configured view.
    """
    from functions.feature_store.online_store import OnlineStore

    if not settings().online_table or not settings().online_view:
        raise InvalidRequestError("this deployment has no online feature view; send 'records'", status=422)
    if not isinstance(entities, list) or not entities:
        raise InvalidRequestError("'entities' must be a non-empty list of objects", status=422)
    if len(entities) > settings().max_records:
        raise InvalidRequestError(f"'entities' has {len(entities)} items, the limit is {settings().max_records}",
                                  status=413)  # fmt: skip
    view = serving_view()
    for index, entity in enumerate(entities):
        if not isinstance(entity, dict) or set(entity) != set(view.join_keys):
            raise InvalidRequestError(f"entities[{index}] must be an object with exactly {list(view.join_keys)}")
    names = [f.name for f in loaded.signature.features]
    reads = OnlineStore(client("dynamodb"), settings().online_table).read(view, entities, features=names)
    present = [i for i, r in enumerate(reads) if r.status == "PRESENT"]
    answers: list[dict[str, Any]] = [
        {"entity": r.entity_key, "status": str(r.status), "event_timestamp": r.event_timestamp.isoformat()
         if r.event_timestamp else None} for r in reads
    ]  # fmt: skip
    if present:
        columns = records_to_columns([reads[i].features for i in present], loaded.signature,
                                     max_records=settings().max_records)  # fmt: skip
        predicted = loaded.predictor.predict(columns)
        served = [{"prediction_id": str(uuid.uuid4()), **predicted.answer(j)} for j in range(len(present))]
        for j, i in enumerate(present):
            answers[i].update(**served[j], features=reads[i].features)
        # Captured like predictions from values: the features the model saw, so ground truth can join them.
        capture(loaded, [reads[i].features for i in present], served)
    metrics.add_metric(name="PredictedRecords", unit=MetricUnit.Count, value=len(present))
    return {"model": {"name": loaded.version.model_name, "version": loaded.version.version}, "predictions": answers}


def capture(loaded: LoadedModel, records: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> None:
    """Write the request's predictions to the log as capture lines; a capture failure is logged and counted, not fatal.

    No network call: CloudWatch Logs ships the lines to the capture stream (functions/serving/capture.py).
    Monitoring tolerates a gap in capture; a client should not lose its prediction over it.
    """
    now = datetime.now(UTC)
    captured = [
        capture_record(
            prediction_id=p["prediction_id"],
            model_name=loaded.version.model_name,
            model_version=loaded.version.version,
            features=record,
            prediction={k: v for k, v in p.items() if k != "prediction_id"},
            at=now,
        )
        for record, p in zip(records, predictions, strict=True)
    ]
    try:
        # sys.stdout as it is now: Lambda's (and the local runtime's per-invocation) log stream.
        written = PredictionCapture(sys.stdout).put(captured)
    except OSError:
        metrics.add_metric(name="CaptureFailures", unit=MetricUnit.Count, value=len(captured))
        logger.exception("prediction capture failed", extra={"records": len(captured)})
        return
    if written.oversized:
        metrics.add_metric(name="CaptureFailures", unit=MetricUnit.Count, value=written.oversized)
        logger.warning("predictions too large for a log event were not captured", extra={"records": written.oversized})
    metrics.add_metric(name="CapturedRecords", unit=MetricUnit.Count, value=written.records)


@app.post(
    "/feedback",
    summary="Record ground truth",
    description=(
        'Body: {"prediction_id": str, "label": str or number}, or many at once: {"labels": [{"prediction_id": ..., '
        '"label": ...}, ...]} (at most the predict limit). Stores the true label of earlier predictions (one of the '
        "classes, or a regression's true value as a number): live-quality monitoring judges on it, and the monitor "
        "joins it with the captured prediction into training data."
    ),
)
def feedback() -> Response[dict[str, Any]]:
    body = parse_body(app.current_event.body, required=None, allowed={"prediction_id", "label", "labels"})
    if ("labels" in body) == ("prediction_id" in body or "label" in body):
        raise InvalidRequestError("send either 'prediction_id' and 'label', or 'labels' (a list of them)")
    if "labels" in body:
        items = body["labels"]
        if not isinstance(items, list) or not items:
            raise InvalidRequestError("'labels' must be a non-empty list of {prediction_id, label} objects")
        if len(items) > settings().max_records:
            raise InvalidRequestError(f"'labels' has {len(items)} items, the limit is {settings().max_records}",
                                      status=413)  # fmt: skip
        labels = [_label(item, f"labels[{index}].") for index, item in enumerate(items)]
    else:
        labels = [_label(body, "")]
    key = FeedbackStore(client("s3"), settings().capture_bucket, model=settings().model_name).put(
        labels, at=datetime.now(UTC)
    )
    metrics.add_metric(name="FeedbackRecords", unit=MetricUnit.Count, value=len(labels))
    return Response(
        status_code=202, content_type=content_types.APPLICATION_JSON, body={"stored": key, "labels": len(labels)}
    )


def _label(item: Any, where: str) -> dict[str, Any]:
    """One ``{prediction_id, label}``, checked against the serving signature; errors name ``where``."""
    if not isinstance(item, dict):
        raise InvalidRequestError(f"{where or 'body'}: expected an object with 'prediction_id' and 'label'")
    extra = sorted(set(item) - {"prediction_id", "label"})
    if extra:
        raise InvalidRequestError(f"{where}unknown field {extra[0]!r}")
    prediction_id, label = item.get("prediction_id"), item.get("label")
    if prediction_id is None:
        raise InvalidRequestError(f"{where}missing field 'prediction_id'")
    try:
        uuid.UUID(str(prediction_id))
    except ValueError:
        raise InvalidRequestError(f"{where}prediction_id: not a prediction id: {prediction_id!r}") from None
    if label is None:
        raise InvalidRequestError(f"{where}missing field 'label'")
    signature = models.current().signature
    if signature.is_regression:
        if isinstance(label, bool) or not isinstance(label, (int, float)) or not math.isfinite(label):
            raise InvalidRequestError(f"{where}label: expected the true value as a number, got {label!r}", status=422)
    elif label not in signature.labels:
        raise InvalidRequestError(f"{where}label: {label!r} is not one of {list(signature.labels)}", status=422)
    return {"prediction_id": str(prediction_id), "label": label}


@app.get(
    "/model",
    summary="Serving model",
    description="The model version this function serves, its signature and holdout metrics.",
)
def model() -> dict[str, Any]:
    version = models.current().version
    return {
        "name": version.model_name,
        "version": version.version,
        "signature": version.signature,
        "metrics": version.metrics,
        "artifact_sha256": version.artifact_sha256,
        "runtime": models.current().runtime,
        "registered_at": version.created_at,
        "run_id": version.run_id,
    }


@app.get("/health", summary="Liveness")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@app.get("/openapi.json", summary="This API's OpenAPI document")
def openapi() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())


def openapi_document() -> str:
    """Generated from the routes above (Powertools; pydantic is imported only here)."""
    return app.get_openapi_json_schema(
        title="Serverless MLOps inference API",
        version="1",
        description="Predictions from the serving model. Every route requires an API key (x-api-key).",
    )


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
    started = time.perf_counter()
    response = app.resolve(event, context)
    canary_metrics.record_request(status=response["statusCode"], started=started, headers=event.get("headers"))
    return response
