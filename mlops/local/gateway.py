"""API Gateway (REST) for the local cloud: an HTTP server on loopback.

Routes, API-key requirements, usage plans, request validators with their
JSON-schema models, gateway responses and Lambda proxy integrations all come
from the synthesized template. A request becomes the API Gateway proxy event
(v1) that Lambda receives in AWS, and is passed to ``invoke`` (the local cloud's
synchronous Invoke through moto's Lambda backend: alias and weighted-alias
resolution as for ``lambda.invoke``, no boto3 serialization), so the in-process
runtime runs the real handler. Behaviour as in AWS:

- unknown route, or a method the route does not define (``OPTIONS``, ``TRACE``, ``HEAD`` included)
  -> 403 ``Missing Authentication Token``;
- a body over 10 MB -> 413 ``Request Too Long``; an event over Lambda's 6 MiB synchronous limit
  (``RequestEntityTooLargeException``) -> 500 ``Internal server error``, as API Gateway answers an
  integration Lambda refused;
- missing or unknown ``x-api-key`` on a key-required method -> 403 ``Forbidden``;
- body failing the method's model -> 400 with ``BAD_REQUEST_BODY``'s template;
- function error or malformed proxy response -> 502 ``Internal server error``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

from mlops.local.assembly import AssemblyError
from mlops.local.intrinsics import PhysicalResource
from mlops.local.lambda_versions import RequestTooLarge
from mlops.local.provisioning import Provisioner, Provisioners

# API Gateway's REST payload limit (10 MB, a hard quota).
MAX_BODY_BYTES = 10 * 1024 * 1024
_LAMBDA_URI = re.compile(r"functions/(?P<arn>arn:[^/]+)/invocations$")

# Synchronous Lambda Invoke: (function or alias ARN, event JSON) -> (response payload, function errored).
Invoke = Callable[[str, bytes], tuple[bytes, bool]]


@dataclass
class Method:
    http_method: str
    resource_path: str
    resource_id: str
    function_arn: str
    api_key_required: bool
    iam_auth: bool
    validate_body: bool
    model_schema: dict[str, Any] | None


@dataclass
class RestApi:
    api_id: str
    name: str
    stage: str = "prod"
    methods: list[Method] = field(default_factory=list)
    api_keys: set[str] = field(default_factory=set)
    bad_request_template: str | None = None


def _route_regex(resource_path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{([^}+]+)\+\}", r"(?P<\1>.+)", resource_path)
    pattern = re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(f"^{pattern}$")


@dataclass
class GatewayResponse:
    status: int
    body: bytes
    headers: dict[str, str]


class LocalGateway:
    def __init__(
        self, *, invoke: Invoke, account: str, region: str, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.apis: dict[str, RestApi] = {}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._invoke = invoke
        self._account = account
        self._region = region
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0

    # -- serving ---------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = gateway.handle(
                    self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
                )
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":  # a HEAD answer has headers only
                    self.wfile.write(response.body)

            # Every method reaches the routing, which answers what API Gateway answers (not http.server's 501 page).
            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return  # access is recorded by the gateway, not printed

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        # shutdown() waits for serve_forever's next poll: poll often, so stopping a cloud takes milliseconds.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="local-gateway", daemon=True
        )
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local gateway is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, api_name: str | None = None) -> str:
        """``http://127.0.0.1:PORT/<api id>/<stage>`` for the API (the only one if not named)."""
        api = self._api(api_name)
        return f"{self.base_url}/{api.api_id}/{api.stage}"

    def api_key(self, api_name: str | None = None) -> str:
        keys = sorted(self._api(api_name).api_keys)
        if not keys:
            raise KeyError("the API has no API key")
        return keys[0]

    def _api(self, name: str | None) -> RestApi:
        if name is None:
            if len(self.apis) != 1:
                raise KeyError(f"name the API: {', '.join(a.name for a in self.apis.values())}")
            return next(iter(self.apis.values()))
        for api in self.apis.values():
            if name in (api.name, api.api_id):
                return api
        raise KeyError(f"no API named {name!r}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            if self._thread is not None:
                self._thread.join()

    # -- request handling -------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> GatewayResponse:
        self.requests += 1
        if len(body) > MAX_BODY_BYTES:
            return _json(413, {"message": "Request Too Long"})
        split = urlsplit(raw_path)
        parts = split.path.strip("/").split("/", 2)
        api = self.apis.get(parts[0]) if parts else None
        if api is None or len(parts) < 2 or parts[1] != api.stage:
            return _json(403, {"message": "Missing Authentication Token"})
        path = "/" + (parts[2] if len(parts) > 2 else "")
        route: Method | None = None
        path_parameters: dict[str, str] = {}
        for candidate in api.methods:
            match = _route_regex(candidate.resource_path).match(path)
            if match and candidate.http_method in (method, "ANY"):
                route, path_parameters = candidate, match.groupdict()
                break
        if route is None:
            return _json(403, {"message": "Missing Authentication Token"})
        lowered = {k.lower(): v for k, v in headers.items()}
        api_key = lowered.get("x-api-key")
        if route.iam_auth and not lowered.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return _json(403, {"message": "Missing Authentication Token"})
        if route.api_key_required and api_key not in api.api_keys:
            return _json(403, {"message": "Forbidden"})
        if route.validate_body and route.model_schema is not None:
            problem = body_problem(body, route.model_schema)
            if problem is not None:
                return self._bad_request_body(api, problem)
        event = self._event(
            api,
            route,
            method,
            split.path,
            split.query,
            headers=headers,
            body=body,
            path_parameters=path_parameters,
            source_ip=source_ip,
            api_key=api_key,
        )
        try:
            payload, function_error = self._invoke(route.function_arn, json.dumps(event).encode())
        except RequestTooLarge:
            return _json(500, {"message": "Internal server error"})
        if function_error:
            return _json(502, {"message": "Internal server error"})
        try:
            proxy = json.loads(payload)
            status = int(proxy["statusCode"])
        except (ValueError, KeyError, TypeError):
            return _json(502, {"message": "Internal server error"})
        out_headers = {k: str(v) for k, v in (proxy.get("headers") or {}).items()}
        for name, values in (proxy.get("multiValueHeaders") or {}).items():
            out_headers[name] = ", ".join(str(v) for v in values)
        text = proxy.get("body") or ""
        data = base64.b64decode(text) if proxy.get("isBase64Encoded") else text.encode()
        return GatewayResponse(status, data, out_headers)

    def _bad_request_body(self, api: RestApi, problem: str) -> GatewayResponse:
        if api.bad_request_template:
            escaped = json.dumps(problem)[1:-1]
            return GatewayResponse(
                400,
                api.bad_request_template.replace("$context.error.validationErrorString", escaped).encode(),
                {"Content-Type": "application/json"},
            )
        return _json(400, {"message": "Invalid request body"})

    def _event(
        self,
        api: RestApi,
        route: Method,
        method: str,
        full_path: str,
        query: str,
        *,
        headers: dict[str, str],
        body: bytes,
        path_parameters: dict[str, str],
        source_ip: str,
        api_key: str | None,
    ) -> dict[str, Any]:
        multi_query = parse_qs(query, keep_blank_values=True) if query else {}
        request_id = str(uuid.uuid4())
        return {
            "resource": route.resource_path,
            "path": full_path.split(f"/{api.stage}", 1)[1] or "/",
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": self._account,
                "apiId": api.api_id,
                "resourceId": route.resource_id,
                "resourcePath": route.resource_path,
                "httpMethod": method,
                "path": f"/{api.stage}{full_path.split(f'/{api.stage}', 1)[1] or '/'}",
                "stage": api.stage,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTimeEpoch": int(self._clock().timestamp() * 1000),
                "protocol": "HTTP/1.1",
                "domainName": "127.0.0.1",
                "identity": {"sourceIp": source_ip, "apiKey": api_key, "userAgent": headers.get("User-Agent")},
            },
            "body": body.decode("utf-8", errors="replace") if body else None,
            "isBase64Encoded": False,
        }


def body_problem(body: bytes, schema: dict[str, Any]) -> str | None:
    """What the request validator finds wrong with ``body`` against the method's model (JSON schema draft 4)."""
    try:
        document = json.loads(body or b"null")
    except ValueError as exc:
        return f"[Invalid JSON in request body: {exc}]"
    except RecursionError:
        return "[Invalid JSON in request body: nested too deeply]"
    try:
        errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    except RecursionError:
        # A document deep enough to exhaust the validator is refused as the invalid body it is (a 400), not
        # left to drop the connection.
        return "[Invalid request body: nested too deeply to validate]"
    if not errors:
        return None
    return "[" + ", ".join(f"{'/'.join(str(p) for p in e.path) or 'body'}: {e.message}" for e in errors) + "]"


def _json(status: int, body: dict[str, Any]) -> GatewayResponse:
    return GatewayResponse(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


def lambda_arn_from_integration_uri(uri: str) -> str:
    match = _LAMBDA_URI.search(uri)
    if not match:
        raise ValueError(f"integration URI {uri!r} is not a Lambda proxy integration")
    return match.group("arn")


# -- provisioners: API Gateway parts, collected, then assembled into the local gateway --------------------
class RestApiParts:
    """The template's API Gateway resources, collected as they are provisioned, then assembled into
    ``gateway``'s REST APIs (``assemble``, once a stack is provisioned)."""

    def __init__(self, gateway: LocalGateway) -> None:
        self.gateway = gateway
        self.parts: dict[str, dict[str, Any]] = {}

    def rest_api(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        api_id = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]
        self.gateway.apis[api_id] = RestApi(api_id=api_id, name=props.get("Name", logical_id))
        return PhysicalResource(api_id, {"RootResourceId": f"{api_id}-root"})

    def part(self, kind: str) -> Provisioner:
        def provision(stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
            part_id = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]
            self.parts.setdefault(kind, {})[part_id] = props
            # CloudFormation's Ref on a stage is its name; on the others, an id.
            ref = props["StageName"] if kind == "Stage" else part_id
            return PhysicalResource(ref, {"ResourceId": part_id})

        return provision

    def api_key(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        key_id = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]
        # AWS generates the value at deploy time; locally a random one per cloud.
        value = props.get("Value") or secrets.token_urlsafe(30)
        self.parts.setdefault("ApiKey", {})[key_id] = {**props, "Value": value}
        return PhysicalResource(key_id, {"APIKeyId": key_id})

    def model(self, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        name = props.get("Name") or f"Model{hashlib.sha256(logical_id.encode()).hexdigest()[:8]}"
        self.parts.setdefault("Model", {})[name] = props
        return PhysicalResource(name)

    def assemble(self) -> None:
        """(Re)build every API's methods, stage, keys and responses from the parts collected so far."""
        parts = self.parts
        resources = parts.get("Resource", {})

        def path_of(resource_id: str) -> str:
            if resource_id.endswith("-root"):
                return "/"
            resource = resources[resource_id]
            parent = path_of(resource["ParentId"])
            return f"{parent.rstrip('/')}/{resource['PathPart']}"

        for api in self.gateway.apis.values():
            api.methods.clear()
        for method_id, props in parts.get("Method", {}).items():
            api = self.gateway.apis[props["RestApiId"]]
            integration = props.get("Integration", {})
            if integration.get("Type") != "AWS_PROXY":
                raise AssemblyError(f"method {method_id}: only Lambda proxy integrations are served locally")
            validator = parts.get("RequestValidator", {}).get(props.get("RequestValidatorId", ""), {})
            model_name = (props.get("RequestModels") or {}).get("application/json")
            model = parts.get("Model", {}).get(model_name) if model_name else None
            schema = model.get("Schema") if model else None
            api.methods.append(
                Method(
                    http_method=props["HttpMethod"],
                    resource_path=path_of(props["ResourceId"]),
                    resource_id=props["ResourceId"],
                    function_arn=lambda_arn_from_integration_uri(integration["Uri"]),
                    api_key_required=bool(props.get("ApiKeyRequired")),
                    iam_auth=props.get("AuthorizationType") == "AWS_IAM",
                    validate_body=bool(validator.get("ValidateRequestBody")),
                    model_schema=json.loads(schema) if isinstance(schema, str) else schema,
                )
            )
        for props in parts.get("Stage", {}).values():
            self.gateway.apis[props["RestApiId"]].stage = props["StageName"]
        for props in parts.get("GatewayResponse", {}).values():
            if props.get("ResponseType") == "BAD_REQUEST_BODY":
                template = (props.get("ResponseTemplates") or {}).get("application/json")
                self.gateway.apis[props["RestApiId"]].bad_request_template = template
        plans = parts.get("UsagePlan", {})
        for props in parts.get("UsagePlanKey", {}).values():
            key = parts["ApiKey"][props["KeyId"]]
            for stage in plans[props["UsagePlanId"]].get("ApiStages", []):
                self.gateway.apis[stage["ApiId"]].api_keys.add(key["Value"])


def provisioners(parts: RestApiParts) -> Provisioners:
    return {
        "AWS::ApiGateway::RestApi": parts.rest_api,
        "AWS::ApiGateway::Resource": parts.part("Resource"),
        "AWS::ApiGateway::Method": parts.part("Method"),
        "AWS::ApiGateway::Stage": parts.part("Stage"),
        "AWS::ApiGateway::ApiKey": parts.api_key,
        "AWS::ApiGateway::UsagePlan": parts.part("UsagePlan"),
        "AWS::ApiGateway::UsagePlanKey": parts.part("UsagePlanKey"),
        "AWS::ApiGateway::RequestValidator": parts.part("RequestValidator"),
        "AWS::ApiGateway::Model": parts.model,
        "AWS::ApiGateway::GatewayResponse": parts.part("GatewayResponse"),
    }
