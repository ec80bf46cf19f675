"""Hyperparameter search, the pure part: check params against the estimator, plan trials, choose the best.

The training pipeline's ``PlanTrials`` / ``RunTrials`` (a Distributed Map) / ``ChooseBest`` states and
``mlops experiment run --param`` use these rules, so a parameter is refused the same way at project load,
at request time and on the command line, and the best trial is chosen in one place.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from functions.shared.errors import ConfigurationError, InvalidRequestError, MlopsError
from functions.training.model_spec import METRICS, ModelSpec, SearchSpace

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
RUNNING = "RUNNING"


class SearchFailedError(MlopsError):
    """Every trial of a search failed: there is no best to train."""


@dataclass(frozen=True)
class Trial:
    """One combination of a search: its index (stable within a run) and the params it tries."""

    index: int
    params: dict[str, Any]

    def as_item(self) -> dict[str, Any]:
        return {"trial": self.index, "params": dict(self.params)}


@dataclass(frozen=True)
class TrialOutcome:
    """A finished trial as the metadata store holds it."""

    index: int
    status: str
    params: dict[str, Any]
    metrics: dict[str, float]
    error: str | None = None


@dataclass(frozen=True)
class SearchResult:
    best: TrialOutcome
    metric: str
    succeeded: int
    failed: int

    @property
    def value(self) -> float:
        return self.best.metrics[self.metric]


def accepted_params(spec: ModelSpec) -> tuple[set[str], bool]:
    """The parameter names the spec's estimator factory takes, and whether it takes any (``**kwargs``)."""
    try:
        signature = inspect.signature(spec.estimator)
    except (TypeError, ValueError):  # a builtin or C factory: no signature to read, the factory call decides
        return set(), True
    names = {
        name
        for name, p in signature.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())


def check_params(spec: ModelSpec, params: Mapping[str, Any], *, where: str) -> None:
    """Refuse, in one line naming the parameter, a name the estimator does not take or a value of the wrong type.

    ``where`` says who asked (``search_space``, ``the request's params``). Checked: the factory's
    signature; the type of the factory's numeric or bool default; and scikit-learn's own parameter
    constraints of every estimator the factory builds with the value.
    """
    names, any_name = accepted_params(spec)
    defaults = _defaults(spec)
    for name, value in params.items():
        prefix = f"model {spec.name!r}: {where} parameter {name!r}"
        if not isinstance(name, str) or (not any_name and name not in names):
            raise ConfigurationError(f"{prefix}: the estimator takes no such parameter; it takes {sorted(names)}")
        expected = _expected_kind(defaults.get(name))
        if expected is not None and not _is_kind(value, expected):
            raise ConfigurationError(f"{prefix}: {value!r} is a {type(value).__name__}, expected a {expected}")
        try:
            estimator = spec.build_estimator({name: value})
            _validate_estimators(estimator)
        except Exception as exc:
            raise ConfigurationError(f"{prefix} = {value!r}: {_one_line(exc)}") from exc


def check_search_space(spec: ModelSpec, space: SearchSpace, *, where: str = "search_space") -> None:
    """Every value of every searched parameter, checked as ``check_params`` checks one (load and request time)."""
    space.validate(spec.name)
    for name, values in space.params.items():
        for value in values:
            check_params(spec, {name: value}, where=where)


def request_params(spec: ModelSpec, request: Mapping[str, Any]) -> dict[str, Any]:
    """The ``params`` of a training request (overrides of the definition's), checked; ``{}`` when none."""
    params = request.get("params")
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidRequestError(f"the request's params must be an object of name: value, got {type(params).__name__}")
    try:
        check_params(spec, params, where="the request's params")
    except ConfigurationError as exc:
        raise InvalidRequestError(str(exc)) from None
    return dict(params)


def requested_search(spec: ModelSpec, request: Mapping[str, Any]) -> SearchSpace | None:
    """The search a training request runs: None (train the definition as is) or the space to search.

    ``"tune": true`` searches the model's declared space; ``"tune": {"params": ..., "max_trials": ...}``
    narrows or replaces it for this run (checked like a declared one); ``"tune": false`` never searches; no
    ``tune`` searches when the declared space says ``on_every_run``. Params the request fixes are not searched.
    """
    tune = request.get("tune")
    declared = spec.search_space
    if tune is None:
        space = declared if declared is not None and declared.on_every_run else None
    elif tune is False:
        space = None
    elif tune is True:
        if declared is None:
            raise InvalidRequestError(f"model {spec.name!r} declares no search_space: give one as tune: {{params}}")
        space = declared
    elif isinstance(tune, Mapping):
        space = _space_of_request(spec, tune, declared)
    else:
        raise InvalidRequestError(f"the request's tune must be true, false or an object, got {tune!r}")
    if space is None:
        return None
    try:
        check_search_space(spec, space, where="the request's tune" if isinstance(tune, Mapping) else "search_space")
    except ConfigurationError as exc:
        raise InvalidRequestError(str(exc)) from None
    fixed = sorted(set(space.params) & set(request.get("params") or {}))
    if fixed:
        raise InvalidRequestError(f"parameter {fixed[0]!r} is both fixed by the request's params and searched")
    return space


def check_training_request(spec: ModelSpec, request: Mapping[str, Any]) -> None:
    """Refuse a training request's bad ``params``, ``tune`` or ``params_from`` before any work starts
    (``mlops train`` and ``mlops experiment run`` call it; the pipeline's Split checks the same)."""
    request_params(spec, request)
    requested_search(spec, request)
    params_from = request.get("params_from")
    if params_from is not None and not isinstance(params_from, str):
        raise InvalidRequestError(f"the request's params_from must be a run id, got {params_from!r}")


def _space_of_request(spec: ModelSpec, tune: Mapping[str, Any], declared: SearchSpace | None) -> SearchSpace:
    known = {"params", "strategy", "max_trials", "max_concurrency", "seed", "validation_fraction"}
    unknown = sorted(set(tune) - known)
    if unknown:
        raise InvalidRequestError(f"the request's tune has unknown field {unknown[0]!r}; known: {sorted(known)}")
    base = declared or SearchSpace(params=tune.get("params") or {})
    params = tune.get("params", base.params)
    if not isinstance(params, Mapping):
        raise InvalidRequestError("the request's tune params must be an object of name: [values]")
    try:
        space = SearchSpace(
            params={name: tuple(v) if isinstance(v, list) else v for name, v in params.items()},
            strategy=tune.get("strategy", base.strategy),
            max_trials=tune.get("max_trials", base.max_trials),
            max_concurrency=tune.get("max_concurrency", base.max_concurrency),
            seed=tune.get("seed", base.seed),
            validation_fraction=tune.get("validation_fraction", base.validation_fraction),
        )
        space.validate(spec.name)
    except ConfigurationError as exc:
        raise InvalidRequestError(str(exc).replace("search_space", "the request's tune")) from None
    return space


def plan_trials(space: SearchSpace, *, seed: int) -> list[Trial]:
    """The trials of a search, at most ``max_trials``; the same space and seed give the same plan.

    A grid is never enumerated past what is tried: combinations are drawn by their index in the grid
    (ten parameters of ten values are 10**10 combinations, of which ``max_trials`` are built).
    """
    names = list(space.params)
    sizes = [len(space.params[n]) for n in names]
    total = math.prod(sizes)
    rng = random.Random(space.seed if space.seed is not None else seed)
    if total > space.max_trials:
        picked = rng.sample(range(total), space.max_trials)
        indices = sorted(picked) if space.strategy == "grid" else picked
    else:
        indices = list(range(total))
        if space.strategy == "random":
            rng.shuffle(indices)
    return [Trial(i, _combination(space, names, sizes, index)) for i, index in enumerate(indices)]


def _combination(space: SearchSpace, names: list[str], sizes: list[int], index: int) -> dict[str, Any]:
    """The ``index``-th combination of the grid in declaration order (the last parameter varies fastest)."""
    picks: dict[str, Any] = {}
    for name, size in zip(reversed(names), reversed(sizes), strict=True):
        index, at = divmod(index, size)
        picks[name] = space.params[name][at]
    return {name: picks[name] for name in names}


def choose_best(outcomes: Sequence[TrialOutcome], spec: ModelSpec) -> SearchResult:
    """The succeeded trial with the best validation value of the gate's primary metric (ties: the lowest index)."""
    metric = spec.gate.primary_metric
    higher = METRICS[spec.task][metric]
    scored = [o for o in outcomes if o.status == SUCCEEDED and math.isfinite(o.metrics.get(metric, math.nan))]
    failed = [o for o in outcomes if o.status != SUCCEEDED]
    if not scored:
        first = next((f"trial {o.index}: {o.error}" for o in failed if o.error), "no trial reported a score")
        raise SearchFailedError(f"all {len(outcomes)} trials failed, none to train ({first})")
    best = min(scored, key=lambda o: ((-1 if higher else 1) * o.metrics[metric], o.index))
    return SearchResult(best, metric, len(scored), len(failed))


def _defaults(spec: ModelSpec) -> dict[str, Any]:
    try:
        parameters = inspect.signature(spec.estimator).parameters
    except (TypeError, ValueError):
        return {}
    return {n: p.default for n, p in parameters.items() if p.default is not inspect.Parameter.empty}


def _expected_kind(default: Any) -> str | None:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, (int, float)):
        return "number"
    return None


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _validate_estimators(estimator: Any) -> None:
    """scikit-learn's parameter constraints of the estimator and of every estimator inside it."""
    seen: list[Any] = [estimator]
    params = estimator.get_params(deep=True) if callable(getattr(estimator, "get_params", None)) else {}
    seen.extend(v for v in params.values() if not isinstance(v, type) and callable(getattr(v, "get_params", None)))
    for item in seen:
        validate = getattr(item, "_validate_params", None)
        if callable(validate):
            validate()


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
