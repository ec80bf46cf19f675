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


GOOD_ID = "8771bd76-7034-45a4-bc1a-ca97d7f4535d"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"prediction_id": "nope", "label": "rain"}, 400, "prediction_id: not a prediction id"),
        ({"prediction_id": GOOD_ID, "label": "hail"}, 422, "'hail' is not one of"),
        ({"label": "rain"}, 400, "prediction_id"),
        ({"labels": [{"prediction_id": GOOD_ID, "label": "sun"}, {"prediction_id": GOOD_ID, "label": "hail"}]}, 422,
         "labels[1].label: 'hail' is not one of"),
        ({"labels": []}, 400, "should be non-empty"),
        ({"labels": [{"prediction_id": GOOD_ID, "label": "sun"}], "prediction_id": GOOD_ID}, 400,
         "send either 'prediction_id' and 'label', or 'labels'"),
    ],
)
def test_bad_feedback_is_refused(served: LocalCloud, body: Any, status: int, message: str) -> None:
    assert served.gateway is not None
    got = post_json(f"{served.gateway.url()}/feedback", body, api_key=served.gateway.api_key())
    assert got[0] == status
    assert message in got[1]["message"]


def test_model_route_describes_the_serving_version(served: LocalCloud) -> None:
    status, body = get_json(served, "/model")
    assert status == 200
    assert (body["name"], body["version"]) == ("seattle-weather", 1)
    assert body["metrics"]["accuracy"] > 0.6
    assert len(body["artifact_sha256"]) == 64
    assert body["runtime"] == "onnx"


def test_openapi_document_is_served_and_checked_in(served: LocalCloud) -> None:
    import json
    from pathlib import Path

    status, document = get_json(served, "/openapi.json")
    assert status == 200
    assert set(document["paths"]) >= {"/predict", "/feedback", "/model", "/health"}
    checked_in = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    assert checked_in == document, "docs/openapi.json is stale: run `mlops openapi > docs/openapi.json`"


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
