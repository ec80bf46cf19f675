"""Lambda versions and weighted aliases for the local cloud.

moto stores published versions (each with its own copy of the configuration,
environment included) and aliases with a ``RoutingConfig``, but an invoke
through an alias always reaches the alias's main version. Here an alias with
``AdditionalVersionWeights`` routes each invocation by weight, as Lambda
does, with a seedable random generator so tests are repeatable; every routed
invocation is counted per version. ``Invoke``'s ``Qualifier`` (which moto
drops, reading a lower-case parameter boto3 never sends) selects the version.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend, lambda_backends
from moto.awslambda.responses import LambdaResponse

from mlops.local import moto_patches
from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext


def split_function_name(function_name: str, qualifier: str | None) -> tuple[str, str | None]:
    """(name, qualifier) from a name, ``name:qualifier``, or a function ARN with or without a qualifier."""
    if function_name.startswith("arn:"):
        parts = function_name.split(":")
        return parts[6], parts[7] if len(parts) > 7 else qualifier
    if ":" in function_name:
        name, _, own = function_name.partition(":")
        return name, own
    return function_name, qualifier


class WeightedAliases:
    def __init__(self, *, seed: int | None = 0) -> None:
        self.random = random.Random(seed)
        self.routed: Counter[tuple[str, str]] = Counter()

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = moto_patches.original("lambda.route_alias_weights")
        routing = self

        def invoke(  # noqa: PLR0917 - moto's LambdaBackend.invoke signature
            backend: LambdaBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> Any:
            size = len(body or b"")
            if size > MAX_REQUEST_BYTES:
                raise RequestTooLarge(size)
            name, wanted = split_function_name(function_name, qualifier)
            version = routing.choose(backend, name, wanted)
            return original(backend, name, version, body, headers, response_headers)

        original_response = moto_patches.original("lambda.read_qualifier")

        def invoke_response(response: LambdaResponse) -> Any:
            # boto3 sends ?Qualifier=; moto reads only ?qualifier= and would invoke $LATEST.
            if "qualifier" not in response.querystring and "Qualifier" in response.querystring:
                response.querystring["qualifier"] = response.querystring["Qualifier"]
            return original_response(response)

        with moto_patches.patched({"lambda.route_alias_weights": invoke, "lambda.read_qualifier": invoke_response}):
            yield

    def choose(self, backend: LambdaBackend, name: str, qualifier: str | None) -> str | None:
        """The version an invocation of ``name:qualifier`` runs: by weight for a split alias."""
        aliases = backend._lambdas._get_function_aliases(name) if qualifier else {}
        alias = aliases.get(qualifier) if qualifier else None
        if alias is None:
            return qualifier
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
        draw, chosen = self.random.random(), alias.function_version
        for version, weight in weights.items():
            if draw < float(weight):
                chosen = version
                break
            draw -= float(weight)
        self.routed[(name, str(chosen))] += 1
        return str(chosen)


# Lambda's synchronous payload limits: requests up to 6 MiB, responses 100 bytes more (moto's Invoke API
# applies the response check; the request one is applied here).
MAX_REQUEST_BYTES = 6_291_456
MAX_RESPONSE_BYTES = 6_291_556


class RequestTooLarge(LambdaClientError):
    """What Lambda answers a synchronous Invoke whose payload passes 6 MiB (HTTP 413)."""

    code = 413

    def __init__(self, size: int) -> None:
        super().__init__(
            "RequestEntityTooLargeException",
            f"{size} byte payload is too large for the RequestResponse invocation type "
            f"(limit {MAX_REQUEST_BYTES} bytes)",
        )


def invoke_in_backend(account: str, region: str, function: str, payload: bytes) -> tuple[bytes, bool]:
    """A synchronous Invoke as an AWS service (API Gateway) makes it: (response payload, function errored).

    It goes through moto's Lambda backend, as ``lambda.invoke`` does, so the function or alias ARN
    resolves the same way (a weighted alias routes by weight and is counted in ``WeightedAliases``,
    each version runs with its own configuration) and the in-process runtime runs the handler; it
    skips only the boto3 client's request and response serialization, milliseconds per request.
    """
    response_headers: dict[str, str] = {}
    body = lambda_backends[account][region].invoke(function, None, payload, {}, response_headers)
    if body is None:
        raise KeyError(f"no Lambda function {function!r}")
    data = body if isinstance(body, bytes) else body.encode()
    if len(data) > MAX_RESPONSE_BYTES:
        return b'{"errorType": "Function.ResponseSizeTooLarge"}', True
    return data, "x-amz-function-error" in response_headers


def publish_version(lambda_client: Any, props: dict[str, Any]) -> PhysicalResource:
    """AWS::Lambda::Version: Ref is the version ARN, ``Version`` the number."""
    kwargs = {"FunctionName": props["FunctionName"]}
    if "Description" in props:
        kwargs["Description"] = props["Description"]
    published = lambda_client.publish_version(**kwargs)
    return PhysicalResource(published["FunctionArn"], {"Version": published["Version"]})


def create_alias(lambda_client: Any, props: dict[str, Any]) -> PhysicalResource:
    """AWS::Lambda::Alias: Ref is the alias ARN."""
    kwargs: dict[str, Any] = {
        "FunctionName": props["FunctionName"],
        "Name": props["Name"],
        "FunctionVersion": str(props["FunctionVersion"]),
    }
    if "RoutingConfig" in props:
        kwargs["RoutingConfig"] = props["RoutingConfig"]
    alias = lambda_client.create_alias(**kwargs)
    return PhysicalResource(alias["AliasArn"], {"AliasArn": alias["AliasArn"]})


def provisioners(context: ProvisioningContext) -> Provisioners:
    return {
        "AWS::Lambda::Version": lambda _stack, _logical_id, props: publish_version(context.client("lambda"), props),
        "AWS::Lambda::Alias": lambda _stack, _logical_id, props: create_alias(context.client("lambda"), props),
    }
