"""Local IAM: every AWS call a function makes is checked against its synthesized role, as AWS checks it.

Lambda hands each function the credentials of its execution role. Here each invocation signs its requests
with an STS session of the function's role (one session per role and cloud, from moto's STS), and every
request signed with such a session is decided by moto's IAM policy evaluator
(``moto.iam.access_control``) over the policies the template attached to that role. A refused call answers
``AccessDenied`` naming the role, the action and the resource, as AWS does, and the function fails on it.

Requests signed otherwise (tests, the operator CLI, the local cloud provisioning the template) act as the
account's administrator, as an operator deploying with ``AdministratorAccess`` would.

What the evaluator decides, and what it does not:

- the action: the IAM action of the API operation (``lambda:InvokeFunction`` for ``Invoke``, the
  ``cloudwatch:`` prefix for the ``monitoring`` signing name), allow and explicit deny;
- the resource: S3 gives moto the bucket and key; for the other services the resource ARN is built here
  from the request (``_RESOURCES``); an operation whose resource is not derived here is checked on the
  action only (allowed if any statement of the role allows it on some resource);
- conditions: not decided (moto's evaluator decides ``StringEquals`` on keys it is given, and none are
  given here), so ``s3:prefix`` and ``dynamodb:Attributes`` conditions pass;
- identities: the credentials are tied to the thread of the invocation, so threads a function starts sign
  as the operator (unchecked); Step Functions' own role (service integrations) is not checked.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from botocore.credentials import Credentials, ReadOnlyCredentials
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError
from moto.iam.access_control import AssumedRoleAccessKey, IAMPolicy, PermissionResult
from moto.s3.exceptions import S3ClientError

from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext

# What tests, the CLI and the cloud itself sign with: the operator (see the module docstring).
OPERATOR = ReadOnlyCredentials("testing", "testing", "testing")

# Signing names whose IAM prefix differs.
_IAM_PREFIX = {"monitoring": "cloudwatch"}
# API operations whose IAM action has another name.
_IAM_ACTION = {("lambda", "Invoke"): "InvokeFunction", ("lambda", "InvokeAsync"): "InvokeFunction"}
# Operations AWS lets any identity call.
_ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


@dataclass(frozen=True)
class RoleSession:
    role_arn: str
    credentials: ReadOnlyCredentials


class _Identity(threading.local):
    def __init__(self) -> None:
        self.stack: list[RoleSession] = []


_identity = _Identity()
# Access key id -> the role session it belongs to, for every running cloud in the process.
_sessions: dict[str, RoleSession] = {}
_sessions_lock = threading.Lock()


def _submit_as_caller(submit: Callable[..., Future[Any]]) -> Callable[..., Future[Any]]:
    """``ThreadPoolExecutor.submit`` whose task signs as the submitting thread's caller.

    A function's own worker threads (the offline store's concurrent reads, batched online writes) act with the
    function's role in AWS, as every thread of a Lambda does; without this they would sign as the operator and
    escape the local IAM checks. Only pool tasks inherit: the Step Functions interpreter's own threads stay the
    service's, not the role of the function that started an execution."""

    @functools.wraps(submit)
    def submit_as_caller(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        caller = list(_identity.stack)
        if not caller:
            return submit(self, fn, *args, **kwargs)

        def as_caller(*inner_args: Any, **inner_kwargs: Any) -> Any:
            outer, _identity.stack = _identity.stack, list(caller)
            try:
                return fn(*inner_args, **inner_kwargs)
            finally:
                _identity.stack = outer

        return submit(self, as_caller, *args, **kwargs)

    submit_as_caller.__dict__["_as_caller"] = True
    return submit_as_caller


def inherit_caller_in_thread_pools() -> None:
    """Install ``_submit_as_caller`` once per process (idempotent)."""
    if not getattr(ThreadPoolExecutor.submit, "_as_caller", False):
        ThreadPoolExecutor.submit = _submit_as_caller(ThreadPoolExecutor.submit)  # type: ignore[method-assign]


class CallerCredentials(Credentials):
    """Credentials whose value is decided when a request is signed: the role session of the invocation
    running on this thread, else the operator's. Every botocore client made while a cloud runs gets these,
    so a client built once (and cached by the code under test) signs as whoever calls it."""

    def __init__(self) -> None:
        super().__init__(OPERATOR.access_key, OPERATOR.secret_key, OPERATOR.token, method="local-cloud")

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        return _identity.stack[-1].credentials if _identity.stack else OPERATOR


CALLER_CREDENTIALS = CallerCredentials()


class LocalIam:
    """The role sessions of one local cloud, and the patch that makes moto decide their requests."""

    def __init__(self, sts_client: Callable[[], Any]) -> None:
        self._sts = sts_client
        inherit_caller_in_thread_pools()
        self._by_role: dict[tuple[str, str], RoleSession] = {}
        self._lock = threading.Lock()

    def session(self, role_arn: str, session_name: str) -> RoleSession:
        """The STS session ``session_name`` of ``role_arn``, assumed once per cloud. Lambda names a function's
        session after the function, so the caller ARN a function sees is ``assumed-role/<role>/<function>``."""
        key = (role_arn, session_name[:64])
        with self._lock:
            if key not in self._by_role:
                assumed = self._sts().assume_role(RoleArn=role_arn, RoleSessionName=key[1])["Credentials"]
                session = RoleSession(
                    role_arn,
                    ReadOnlyCredentials(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"]),
                )
                self._by_role[key] = session
                with _sessions_lock:
                    _sessions[session.credentials.access_key] = session
            return self._by_role[key]

    @contextmanager
    def acting_as(self, role_arn: str | None, session_name: str) -> Iterator[None]:
        """Sign this thread's requests with ``role_arn``'s session ``session_name`` until the block ends (None:
        unchanged)."""
        if role_arn is None:
            yield
            return
        _identity.stack.append(self.session(role_arn, session_name))
        try:
            yield
        finally:
            _identity.stack.pop()

    def close(self) -> None:
        with _sessions_lock:
            for session in self._by_role.values():
                _sessions.pop(session.credentials.access_key, None)
        self._by_role.clear()


def caller_credentials(_session: Any) -> Credentials:
    """Replacement for ``botocore.session.Session.get_credentials`` while a cloud runs."""
    return CALLER_CREDENTIALS


def authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
    """Replacement for ``ActionAuthenticatorMixin._authenticate_and_authorize_action``: a request signed with a
    function's role session is checked against that role's policies; any other request is the operator's."""
    headers = response.headers
    # Credential=<access key id>/<date>/<region>/<service>/aws4_request
    scope = _credential_scope(headers.get("Authorization", ""))
    session = _sessions.get(scope[0]) if scope else None
    if session is None or headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    service = scope[3]
    prefix = _IAM_PREFIX.get(service, service)
    operation = response._get_action()
    checks = _checks(prefix, operation, response, resource)
    key = AssumedRoleAccessKey(
        account_id=response.current_account,
        partition="aws",
        access_key_id=session.credentials.access_key,
        headers=headers,
    )
    policies = [IAMPolicy(policy) for policy in key.collect_policies()]
    for action, resources in checks:
        if action in _ALWAYS_ALLOWED:
            continue
        for target in resources:
            if not _permitted(policies, action, target):
                raise _denied(iam_request_cls, key.arn, action, target)


def _permitted(policies: list[IAMPolicy], action: str, resource: str | None) -> bool:
    """moto's decision: any explicit deny refuses, else some allow is needed. ``resource`` None: the resource
    is not derived here, so the action is allowed if some statement allows it on any resource it names."""
    candidates = [resource] if resource is not None else _named_resources(policies)
    permitted = False
    for policy in policies:
        for candidate in candidates:
            result = policy.is_action_permitted(action, candidate)
            if result == PermissionResult.DENIED and resource is not None:
                return False
            permitted = permitted or result == PermissionResult.PERMITTED
    return permitted


def _named_resources(policies: list[IAMPolicy]) -> list[str]:
    named: list[str] = []
    for policy in policies:
        statements = policy._policy_json["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            value = statement.get("Resource", [])
            named.extend([value] if isinstance(value, str) else value)
    return named or ["*"]


def _denied(iam_request_cls: type, principal: str, action: str, resource: str | None) -> Exception:
    on = f" on resource: {resource}" if resource else ""
    if iam_request_cls.__name__ == "S3IAMRequest":
        return S3ClientError("AccessDenied", f"User: {principal} is not authorized to perform: {action}{on}")
    return AccessDeniedError(user_arn=principal, action=f"{action}{on}")


def _credential_scope(authorization: str) -> list[str]:
    match = re.search(r"Credential=([^,\s]+)", authorization)
    return match.group(1).split("/") if match else []


# -- resources ---------------------------------------------------------------------------------------------------
Check = tuple[str, list[str | None]]


def _checks(prefix: str, operation: str, response: Any, moto_resource: str) -> list[Check]:
    action = f"{prefix}:{_IAM_ACTION.get((prefix, operation), operation)}"
    if moto_resource != "*":  # moto derived it (S3 bucket and key, SQS queue)
        return [(action, [moto_resource])]
    derive = _RESOURCES.get(prefix)
    if derive is None:
        return [(action, [None])]
    context = _Request(response, response.current_account, response.region)
    return derive(context, action, operation)


class _Request:
    def __init__(self, response: Any, account: str, region: str) -> None:
        self.response = response
        self.account = account
        self.region = region
        self._body: dict[str, Any] | None = None

    @property
    def body(self) -> dict[str, Any]:
        if self._body is None:
            # DynamoDB's handler has replaced ``body`` with its parsed parameters; the others keep the JSON text.
            raw = self.response.body
            if not isinstance(raw, dict):
                try:
                    raw = json.loads(raw) if raw else {}
                except (ValueError, TypeError):
                    raw = {}
            self._body = raw if isinstance(raw, dict) else {}
        return self._body

    @property
    def path(self) -> str:
        return unquote(urlparse(self.response.uri).path)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlparse(self.response.uri).query)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


def _dynamodb(request: _Request, action: str, operation: str) -> list[Check]:
    def table(name: str, index: str | None = None) -> str:
        if name.startswith("arn:"):
            return name
        return request.arn("dynamodb", f"table/{name}" + (f"/index/{index}" if index else ""))

    body = request.body
    if operation == "TransactWriteItems":
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [
            (f"dynamodb:{kinds[kind]}", [table(spec["TableName"])])
            for item in body.get("TransactItems", [])
            for kind, spec in item.items()
            if kind in kinds
        ]
    if operation == "TransactGetItems":
        return [("dynamodb:GetItem", [table(item["Get"]["TableName"])]) for item in body.get("TransactItems", [])]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(action, [table(name) for name in body.get("RequestItems", {})])]
    if "TableName" in body:
        return [(action, [table(body["TableName"], body.get("IndexName"))])]
    return [(action, [None])]


def _states(request: _Request, action: str, _operation: str) -> list[Check]:
    body = request.body
    for key in ("stateMachineArn", "executionArn", "mapRunArn", "activityArn"):
        if key in body:
            return [(action, [body[key]])]
    return [(action, [None])]


_LAMBDA_PATH = re.compile(r"^/[0-9-]+/functions/(?P<name>[^/]+)(?:/aliases/(?P<alias>[^/]+))?")


def _lambda(request: _Request, action: str, _operation: str) -> list[Check]:
    match = _LAMBDA_PATH.match(request.path)
    if match is None:
        return [(action, [None])]
    name = match.group("name")
    qualifier = match.group("alias") or (request.query.get("Qualifier") or [None])[0]
    if not name.startswith("arn:"):
        name = request.arn("lambda", f"function:{name}")
    elif name.count(":") == 7:  # arn:aws:lambda:region:account:function:name:qualifier
        name, _, qualifier = name.rpartition(":")
    return [(action, [f"{name}:{qualifier}" if qualifier else name])]


def _events(request: _Request, action: str, operation: str) -> list[Check]:
    body = request.body

    def bus(name: str | None) -> str:
        name = name or "default"
        return name if name.startswith("arn:") else request.arn("events", f"event-bus/{name}")

    if operation == "PutEvents":
        return [(action, sorted({bus(entry.get("EventBusName")) for entry in body.get("Entries", [])}))]
    rule = body.get("Name") or body.get("Rule")
    if rule:
        bus_name = body.get("EventBusName") or "default"
        path = f"rule/{rule}" if bus_name == "default" else f"rule/{bus_name}/{rule}"
        return [(action, [request.arn("events", path)])]
    return [(action, [None])]


def _firehose(request: _Request, action: str, _operation: str) -> list[Check]:
    name = request.body.get("DeliveryStreamName")
    return [(action, [request.arn("firehose", f"deliverystream/{name}") if name else None])]


def _codedeploy(request: _Request, action: str, _operation: str) -> list[Check]:
    body = request.body
    application, group = body.get("applicationName"), body.get("deploymentGroupName")
    if application and group:
        return [(action, [request.arn("codedeploy", f"deploymentgroup:{application}/{group}")])]
    if application:
        return [(action, [request.arn("codedeploy", f"application:{application}")])]
    if "deploymentConfigName" in body:
        return [(action, [request.arn("codedeploy", f"deploymentconfig:{body['deploymentConfigName']}")])]
    return [(action, [None])]


def _batch(request: _Request, action: str, operation: str) -> list[Check]:
    body = request.body
    if operation == "SubmitJob":

        def named(kind: str, value: str) -> str:
            return value if value.startswith("arn:") else request.arn("batch", f"{kind}/{value}")

        resources: list[str | None] = [named("job-queue", body["jobQueue"])] if "jobQueue" in body else []
        if "jobDefinition" in body:
            resources.append(named("job-definition", body["jobDefinition"]))
        return [(action, resources or [None])]
    return [(action, [None])]


_RESOURCES: dict[str, Callable[[_Request, str, str], list[Check]]] = {
    "dynamodb": _dynamodb,
    "states": _states,
    "lambda": _lambda,
    "events": _events,
    "firehose": _firehose,
    "codedeploy": _codedeploy,
    "batch": _batch,
}


# -- provisioners: the roles and policies the evaluator decides over ----------------
def provisioners(context: ProvisioningContext) -> Provisioners:
    return {
        "AWS::IAM::Role": partial(_iam_role, context),
        "AWS::IAM::Policy": partial(_iam_policy, context),
    }


def _iam_role(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    iam = context.client("iam")
    name = props.get("RoleName") or context.name(stack, logical_id, 64)
    role = iam.create_role(
        RoleName=name,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        Description=props.get("Description", ""),
    )["Role"]
    for policy in props.get("Policies", []):
        iam.put_role_policy(
            RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
        )
    for arn in props.get("ManagedPolicyArns", []):
        context.notes.append(f"{stack}/{logical_id}: managed policy {arn} recorded, not attached locally")
    return PhysicalResource(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _iam_policy(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    iam = context.client("iam")
    for role in props.get("Roles", []):
        iam.put_role_policy(
            RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=json.dumps(props["PolicyDocument"])
        )
    return PhysicalResource(props["PolicyName"])
