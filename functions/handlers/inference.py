"""Inference API behind API Gateway (REST, proxy): predict, model, feedback, health, OpenAPI."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers import canary_metrics
from functions.registry.model_registry import ModelRegistry, ModelVersion
from functions.registry.model_store import load_serving_model, resolve_serving
from functions.rollout.canary import is_smoke_test
from functions.serving import prediction_ids
from functions.serving.capture import FeedbackStore, PredictionCapture, capture_record
from functions.serving.online_view import online_view
from functions.serving.openapi import SCHEMAS, STATUSES, ServedModel, api_document
from functions.serving.predictor import Predictor
from functions.serving.request_body import parse_json
from functions.serving.signature import ModelSignature, entity_id_problem, records_to_columns
from functions.shared import settings as env_names
from functions.shared.clients import client
from functions.shared.errors import InvalidRequestError, ModelNotFoundError
from functions.shared.objects import ObjectStore
from functions.shared.settings import InferenceSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import (
        OpenAPIResponse,
        OpenAPIResponseContentModel,
        OpenAPIResponseContentSchema,
    )

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
def prediction_key() -> bytes:
    """The key of this stage's prediction ids (a secret only the inference functions read), once per container."""
    secret = client("secretsmanager").get_secret_value(SecretId=settings().prediction_key_secret)
    return str(secret["SecretString"]).encode()


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


def parse_body(raw: str | None, *, required: str | None, allowed: set[str] | None = None) -> dict[str, Any]:
    """The JSON object body, parsed strictly (``request_body.parse_json``), with ``required``, no unknown fields."""
    expected = required or " or ".join(f"'{a}'" for a in sorted(allowed or ()))
    if not raw:
        raise InvalidRequestError(f"request body is empty; expected a JSON object with {expected}")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequestError(f"request body must be a JSON object with {expected}")
    if required is not None and required not in body:
        raise InvalidRequestError(f"missing field '{required}'")
    extra = sorted(set(body) - (allowed or ({required} if required else set())))
    if extra:
        raise InvalidRequestError(f"unknown field {extra[0]!r}")
    return body


def _json_body(schema: str) -> dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel]:
    return {"application/json": {"schema": {"$ref": f"{SCHEMAS}{schema}"}}}


def _errors(*statuses: int) -> dict[int, OpenAPIResponse]:
    """The error answers a route can give (each with the error body), as the OpenAPI document lists them."""
    return {status: {"description": STATUSES[status], "content": _json_body("Error")} for status in sorted(statuses)}


def _answer(status: int, schema: str, description: str) -> dict[int, OpenAPIResponse]:
    return {status: {"description": description, "content": _json_body(schema)}}


_CLIENT = (403, 429)
_SERVER = (500, 502)


@app.post(
    "/predict",
    responses={
        **_answer(200, "PredictResponse", "One prediction per record (or entity), with its id"),
        **_errors(400, *_CLIENT, 413, 422, *_SERVER, 503),
    },
    operation_id="predict",
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
    predictions = [{"prediction_id": new_prediction_id(), **predicted.answer(i)} for i in range(len(predicted))]
    metrics.add_metric(name="PredictedRecords", unit=MetricUnit.Count, value=len(predictions))
    canary_metrics.record_agreement(
        predicted.outcomes, loaded.version.metrics, smoke_test=is_smoke_test(app.current_event.raw_event)
    )
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
        for key in view.join_keys:
            problem = entity_id_problem(entity[key])
            if problem is not None:
                raise InvalidRequestError(f"entities[{index}].{key}: {problem}")
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
        served = [{"prediction_id": new_prediction_id(), **predicted.answer(j)} for j in range(len(present))]
        for j, i in enumerate(present):
            answers[i].update(**served[j], features=reads[i].features)
        # Captured like predictions from values: the features the model saw, so ground truth can join them.
        capture(loaded, [reads[i].features for i in present], served)
    metrics.add_metric(name="PredictedRecords", unit=MetricUnit.Count, value=len(present))
    return {"model": {"name": loaded.version.model_name, "version": loaded.version.version}, "predictions": answers}


def new_prediction_id() -> str:
    return prediction_ids.issue(prediction_key(), settings().model_name)


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
    status_code=202,
    responses={
        **_answer(202, "FeedbackResponse", "Stored"),
        **_errors(400, *_CLIENT, 404, 413, 422, *_SERVER, 503),
    },
    operation_id="feedback",
    summary="Record ground truth",
    description=(
        'Body: {"prediction_id": str, "label": str or number}, or many at once: {"labels": [{"prediction_id": ..., '
        '"label": ...}, ...]} (at most the predict limit). Stores the true label of earlier predictions (one of the '
        "classes, or a regression's true value as a number): live-quality monitoring judges on it, and the monitor "
        "joins it with the captured prediction into training data. A prediction id this model never issued "
        "is refused (404), so a typo or another model's id is caught at once."
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
        parsed = uuid.UUID(str(prediction_id))
    except ValueError:
        raise InvalidRequestError(f"{where}prediction_id: not a prediction id: {prediction_id!r}") from None
    if not prediction_ids.was_issued(prediction_key(), settings().model_name, parsed):
        raise InvalidRequestError(
            f"{where}prediction_id: {prediction_id} was never issued by model {settings().model_name!r}", status=404
        )
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
    responses={**_answer(200, "ModelResponse", "The serving version"), **_errors(*_CLIENT, *_SERVER, 503)},
    operation_id="model",
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


@app.get(
    "/health",
    responses={**_answer(200, "HealthResponse", "Alive"), **_errors(*_CLIENT, *_SERVER)},
    operation_id="health",
    summary="Liveness",
)
def health() -> dict[str, Any]:
    return {"status": "ok"}


@app.get(
    "/openapi.json",
    responses={**_answer(200, "OpenApiDocument", "This model's routes"), **_errors(*_CLIENT, *_SERVER, 503)},
    operation_id="openapi",
    summary="This API's OpenAPI document",
    description="The routes of the model this function serves, with request bodies from its serving signature.",
)
def openapi() -> dict[str, Any]:
    keys = serving_view().join_keys if settings().online_table and settings().online_view else ()
    served = ServedModel(settings().model_name, models.current().signature, keys)
    return openapi_schema([served], auth=settings().api_auth, root_model=served.name if settings().at_root else None)


def openapi_schema(served: list[ServedModel], *, auth: str, root_model: str | None) -> dict[str, Any]:
    """The API's OpenAPI document for ``served`` models: the routes above (Powertools) mounted per model."""
    routes = app.get_openapi_schema(
        title="Serverless MLOps inference API",
        version="1",
        description=(
            "Predictions from each served model, under /models/<name>/ (and at the root for a one-model project). "
            + ("Every route requires SigV4 (IAM)." if auth == "iam" else "Every route requires an API key (x-api-key).")
        ),
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    return api_document(routes, served, root_model=root_model, auth=auth)


def openapi_document(project: str | Path | None = None, *, auth: str = "api_key") -> str:
    """The API's OpenAPI document (JSON) for a project's models, from their declared signatures.

    ``project``: a project folder; by default the deployment's (``MLOPS_PROJECT_DIR``), else the one
    ``cdk.json`` names. ``auth``: the stage's ``api_auth``. (A function's ``GET /openapi.json`` documents
    its own model from the signature of the version it serves.)
    """
    from functions.project.loader import load_project
    from functions.serving.signature import ModelSignature as Signature

    loaded = load_project(project or _default_project())
    served = [
        ServedModel(m.name, Signature.from_spec(m), loaded.view_by_ref(m.feature_store.views[0]).join_keys)
        for m in loaded.models
    ]
    root = served[0].name if len(served) == 1 else None
    return json.dumps(openapi_schema(served, auth=auth, root_model=root), indent=2)


def _default_project() -> Path:
    if os.environ.get(env_names.PROJECT_DIR):
        return Path(os.environ[env_names.PROJECT_DIR])
    root = Path(__file__).resolve().parents[2]
    return root / json.loads((root / "cdk.json").read_text())["context"][env_names.IMAGE_PROJECT_CONTEXT]


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
    canary_metrics.record_request(status=response["statusCode"], started=started, smoke_test=is_smoke_test(event))
    return response
