"""POST /predict over HTTP through the local gateway built from the synthesized API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.monitoring.captures import parse_captures
from mlops.demo import post_json
from mlops.local import LocalCloud
from tests.helpers import run_training, upload_raw

GOOD = {"precipitation": 1.5, "temp_max": 11.0, "temp_min": 4.0, "wind": 5.2}


@pytest.fixture(scope="module")
def served(assembly: Any) -> Iterator[LocalCloud]:
    """A local cloud with one trained, registered model."""
    with LocalCloud(assembly) as cloud:
        assert run_training(cloud, upload_raw(cloud)).status == "SUCCEEDED"
        yield cloud


def predict(cloud: LocalCloud, body: Any, *, key: str | None = "default") -> tuple[int, dict[str, Any]]:
    assert cloud.gateway is not None
    api_key = cloud.gateway.api_key() if key == "default" else key
    return post_json(f"{cloud.gateway.url()}/predict", body, api_key=api_key)


def test_valid_records_get_predictions_with_model_version(served: LocalCloud) -> None:
    status, body = predict(served, {"records": [GOOD, {**GOOD, "temp_max": 30.0, "precipitation": 0}]})
    assert status == 200
    assert body["model"] == {"name": "seattle-weather", "version": 1}
    assert len(body["predictions"]) == 2
    for prediction in body["predictions"]:
        assert prediction["label"] in {"drizzle", "fog", "rain", "snow", "sun"}
        assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-3
        assert len(prediction["prediction_id"]) == 36


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "Invalid JSON"),
        ({"rows": [GOOD]}, 400, "rows"),
        ({"records": []}, 400, "records"),
        ({"records": [{k: v for k, v in GOOD.items() if k != "wind"}]}, 400, "records[0]: missing field 'wind'"),
        ({"records": [GOOD, {**GOOD, "temp_min": "cold"}]}, 400, "records[1].temp_min: expected a number, got str"),
        ({"records": [{**GOOD, "wind": True}]}, 400, "records[0].wind: expected a number, got bool"),
        ({"records": [{**GOOD, "humidity": 3}]}, 400, "records[0]: unknown field 'humidity'"),
        ({"records": [GOOD] * 1001}, 413, "the limit is 1000"),
        (b'{"records": [{"precipitation": NaN, "temp_max": 1, "temp_min": 1, "wind": 1}]}', 400, "NaN"),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(served: LocalCloud, body: Any, status: int, message: str) -> None:
    got_status, got_body = predict(served, body)
    assert got_status == status
    assert message in got_body["message"]


def test_missing_or_wrong_api_key_is_forbidden(served: LocalCloud) -> None:
    assert predict(served, {"records": [GOOD]}, key=None) == (403, {"message": "Forbidden"})
    assert predict(served, {"records": [GOOD]}, key="not-a-key") == (403, {"message": "Forbidden"})


def test_unknown_route_answers_like_api_gateway(served: LocalCloud) -> None:
    assert served.gateway is not None
    status, body = post_json(f"{served.gateway.url()}/nowhere", {}, api_key=served.gateway.api_key())
    assert (status, body) == (403, {"message": "Missing Authentication Token"})


def get_json(cloud: LocalCloud, path: str) -> tuple[int, Any]:
    import json
    import urllib.request

    assert cloud.gateway is not None
    request = urllib.request.Request(f"{cloud.gateway.url()}{path}", headers={"x-api-key": cloud.gateway.api_key()})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def captured_lines(cloud: LocalCloud) -> list[dict[str, Any]]:
    s3 = cloud.client("s3")
    bucket = cloud.runtime.functions[cloud.function_name("FunctionsInference")].environment["MLOPS_CAPTURE_BUCKET"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="captures/").get("Contents", [])]
    return [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]


def test_predictions_are_captured_through_the_log_subscription_as_json_lines_for_monitoring(
    served: LocalCloud,
) -> None:
    # When a request is answered (the dev stage captures every one)
    status, body = predict(served, {"records": [GOOD, {**GOOD, "wind": 9.0}]})
    assert status == 200
    # Then its capture line went from the function's log, through the subscription filter and the
    # stream's processors, to the Captures bucket, and the monitor reads the predictions from it
    (line,) = [line for line in captured_lines(served) if body["predictions"][0]["prediction_id"] in json.dumps(line)]
    assert line["mlops_capture"] == "v1"
    by_id = {record["prediction_id"]: record for record in line["records"]}
    first, second = (by_id[p["prediction_id"]] for p in body["predictions"])
    assert first["features"] == GOOD
    assert second["features"] == {**GOOD, "wind": 9.0}
    assert (second["model_name"], second["model_version"]) == ("seattle-weather", 1)
    assert second["prediction"]["label"] == body["predictions"][1]["label"]
    assert second["timestamp"].endswith("+00:00")
    frame, rejected = parse_captures(json.dumps(line), "s3://captures")
    assert rejected == [] and frame["prediction_id"].tolist() == [p["prediction_id"] for p in body["predictions"]]


def test_feedback_is_stored_for_a_prediction(served: LocalCloud) -> None:
    _, body = predict(served, {"records": [GOOD]})
    prediction_id = body["predictions"][0]["prediction_id"]
    assert served.gateway is not None
    status, stored = post_json(
        f"{served.gateway.url()}/feedback",
        {"prediction_id": prediction_id, "label": "rain"},
        api_key=served.gateway.api_key(),
    )
    assert status == 202
    bucket = served.runtime.functions[served.function_name("FunctionsInference")].environment["MLOPS_CAPTURE_BUCKET"]
    line = served.client("s3").get_object(Bucket=bucket, Key=stored["stored"])["Body"].read().decode()
    assert '"label":"rain"' in line and prediction_id in line


def test_many_labels_are_stored_in_one_request(served: LocalCloud) -> None:
    _, body = predict(served, {"records": [GOOD, GOOD]})
    ids = [p["prediction_id"] for p in body["predictions"]]
    assert served.gateway is not None
    status, stored = post_json(
        f"{served.gateway.url()}/feedback",
        {"labels": [{"prediction_id": ids[0], "label": "rain"}, {"prediction_id": ids[1], "label": "sun"}]},
        api_key=served.gateway.api_key(),
    )
    assert (status, stored["labels"]) == (202, 2)
    bucket = served.runtime.functions[served.function_name("FunctionsInference")].environment["MLOPS_CAPTURE_BUCKET"]
    lines = served.client("s3").get_object(Bucket=bucket, Key=stored["stored"])["Body"].read().decode().splitlines()
    assert [json.loads(line)["prediction_id"] for line in lines] == ids


# A well-formed prediction id (a UUID) that the API never issued.
NEVER_ISSUED = "8771bd76-7034-45a4-bc1a-ca97d7f4535d"


@pytest.fixture(scope="module")
def issued(served: LocalCloud) -> str:
    """A prediction id the API issued."""
    status, body = predict(served, {"records": [GOOD]})
    assert status == 200
    return str(body["predictions"][0]["prediction_id"])


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"prediction_id": "nope", "label": "rain"}, 400, "prediction_id: not a prediction id"),
        ({"prediction_id": "ISSUED", "label": "hail"}, 422, "'hail' is not one of"),
        ({"label": "rain"}, 400, "prediction_id"),
        (
            {"labels": [{"prediction_id": "ISSUED", "label": "sun"}, {"prediction_id": "ISSUED", "label": "hail"}]},
            422,
            "labels[1].label: 'hail' is not one of",
        ),
        ({"labels": []}, 400, "should be non-empty"),
        (
            {"labels": [{"prediction_id": "ISSUED", "label": "sun"}], "prediction_id": "ISSUED"},
            400,
            "send either 'prediction_id' and 'label', or 'labels'",
        ),
        # An id never issued (a typo, a made-up UUID, another model's or stage's id) is not stored: 404
        (
            {"prediction_id": NEVER_ISSUED, "label": "rain"},
            404,
            f"prediction_id: {NEVER_ISSUED} was never issued by model 'seattle-weather'",
        ),
        (
            {"labels": [{"prediction_id": "ISSUED", "label": "sun"}, {"prediction_id": NEVER_ISSUED, "label": "sun"}]},
            404,
            f"labels[1].prediction_id: {NEVER_ISSUED} was never issued",
        ),
    ],
)
def test_bad_feedback_is_refused(served: LocalCloud, issued: str, body: Any, status: int, message: str) -> None:
    assert served.gateway is not None
    sent = json.loads(json.dumps(body).replace("ISSUED", issued))
    got = post_json(f"{served.gateway.url()}/feedback", sent, api_key=served.gateway.api_key())
    assert got[0] == status
    assert message in got[1]["message"]


def post_raw(cloud: LocalCloud, path: str, body: str, **headers: str) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as it is written (no JSON encoding by the client) with the API key and ``headers``."""
    import urllib.error
    import urllib.request

    assert cloud.gateway is not None
    sent = {"x-api-key": cloud.gateway.api_key(), "Content-Type": "application/json", **headers}
    request = urllib.request.Request(f"{cloud.gateway.url()}{path}", data=body.encode(), method="POST", headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def record(value: str) -> str:
    return '{"records": [{"precipitation": VALUE, "temp_max": 11.0, "temp_min": 4.0, "wind": 5.2}]}'.replace(
        "VALUE", value
    )


# Hostile JSON through the gateway: each once a 500 or silently accepted, now a 4xx naming the field.
PROBES = [
    (
        "400-digit integer",
        "/predict",
        record("9" * 400),
        400,
        "records[0].precipitation: number 999999999999...(400 digits) is too large for a 64-bit float",
    ),
    ("1e400", "/predict", record("1e400"), 400, "records[0].precipitation: number 1e400 is too large"),
    ("NaN", "/predict", record("NaN"), 400, "records[0].precipitation: NaN is not a JSON number"),
    ("Infinity", "/predict", record("Infinity"), 400, "records[0].precipitation: Infinity is not a JSON number"),
    (
        "nested 40 deep",
        "/predict",
        record("[" * 40 + "]" * 40),
        400,
        "records[0].precipitation[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
        "[0]: nested deeper than 32 levels",
    ),
    (
        "lone surrogate",
        "/predict",
        '{"entities": [{"station_id": "\\ud800"}]}',
        400,
        "entities[0].station_id: invalid unicode: a lone surrogate '\\ud800'",
    ),
    (
        "lone surrogate name",
        "/predict",
        '{"records": [{"\\udc00": 1}]}',
        400,
        "records[0].\\udc00: field name: invalid unicode",
    ),
    ("duplicate field", "/predict", record('1, "wind": 3'), 400, "records[0].wind: field given twice in one object"),
    (
        "entity id null",
        "/predict",
        '{"entities": [{"station_id": null}]}',
        400,
        "entities[0].station_id: expected a string or an integer entity id, got NoneType",
    ),
    (
        "entity id of 300 characters",
        "/predict",
        '{"entities": [{"station_id": "%s"}]}'.replace("%s", "x" * 300),
        400,
        "entities[0].station_id: entity id of 300 characters, the limit is 256",
    ),
    (
        "label: 400-digit integer",
        "/feedback",
        f'{{"prediction_id": "{NEVER_ISSUED}", "label": {"9" * 400}}}',
        400,
        "label: ",
    ),
    (
        "label: lone surrogate",
        "/feedback",
        f'{{"prediction_id": "{NEVER_ISSUED}", "label": "\\udfff"}}',
        400,
        "label: invalid unicode: a lone surrogate '\\udfff'",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_hostile_json_gets_a_4xx_naming_the_field(
    served: LocalCloud, path: str, body: str, status: int, message: str
) -> None:
    got_status, answer = post_raw(served, path, body)
    got_message = answer["message"]
    assert (got_status, "\n" in got_message) == (status, False)
    assert message in got_message


def test_model_route_describes_the_serving_version(served: LocalCloud) -> None:
    status, body = get_json(served, "/model")
    assert status == 200
    assert (body["name"], body["version"]) == ("seattle-weather", 1)
    assert body["metrics"]["accuracy"] > 0.6
    assert len(body["artifact_sha256"]) == 64
    assert body["runtime"] == "onnx"


def test_openapi_document_is_served_and_checked_in(served: LocalCloud) -> None:
    from pathlib import Path

    from functions.handlers.inference import openapi_document

    # The function documents its model from the signature it serves; the CLI from the project's declaration (the
    # document's validity: tests/unit/test_api_hardening.py)
    status, document = get_json(served, "/openapi.json")
    assert status == 200
    assert {"/predict", "/feedback", "/models/seattle-weather/predict", "/openapi.json"} <= set(document["paths"])
    assert document == json.loads(openapi_document())
    checked_in = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    assert checked_in == document, "docs/openapi.json is stale: run `mlops openapi > docs/openapi.json`"


def canary_samples(cloud: LocalCloud, metric: str) -> int:
    """How many values of a canary metric (functions/handlers/canary_metrics.py) CloudWatch holds."""
    from datetime import UTC, datetime, timedelta

    cloudwatch = cloud.client("cloudwatch")
    function = cloud.runtime.functions[cloud.function_name("FunctionsInference")]
    namespace = function.environment["POWERTOOLS_METRICS_NAMESPACE"]
    now = datetime.now(UTC)
    # As the handler emits them (canary_metrics.py): by serving version (an unpinned function's is "latest")
    dimensions = [
        {"Name": "ModelVersion", "Value": "latest"},
        {"Name": "service", "Value": function.environment["POWERTOOLS_SERVICE_NAME"]},
    ]
    stats = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=now - timedelta(days=2),
        EndTime=now + timedelta(days=2),
        Period=86400,
        Statistics=["SampleCount"],
    )
    total = sum(point["SampleCount"] for point in stats["Datapoints"])
    return int(total)


def test_a_smoke_test_header_sent_through_the_gateway_is_counted_in_the_canary_metrics(served: LocalCloud) -> None:
    from functions.rollout.canary import proxy_event

    assert served.gateway is not None
    before = canary_samples(served, "Latency"), canary_samples(served, "BaselineAgreement")
    # When a client sends the header the smoke test was once told apart by
    status, _ = post_raw(served, "/predict", json.dumps({"records": [GOOD]}), **{"x-mlops-smoke-test": "1"})
    assert status == 200
    # Then its request is counted like any other (a header cannot keep requests out of a canary's metrics)
    after_client = canary_samples(served, "Latency"), canary_samples(served, "BaselineAgreement")
    assert after_client == (before[0] + 1, before[1] + 1)
    # And the pre-traffic hook's direct invocation (marked in the requestContext, which API Gateway builds) is not
    lambda_ = served.client("lambda")
    event = proxy_event("POST", "/predict", {"records": [GOOD]})
    answer = json.loads(lambda_.invoke(FunctionName=served.function_name("FunctionsInference"),
                                       Payload=json.dumps(event).encode())["Payload"].read())  # fmt: skip
    assert answer["statusCode"] == 200
    assert (canary_samples(served, "Latency"), canary_samples(served, "BaselineAgreement")) == after_client


def test_entity_ids_read_online_features_with_per_entity_status(served: LocalCloud) -> None:
    from datetime import UTC, datetime, timedelta

    import pandas as pd

    from tests.projects import seattle

    DAILY_WEATHER = seattle().feature_view("daily_weather", 1)
    from functions.feature_store.online_store import OnlineStore

    # Given fresh features for one station and stale ones for another in the online store
    table = served.output("FeatureOnlineTableName")
    now = datetime.now(UTC)
    rows = pd.DataFrame([
        {"station_id": "seattle", "event_timestamp": now - timedelta(hours=3), "created_timestamp": now,
         **GOOD, "weather": "rain", "temp_range": 7.0},
        {"station_id": "tacoma", "event_timestamp": now - timedelta(days=9), "created_timestamp": now,
         **GOOD, "weather": "sun", "temp_range": 7.0},
    ])  # fmt: skip
    OnlineStore(served.client("dynamodb"), table).write(DAILY_WEATHER, rows)
    # When predictions are asked by entity id
    entities = [{"station_id": "seattle"}, {"station_id": "tacoma"}, {"station_id": "nowhere"}]
    status, body = predict(served, {"entities": entities})
    # Then each entity has its status; only the present one is predicted, from its online features
    assert status == 200
    seattle, tacoma, nowhere = body["predictions"]
    assert (seattle["status"], tacoma["status"], nowhere["status"]) == ("PRESENT", "EXPIRED", "NOT_FOUND")
    assert seattle["features"] == GOOD and seattle["label"] in {"drizzle", "fog", "rain", "snow", "sun"}
    assert "label" not in tacoma and "label" not in nowhere
    # And the answered prediction is captured like one from values (features as read), so feedback can join it
    [line] = [line for line in captured_lines(served) if seattle["prediction_id"] in json.dumps(line)]
    [record] = line["records"]
    assert record["prediction_id"] == seattle["prediction_id"] and record["features"] == GOOD
    assert record["prediction"]["label"] == seattle["label"]


def test_records_and_entities_together_are_refused(served: LocalCloud) -> None:
    status, body = predict(served, {"records": [GOOD], "entities": [{"station_id": "seattle"}]})
    assert status == 400
    assert "exactly one of 'records'" in body["message"]


def test_a_derandomized_fuzz_of_the_served_document_finds_no_server_error_or_undocumented_answer(
    served: LocalCloud,
) -> None:
    from benchmarks.bench_fuzz import CHECKS, fuzz, served_document

    assert served.gateway is not None
    url, key = served.gateway.url(), served.gateway.api_key()
    # Given the document the API serves, when schemathesis sends a few bodies it refuses to each POST route and a
    # few it allows to /predict (the benchmark sends 1,200 to every route and both kinds: benchmarks/bench_fuzz.py)
    targets = (("/predict", "negative"), ("/feedback", "negative"), ("/predict", "positive"))
    document = served_document(url, key)
    # (only the targeted paths are loaded: schemathesis resolves every operation of what it is given)
    document["paths"] = {path: spec for path, spec in document["paths"].items() if path in dict(targets)}
    result = fuzz(url, key, document, cases=6, seed=0, targets=targets)
    # Then no answer is a 5xx, an undocumented status or body, or a negative case accepted
    assert result.cases == 6 and result.server_errors == 0
    assert {check: result.failed(check) for check in CHECKS} == dict.fromkeys(CHECKS, 0), result.failures
