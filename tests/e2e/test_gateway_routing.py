"""The local gateway invokes its Lambda proxy integration as API Gateway does: through the alias, by weight."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.demo import post_json
from mlops.local import LocalCloud
from tests.fixtures.assemblies import api_to_alias, write_assembly


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(write_assembly(tmp_path, api_to_alias())) as cloud:
        yield cloud


def hello(cloud: LocalCloud, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    assert cloud.gateway is not None
    return post_json(f"{cloud.gateway.url()}/hello", body, api_key=None)


def test_alias_version_answers_with_its_own_environment(api: LocalCloud) -> None:
    assert hello(api, {}) == (200, {"version": "1", "color": "blue"})


def test_weighted_alias_splits_gateway_traffic_between_versions(api: LocalCloud) -> None:
    # Given version 2 with another environment, taking 30% of alias live (as a CodeDeploy canary sets it)
    lambda_ = api.client("lambda")
    name = api.function_name("Proxy")
    lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": {"FIXTURE_COLOR": "green"}})
    v2 = lambda_.publish_version(FunctionName=name)["Version"]
    lambda_.update_alias(
        FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {v2: 0.3}}
    )

    # When 100 requests come through the gateway
    answers = [hello(api, {}) for _ in range(100)]

    # Then both versions answer, each with its own environment, and the alias's routing counted every request
    assert {status for status, _ in answers} == {200}
    seen = Counter((body["version"], body["color"]) for _, body in answers)
    assert set(seen) == {("1", "blue"), (v2, "green")}
    assert 10 <= seen[(v2, "green")] <= 50
    assert api.aliases.routed[(name, v2)] == seen[(v2, "green")]
    assert api.aliases.routed[(name, "1")] == seen[("1", "blue")]


@pytest.mark.parametrize("asked", [{"fail": True}, {"malformed": True}])
def test_function_error_or_malformed_answer_is_a_502(api: LocalCloud, asked: dict[str, bool]) -> None:
    assert hello(api, asked) == (502, {"message": "Internal server error"})
