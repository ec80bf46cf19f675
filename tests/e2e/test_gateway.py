"""POST /predict over HTTP through the local gateway built from the synthesized API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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
        ({"rows": [GOOD]}, 400, "records"),
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
