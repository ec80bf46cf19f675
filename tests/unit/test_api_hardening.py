"""Hostile request bodies, prediction ids and the OpenAPI document: the pure rules behind the inference API."""

from __future__ import annotations

import json
import uuid

import pytest

from functions.serving import prediction_ids
from functions.serving.openapi import ServedModel, api_document
from functions.serving.request_body import MAX_DEPTH, parse_json
from functions.serving.signature import FeatureSignature, ModelSignature
from functions.shared.errors import InvalidRequestError

RECORD = '{"records": [{"a": 1, "b": %s}]}'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (RECORD % ("9" * 400), "records[0].b: number 999999999999...(400 digits) is too large for a 64-bit float"),
        (RECORD % ("-" + "9" * 5000), "records[0].b: number -99999999999...(5000 digits) is too large"),
        (RECORD % "1e400", "records[0].b: number 1e400 is too large for a 64-bit float"),
        (RECORD % "NaN", "records[0].b: NaN is not a JSON number"),
        (RECORD % "-Infinity", "records[0].b: -Infinity is not a JSON number"),
        (RECORD % '"x\\ud800"', "records[0].b: invalid unicode: a lone surrogate '\\ud800' at character 1"),
        ('{"records": [{"\\udfff": 1}]}', "records[0].\\udfff: field name: invalid unicode"),
        ('{"records": [{"a": 1, "a": 2}]}', "records[0].a: field given twice in one object"),
        ('{"labels": [], "labels": []}', "labels: field given twice"),
        (RECORD % ("[" * 40 + "]" * 40), f"records[0].b{'[0]' * (MAX_DEPTH - 3)}: nested deeper than {MAX_DEPTH}"),
        # Too deep for the parser itself (its recursion): the path is found by a scan of the text
        (RECORD % ("[" * 100_000 + "]" * 100_000), f"records[0].b{'[0]' * (MAX_DEPTH - 3)}: nested deeper"),
        ("{not json", "request body is not valid JSON"),
    ],
    ids=[
        "400 digits",
        "5000 digits",
        "1e400",
        "NaN",
        "-Infinity",
        "surrogate",
        "surrogate name",
        "duplicate",
        "duplicate list",
        "40 deep",
        "100000 deep",
        "not json",
    ],
)
def test_hostile_json_is_refused_naming_the_field(raw: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        parse_json(raw)
    assert refused.value.status == 400
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_ordinary_json_parses_as_json_does() -> None:
    raw = '{"records": [{"a": 1, "b": -2.5e10, "c": "caf\\u00e9 \\ud83d\\ude00", "d": true, "e": null}], "n": %s}'
    raw %= "9" * 300  # a large integer a float still holds
    assert parse_json(raw) == json.loads(raw)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("seattle", None),
        (42, None),
        (None, "expected a string or an integer entity id, got NoneType"),
        (True, "got bool"),
        (1.5, "got float"),
        ({"a": 1}, "got dict"),
        ("x" * 257, "entity id of 257 characters, the limit is 256"),
        (2**63, "out of the 64-bit integer range"),
    ],
)
def test_entity_ids_are_short_strings_or_integers(value: object, problem: str | None) -> None:
    from functions.serving.signature import entity_id_problem

    found = entity_id_problem(value)
    assert found == problem if problem is None else problem in str(found)


def test_prediction_ids_are_uuids_only_their_model_and_key_accept() -> None:
    key = b"the stage's key"
    issued = prediction_ids.issue(key, "weather")
    parsed = uuid.UUID(issued)
    assert len(issued) == 36 and parsed.version == 8
    assert prediction_ids.was_issued(key, "weather", parsed)
    assert not prediction_ids.was_issued(key, "stocks", parsed)  # another model's id
    assert not prediction_ids.was_issued(b"another key", "weather", parsed)
    assert not prediction_ids.was_issued(key, "weather", uuid.uuid4())  # never issued
    forged = uuid.UUID(bytes=parsed.bytes[:-1] + bytes([parsed.bytes[-1] ^ 1]))
    assert not prediction_ids.was_issued(key, "weather", forged)
    assert len({prediction_ids.issue(key, "weather") for _ in range(1000)}) == 1000


SIGNATURE = ModelSignature(
    features=(FeatureSignature("n", "float", 0.0, 10.0), FeatureSignature("k", "int"),
              FeatureSignature("s", "string", allowed=("x", "y")), FeatureSignature("b", "bool")),
    labels=("yes", "no"),
)  # fmt: skip
REGRESSOR = ModelSignature(features=(FeatureSignature("n", "float"),), labels=(), task="regression")


def document(auth: str = "api_key", root: str | None = "clf") -> dict[str, object]:
    from functions.handlers.inference import openapi_schema

    served = [ServedModel("clf", SIGNATURE, ("customer_id",)), ServedModel("reg-2", REGRESSOR)]
    return openapi_schema(served, auth=auth, root_model=root)


def test_openapi_document_is_valid_with_bodies_per_model_and_the_api_key_scheme() -> None:
    from openapi_spec_validator import validate

    doc = document()
    validate(doc)  # type: ignore[arg-type]
    paths, schemas = doc["paths"], doc["components"]["schemas"]  # type: ignore[index]
    # Each model's routes under /models/<name>/, and the root model's at the root too
    assert {"/models/clf/predict", "/models/reg-2/feedback", "/predict", "/openapi.json"} <= set(paths)
    assert "/models/reg-2/predict" in paths and len(paths) == 15
    body = paths["/models/reg-2/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Reg2PredictRequest"}
    record = schemas["ClfPredictRequest"]["properties"]["records"]["items"]
    assert record["required"] == ["n", "k", "s", "b"] and record["additionalProperties"] is False
    assert [record["properties"][f]["type"] for f in ("n", "k", "s", "b")] == ["number", "integer", "string", "boolean"]
    # Entity ids by the view's join keys, for a model that reads an online view; records only for one that does not
    entity = schemas["ClfPredictRequest"]["properties"]["entities"]["items"]
    assert entity["required"] == ["customer_id"] and entity["additionalProperties"] is False
    assert schemas["Reg2PredictRequest"]["required"] == ["records"]
    assert "entities" not in schemas["Reg2PredictRequest"]["properties"]
    label = schemas["ClfFeedbackRequest"]["oneOf"][0]["properties"]["label"]
    assert label["enum"] == ["yes", "no"]
    assert schemas["Reg2FeedbackRequest"]["oneOf"][0]["properties"]["label"]["type"] == "number"
    # The statuses the handler and the gateway answer, errors with the error body
    feedback = paths["/models/clf/feedback"]["post"]["responses"]
    assert set(feedback) == {"202", "400", "403", "404", "413", "422", "429", "500", "502", "503"}
    assert feedback["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "200" in paths["/openapi.json"]["get"]["responses"]
    assert schemas["OpenApiDocument"]["type"] == "object"
    assert doc["security"] == [{"ApiKey": []}]
    assert doc["components"]["securitySchemes"]["ApiKey"] == {  # type: ignore[index]
        "type": "apiKey", "in": "header", "name": "x-api-key",
        "description": "The API key of a client of the stage's usage plan",
    }  # fmt: skip


def test_openapi_document_of_an_iam_stage_names_sigv4_and_no_api_key() -> None:
    from openapi_spec_validator import validate

    doc = document(auth="iam", root=None)
    validate(doc)  # type: ignore[arg-type]
    assert doc["security"] == [{"SigV4": []}]
    schemes = doc["components"]["securitySchemes"]  # type: ignore[index]
    assert set(schemes) == {"SigV4"} and schemes["SigV4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert not any(path.startswith("/predict") for path in doc["paths"])  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="auth must be"):
        api_document({"paths": {}}, [], root_model=None, auth="none")
