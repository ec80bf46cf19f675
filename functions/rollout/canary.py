"""Safe rollout of a promoted model: the pure parts.

- The canary's distribution signal. Evaluation records the share of each
  label among the holdout predictions (``predicted_share.<label>`` in the
  version's registered metrics). For each request the inference function
  emits the *baseline agreement*: the mean, over the request's records, of
  the baseline share of the predicted label, divided by the baseline's
  self-agreement ``sum(share**2)``. Its expectation is 1.0 when predictions
  are distributed as on the holdout and falls towards 0 as predictions move
  to labels the model rarely predicted there. It is linear in records, so
  CloudWatch's Average over a minute of requests is meaningful at any batch
  size; the canary alarm fires when that average drops below the stage's
  ``canary_min_baseline_agreement``.

  A regressor has no labels. Evaluation records the 5th and 95th percentiles
  of its holdout predictions instead (``predicted_range.p05`` and
  ``predicted_range.p95``), and the agreement of a request is the share of
  its predicted values inside that range divided by the share the range holds
  by construction, 0.9. Same properties: expectation 1.0 (at most 1/0.9)
  when predictions are distributed as on the holdout, towards 0 as they
  leave the range, linear in records, same metric and alarm. Neither prefix
  is a quality metric: the gate never compares them.
- The CodeDeploy Lambda AppSpec and the context the deployer stores in the
  deployment's description, read back by the pre-traffic hook and by the
  outcome recorder.
- The smoke test the pre-traffic hook runs against the new version.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from functions.shared.errors import RolloutError

BASELINE_PREFIX = "predicted_share."
RANGE_PREFIX = "predicted_range."
# The holdout predictions' range a regressor's canary is compared with, and the share it holds.
RANGE_PERCENTILES = {"p05": 5.0, "p95": 95.0}
RANGE_COVERAGE = 0.9
# Marks the pre-traffic hook's synthetic requests, which are kept out of the canary metrics. It sits in the event's
# requestContext, which API Gateway builds itself for every request it proxies (a client can set headers, body,
# path and query, never the context): only a direct Invoke of the function, which IAM allows the hook, carries it.
# A header would not do: any client could send one and keep its requests out of the canary's metrics.
SMOKE_TEST_CONTEXT_KEY = "mlopsSmokeTest"


def predicted_shares(predicted: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Share of each of ``labels`` among ``predicted`` (labels never predicted get 0.0)."""
    if not predicted:
        return {label: 0.0 for label in labels}
    counts = Counter(predicted)
    return {label: counts.get(label, 0) / len(predicted) for label in labels}


def baseline_metrics(shares: Mapping[str, float]) -> dict[str, float]:
    return {f"{BASELINE_PREFIX}{label}": float(share) for label, share in shares.items()}


def baseline_from_metrics(metrics: Mapping[str, float]) -> dict[str, float] | None:
    """The holdout prediction shares recorded with a version, or None for versions registered without them."""
    shares = {k.removeprefix(BASELINE_PREFIX): float(v) for k, v in metrics.items() if k.startswith(BASELINE_PREFIX)}
    return shares if shares and sum(shares.values()) > 0 else None


def baseline_agreement(predicted: Sequence[str], baseline: Mapping[str, float]) -> float:
    """Mean baseline share of the predicted labels over the baseline's self-agreement (1.0 = as on holdout)."""
    if not predicted:
        raise ValueError("baseline agreement of an empty prediction list")
    self_agreement = sum(share * share for share in baseline.values())
    mean_share = sum(baseline.get(label, 0.0) for label in predicted) / len(predicted)
    return mean_share / self_agreement


def predicted_range(values: Sequence[float]) -> dict[str, float]:
    """The 5th and 95th percentiles (``p05``, ``p95``) of a regressor's holdout predictions."""
    if not values:
        return {}
    return {key: float(np.percentile(np.asarray(values, dtype=float), q)) for key, q in RANGE_PERCENTILES.items()}


def range_metrics(bounds: Mapping[str, float]) -> dict[str, float]:
    return {f"{RANGE_PREFIX}{key}": float(value) for key, value in bounds.items()}


def range_from_metrics(metrics: Mapping[str, float]) -> tuple[float, float] | None:
    """The holdout prediction range recorded with a regressor's version, or None for versions without one."""
    low, high = metrics.get(f"{RANGE_PREFIX}p05"), metrics.get(f"{RANGE_PREFIX}p95")
    if low is None or high is None or not math.isfinite(float(low)) or not math.isfinite(float(high)):
        return None
    return float(low), float(high)


def range_agreement(predicted: Sequence[float], low: float, high: float) -> float:
    """Share of ``predicted`` values within ``[low, high]`` over the range's holdout share (1.0 = as on holdout)."""
    if not predicted:
        raise ValueError("range agreement of an empty prediction list")
    inside = sum(1 for value in predicted if low <= float(value) <= high)
    return inside / len(predicted) / RANGE_COVERAGE


def agreement(predicted: Sequence[str] | Sequence[float], metrics: Mapping[str, float]) -> float | None:
    """A request's distribution signal against the version's registered baseline (None: no baseline)."""
    if not predicted:
        return None
    bounds = range_from_metrics(metrics)
    if bounds is not None:
        return range_agreement([float(v) for v in predicted], *bounds)
    shares = baseline_from_metrics(metrics)
    if shares is not None:
        return baseline_agreement([str(v) for v in predicted], shares)
    return None


@dataclass(frozen=True)
class RolloutContext:
    """What a deployment rolls out; stored as the CodeDeploy deployment's description."""

    model_name: str
    model_version: int
    previous_model_version: int | None
    function_name: str
    alias: str
    current_function_version: str
    target_function_version: str
    # The registry's champion move this rollout serves (its alias change in the lineage), when known.
    change_id: str | None = None

    def to_description(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_description(cls, description: str | None) -> RolloutContext:
        try:
            return cls(**json.loads(description or ""))
        except (ValueError, TypeError) as exc:
            raise RolloutError(f"deployment description is not a rollout context: {exc}") from None


@dataclass(frozen=True)
class CodeDeployment:
    """A deployment CloudFormation started: ``cdk deploy`` changed the serving function, and CodeDeploy shifts
    the alias to the template's new version. That version is unpinned (it serves the registry's champion), so
    no model version moves: its description is CloudFormation's, not a rollout context."""

    function_name: str
    alias: str
    current_function_version: str
    target_function_version: str


def deployment_context(info: Mapping[str, Any]) -> RolloutContext | CodeDeployment:
    """What a deployment shifts: a model rollout (the deployer's context in its description), else the alias
    move its AppSpec names (CloudFormation's deployment of a changed serving function)."""
    try:
        return RolloutContext.from_description(info.get("description"))
    except RolloutError as not_a_rollout:
        try:
            spec = json.loads((info.get("revision") or {})["appSpecContent"]["content"])
            [resource] = spec["Resources"]
            [properties] = [r["Properties"] for r in resource.values()]
            return CodeDeployment(
                str(properties["Name"]), str(properties["Alias"]),
                str(properties["CurrentVersion"]), str(properties["TargetVersion"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise RolloutError(
                f"{not_a_rollout}; nor does its AppSpec name one function alias to shift ({type(exc).__name__}: {exc})"
            ) from None


def lambda_appspec(context: RolloutContext, *, before_allow_traffic: str | None) -> dict[str, Any]:
    """The CodeDeploy AppSpec shifting ``context.alias`` from the current to the target version."""
    spec: dict[str, Any] = {
        "version": 0.0,
        "Resources": [
            {
                "InferenceFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": context.function_name,
                        "Alias": context.alias,
                        "CurrentVersion": context.current_function_version,
                        "TargetVersion": context.target_function_version,
                    },
                }
            }
        ],
    }
    if before_allow_traffic:
        spec["Hooks"] = [{"BeforeAllowTraffic": before_allow_traffic}]
    return spec


def smoke_record(signature: Mapping[str, Any]) -> dict[str, Any]:
    """A valid record for every dtype of the signature.

    A number sits at the middle of its signature range (or its bound, or 0); an ``int``
    at the integral middle; a ``string`` is its first allowed value (or ``"unknown"``,
    which a one-hot encoder ignoring unknown categories serves too); a ``bool`` is false.
    """
    record: dict[str, Any] = {}
    for feature in signature["features"]:
        name, dtype = feature["name"], feature.get("dtype", "float")
        low, high = feature.get("minimum"), feature.get("maximum")
        if dtype == "string":
            allowed = feature.get("allowed")
            record[name] = str(allowed[0]) if allowed else "unknown"
        elif dtype == "bool":
            record[name] = False
        elif dtype == "int":
            if low is not None and high is not None:
                record[name] = math.floor((float(low) + float(high)) / 2)
            elif low is not None:
                record[name] = math.ceil(float(low))
            else:
                record[name] = math.floor(float(high)) if high is not None else 0
        elif low is not None and high is not None:
            record[name] = (float(low) + float(high)) / 2
        else:
            record[name] = float(low if low is not None else high if high is not None else 0.0)
    return record


def proxy_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """An API Gateway REST proxy event, as the stage sends it, for invoking the function directly; marked as
    the smoke test's in its requestContext (``is_smoke_test``)."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/smoke{path}",
            "stage": "smoke",
            "requestId": "pre-traffic-smoke-test",
            "identity": {"sourceIp": "127.0.0.1"},
            SMOKE_TEST_CONTEXT_KEY: True,
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def smoke_test_failures(
    model_answer: Mapping[str, Any],
    predict_answer: Mapping[str, Any],
    *,
    model_version: int,
    labels: Sequence[str],
    task: str = "classification",
) -> list[str]:
    """What is wrong with the new version's answers to GET /model and POST /predict (empty: passed).

    A classifier must answer one of ``labels``; a regressor (``task="regression"``) a finite value.
    """
    problems: list[str] = []
    if model_answer.get("statusCode") != 200:
        problems.append(f"GET /model answered {model_answer.get('statusCode')}: {model_answer.get('body')}")
    elif json.loads(model_answer["body"]).get("version") != model_version:
        problems.append(
            f"GET /model serves version {json.loads(model_answer['body']).get('version')}, expected {model_version}"
        )
    if predict_answer.get("statusCode") != 200:
        problems.append(f"POST /predict answered {predict_answer.get('statusCode')}: {predict_answer.get('body')}")
        return problems
    body = json.loads(predict_answer["body"])
    if body.get("model", {}).get("version") != model_version:
        problems.append(f"POST /predict answered with model version {body.get('model')}, expected {model_version}")
    predictions = body.get("predictions", [])
    if task == "regression":
        value = predictions[0].get("value") if len(predictions) == 1 else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(f"POST /predict gave no finite value for the smoke record: {predictions}")
    elif len(predictions) != 1 or predictions[0].get("label") not in labels:
        problems.append(f"POST /predict gave no valid label for the smoke record: {predictions}")
    return problems


def rollback_cause(error_information: Mapping[str, Any] | None, status: str) -> str:
    """A short cause from CodeDeploy's errorInformation: the activated alarms, or the error message."""
    info = error_information or {}
    message = str(info.get("message") or "")
    marker = "Activated alarms:"
    if marker in message:
        return message.split(marker, 1)[1].strip()
    return f"{info.get('code', status)}: {message}" if message else str(info.get("code", status))


def is_smoke_test(event: Mapping[str, Any] | None) -> bool:
    """Whether ``event`` is the pre-traffic hook's direct invocation (headers are the client's: never looked at)."""
    context = (event or {}).get("requestContext")
    return isinstance(context, Mapping) and context.get(SMOKE_TEST_CONTEXT_KEY) is True
