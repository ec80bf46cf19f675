"""The local gateway invokes its Lambda proxy integration as API Gateway does: through the alias, by weight."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from botocore.exceptions import ClientError

from mlops.demo import post_json
from mlops.local import LocalCloud
from mlops.local.gateway import body_problem
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


def call(cloud: LocalCloud, method: str, body: bytes | None = None) -> tuple[int, bytes]:
    assert cloud.gateway is not None
    request = Request(f"{cloud.gateway.url()}/hello", data=body, method=method)
    try:
        with urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("method", ["GET", "PUT", "OPTIONS", "TRACE"])
def test_a_method_the_route_does_not_define_gets_api_gateways_403(api: LocalCloud, method: str) -> None:
    # Given /hello defines POST only, When another method asks, Then API Gateway's answer, as JSON
    assert call(api, method) == (403, b'{"message": "Missing Authentication Token"}')


def test_head_gets_the_status_without_a_body(api: LocalCloud) -> None:
    assert call(api, "HEAD") == (403, b"")


def test_a_body_over_10_mb_is_refused_by_the_gateway_before_the_function(api: LocalCloud) -> None:
    function = api.runtime.functions[api.function_name("Proxy")]
    assert call(api, "POST", b" " * (10 * 1024 * 1024 + 1)) == (413, b'{"message": "Request Too Long"}')
    assert function.invocations == 0


def test_an_event_over_lambdas_6_mib_fails_the_integration_and_never_runs_the_function(api: LocalCloud) -> None:
    # Given a 7 MB body (under API Gateway's 10 MB, over Lambda's 6 MiB synchronous payload)
    function = api.runtime.functions[api.function_name("Proxy")]
    status, body = call(api, "POST", b'{"pad": "' + b"x" * (7 * 1024 * 1024) + b'"}')
    # Then API Gateway answers as for an integration Lambda refused, and the handler never ran
    assert (status, body) == (500, b'{"message": "Internal server error"}')
    assert function.invocations == 0
    # And a direct synchronous Invoke of that size gets Lambda's own error
    with pytest.raises(ClientError, match="RequestEntityTooLargeException"):
        api.client("lambda").invoke(FunctionName=api.function_name("Proxy"), Payload=b'"' + b"x" * 6_291_455 + b'"')


@pytest.mark.parametrize("depth", [50, 100_000])
def test_a_deeply_nested_body_is_a_clear_400_from_the_request_validator(depth: int) -> None:
    # Given a body model (the API's request validator) and JSON nested past what a parser or validator recurses
    schema = {"type": "object", "properties": {"records": {"type": "array", "items": {"type": "object"}}}}
    body = b'{"records": ' + b"[" * depth + b"]" * depth + b"}"
    # Then the validator answers what is wrong, in one line, instead of dropping the connection
    problem = body_problem(body, schema)
    assert problem is not None and "\n" not in problem
    assert ("nested too deeply" in problem) == (depth > 50)
