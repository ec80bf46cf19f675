"""The inference API's OpenAPI document: the handler's routes, mounted per served model, with its request bodies.

The inference function declares its routes once (Powertools generates their operations: summaries,
statuses, the responses each can give). The API serves each model's routes under
``/models/<name>/`` (and at the root for a one-model project), so ``api_document`` mounts the routes
there, one copy per model, and gives each copy that model's request bodies: a predict record is an
object with exactly the model's features, each of its dtype; a label is one of its classes or, for a
regression, a number. It adds the error body every 4xx and 5xx carries (the handler's and API Gateway's
own answers alike: ``{"message": ...}``) and the security scheme the API uses (an API key, or SigV4).

What the schemas say is what the handler enforces (``functions/serving/signature.py``,
``functions/serving/request_body.py``); the gateway's request models check the envelope only (see
``infra/constructs/inference_api.py``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from functions.serving.signature import FLOAT32_MAX, MAX_ENTITY_ID_CHARS, FeatureSignature, ModelSignature

__all__ = [
    "RESPONSES",
    "STATUSES",
    "ServedModel",
    "api_document",
    "describe_feature",
    "feedback_request",
    "predict_request",
]

SCHEMAS = "#/components/schemas/"
API_KEY_SCHEME = "ApiKey"
SIGV4_SCHEME = "SigV4"
# Which route takes which request body (the routes' paths as the handler declares them).
_BODIES = {"/predict": "PredictRequest", "/feedback": "FeedbackRequest"}
_INT64_MAX = 2**63 - 1

# What a record's value must be, per signature dtype (the handler's rule: functions/serving/signature.py).
_VALUE_RULES = {
    "float": "a finite number within the 32-bit float range (the ONNX model's input)",
    "int": "an integral number",
    "string": "a string",
    "bool": "true or false",
}
_VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "float": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
    "int": {"type": "integer", "minimum": -_INT64_MAX, "maximum": _INT64_MAX},
    "string": {"type": "string"},
    "bool": {"type": "boolean"},
}


@dataclass(frozen=True)
class ServedModel:
    name: str
    signature: ModelSignature
    # The join keys of the view its predictions by entity id read; none: the model takes records only.
    entity_keys: tuple[str, ...] = ()


def describe_feature(feature: FeatureSignature) -> str:
    """One feature of the request model, as its documentation reads."""
    text = f"{feature.dtype}: {_VALUE_RULES.get(feature.dtype, feature.dtype)}"
    if feature.minimum is not None or feature.maximum is not None:
        low = "" if feature.minimum is None else f"{feature.minimum:g}"
        high = "" if feature.maximum is None else f"{feature.maximum:g}"
        text += f", declared range [{low}, {high}] (not enforced)"
    if feature.allowed:
        text += f", declared categories {', '.join(feature.allowed)} (others are served too)"
    return text


def _record(signature: ModelSignature) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One record: a value per feature of the serving model's signature (GET /model)",
        "additionalProperties": False,
        "required": signature.names,
        "properties": {
            f.name: {**_VALUE_SCHEMAS[f.dtype], "description": describe_feature(f)} for f in signature.features
        },
    }


def entity_id_schema() -> dict[str, Any]:
    return {
        "oneOf": [
            {"type": "string", "maxLength": MAX_ENTITY_ID_CHARS},
            {"type": "integer", "minimum": -_INT64_MAX, "maximum": _INT64_MAX},
        ]
    }


def predict_request(signature: ModelSignature, entity_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """POST /predict's body for a model: ``records`` (feature values) or, with ``entity_keys``, ``entities``."""
    properties: dict[str, Any] = {"records": {"type": "array", "minItems": 1, "items": _record(signature)}}
    if not entity_keys:
        return {"type": "object", "additionalProperties": False, "required": ["records"], "properties": properties}
    properties["entities"] = {
        "type": "array",
        "minItems": 1,
        "description": "Entity ids of the model's feature view (its join keys); its features are read online",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": list(entity_keys),
            "properties": {key: entity_id_schema() for key in entity_keys},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "oneOf": [{"required": ["records"]}, {"required": ["entities"]}],
    }


def feedback_request(signature: ModelSignature) -> dict[str, Any]:
    """POST /feedback's body for a model: one ``{prediction_id, label}``, or ``labels``, a list of them."""
    label = (
        {"type": "number", "description": "the true value"}
        if signature.is_regression
        else {"type": "string", "enum": list(signature.labels), "description": "the true class"}
    )
    one = {
        "type": "object",
        "additionalProperties": False,
        "required": ["prediction_id", "label"],
        "properties": {
            "prediction_id": {"type": "string", "format": "uuid", "description": "as POST /predict answered it"},
            "label": label,
        },
    }
    return {
        "oneOf": [
            one,
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["labels"],
                "properties": {"labels": {"type": "array", "minItems": 1, "items": one}},
            },
        ]
    }


def _slug(name: str) -> str:
    """``churn-risk`` -> ``ChurnRisk``: a model's part of component names and operation ids."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _components(auth: str) -> dict[str, Any]:
    if auth == "iam":
        scheme = {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "AWS Signature Version 4 (IAM), service execute-api",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
        return {"securitySchemes": {SIGV4_SCHEME: scheme}, "schemas": {}}
    scheme = {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "The API key of a client of the stage's usage plan",
    }
    return {"securitySchemes": {API_KEY_SCHEME: scheme}, "schemas": {}}


ERROR = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string", "description": "What is wrong, in one line, naming the field"},
        "correlation_id": {"type": ["string", "null"], "description": "On a 500: the id its log lines carry"},
    },
}


# Why each error status comes: the handler's, and API Gateway's own (403 key, 429 usage plan, 502 function error).
STATUSES = {
    400: "The body is not valid for this model: the message names the field (gateway or handler validation)",
    403: "Missing or unknown API key (SigV4 signature, with api_auth=iam)",
    404: "A prediction id this model never issued",
    413: "More records or labels than the stage's inference_max_records, or a body over 10 MB",
    422: "Well-formed but not servable: an empty batch, an unknown class, entity ids without an online view",
    429: "Throttled by the stage's usage plan (rate and burst limits)",
    500: "A fault of the service (logged with the correlation id); never the client's mistake",
    502: "The function failed or timed out",
    503: "No servable model version (none registered yet, or one the serving image cannot run)",
}

# The response bodies the handler's routes answer (``#/components/schemas/<name>``), the error body aside.
RESPONSES: dict[str, Any] = {
    "PredictResponse": {
        "type": "object",
        "required": ["model", "predictions"],
        "properties": {
            "model": {
                "type": "object",
                "required": ["name", "version"],
                "properties": {"name": {"type": "string"}, "version": {"type": "integer"}},
            },
            "predictions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "prediction_id": {"type": "string", "format": "uuid"},
                        "label": {"type": "string", "description": "classification: the predicted class"},
                        "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
                        "value": {"type": "number", "description": "regression: the predicted value"},
                        "entity": {"description": "entity ids: the entity's key"},
                        "status": {"enum": ["PRESENT", "EXPIRED", "NOT_FOUND"]},
                        "event_timestamp": {"type": ["string", "null"]},
                        "features": {"type": "object", "description": "entity ids: the features read online"},
                    },
                },
            },
        },
    },
    "FeedbackResponse": {
        "type": "object",
        "required": ["stored", "labels"],
        "properties": {"stored": {"type": "string"}, "labels": {"type": "integer", "minimum": 1}},
    },
    "ModelResponse": {
        "type": "object",
        "required": ["name", "version", "signature", "metrics", "runtime"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "integer"},
            "signature": {"type": "object"},
            "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
            "artifact_sha256": {"type": "string"},
            "runtime": {"enum": ["onnx", "sklearn"]},
            "registered_at": {"type": ["string", "null"]},
            "run_id": {"type": ["string", "null"]},
        },
    },
    "HealthResponse": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "OpenApiDocument": {"type": "object", "required": ["openapi", "paths"]},
}


def api_document(
    routes: dict[str, Any],
    models: Sequence[ServedModel],
    *,
    root_model: str | None,
    auth: str,
) -> dict[str, Any]:
    """The API's document: ``routes`` (the handler's, Powertools') under each model's prefix, with its bodies.

    Components: the response bodies (``RESPONSES``), ``Error``, and each model's ``<Model>PredictRequest`` and
    ``<Model>FeedbackRequest``.
    """
    if auth not in ("api_key", "iam"):
        raise ValueError(f"auth must be 'api_key' or 'iam', got {auth!r}")
    document = {key: value for key, value in routes.items() if key not in ("paths", "components")}
    components = _components(auth)
    components["schemas"].update(RESPONSES, Error=ERROR)
    document["security"] = [{SIGV4_SCHEME if auth == "iam" else API_KEY_SCHEME: []}]
    paths: dict[str, Any] = {}
    for model in models:
        slug = _slug(model.name)
        bodies = {
            "PredictRequest": predict_request(model.signature, model.entity_keys),
            "FeedbackRequest": feedback_request(model.signature),
        }
        for kind, schema in bodies.items():
            components["schemas"][f"{slug}{kind}"] = {"title": f"{model.name}: {kind}", **schema}
        prefixes = [(f"/models/{model.name}", slug), *([("", f"{slug}Root")] if model.name == root_model else [])]
        for prefix, operation_suffix in prefixes:
            for path, item in routes["paths"].items():
                mounted = copy.deepcopy(item)
                for operation in mounted.values():
                    operation["operationId"] = f"{operation['operationId']}_{operation_suffix}"
                    operation["tags"] = [model.name]
                    if path in _BODIES:
                        body = {"$ref": f"{SCHEMAS}{slug}{_BODIES[path]}"}
                        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
                paths[f"{prefix}{path}"] = mounted
    document["paths"] = paths
    document["components"] = components
    return document
