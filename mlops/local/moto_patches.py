"""The one door through which the local cloud changes moto (and botocore).

Every change is declared in ``PATCHES``: the member it replaces (or adds), why, and the parameters the
replacement was written against. The emulation modules build their replacements and install them only
through ``patched``, which refuses anything undeclared, a declared member that has gone (renamed in a new
moto) or changed its parameters, and an added member that moto now implements itself. ``check_moto`` runs
when a cloud starts and refuses a moto version these patches were not tested with, in one line.
``tests/unit/test_moto_patches.py`` checks each declaration against the installed moto.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any
from unittest import mock

# The moto releases the declarations below were checked against (requirements.txt pins one of them).
TESTED_MOTO = ("5.2.5",)


class MotoPatchError(RuntimeError):
    """moto is not the version the local cloud's patches were written for."""


@dataclass(frozen=True)
class Patch:
    owner: str  # "module:Class" or "module"
    attribute: str
    why: str
    # The parameter names of the member replaced, as the replacement expects them; None: not checked (not a
    # plain function). An added member (``adds``) must be absent from moto.
    parameters: tuple[str, ...] | None = None
    adds: bool = False

    @property
    def target(self) -> str:
        return f"{self.owner}.{self.attribute}".replace(":", ".")

    def owner_object(self) -> Any:
        module_name, _, path = self.owner.partition(":")
        owner: Any = importlib.import_module(module_name)
        for part in filter(None, path.split(".")):
            owner = getattr(owner, part)
        return owner

    def problem(self) -> str | None:
        """Why this declaration does not fit the installed moto, or None."""
        try:
            owner = self.owner_object()
        except (ImportError, AttributeError) as exc:
            return f"{self.target}: its owner is gone ({exc})"
        present = hasattr(owner, self.attribute)
        if self.adds:
            return f"{self.target} now exists in moto: drop the local addition" if present else None
        if not present:
            return f"{self.target} is gone (renamed or removed)"
        if self.parameters is not None:
            found = tuple(inspect.signature(getattr(owner, self.attribute)).parameters)
            if found != self.parameters:
                return f"{self.target} takes {found}, the replacement was written for {self.parameters}"
        return None


_SFN = "moto.stepfunctions.parser"
PATCHES: dict[str, Patch] = {
    "lambda.run_in_process": Patch(
        "moto.awslambda.models:LambdaFunction",
        "_invoke_lambda",
        "moto runs a handler in Docker; the local cloud runs it in-process (lambda_runtime)",
        ("self", "event"),
    ),
    "lambda.route_alias_weights": Patch(
        "moto.awslambda.models:LambdaBackend",
        "invoke",
        "moto ignores an alias's weighted routing and the 6 MB request limit (lambda_versions)",
        ("self", "function_name", "qualifier", "body", "headers", "response_headers"),
    ),
    "lambda.read_qualifier": Patch(
        "moto.awslambda.responses:LambdaResponse",
        "invoke",
        "boto3 sends ?Qualifier=, moto reads only ?qualifier= and would run $LATEST (lambda_versions)",
        ("self",),
    ),
    "sfn.name_executions": Patch(
        f"{_SFN}.models:StepFunctionsParserBackend",
        "start_execution",
        "an execution started without a name gets a UUID, as in AWS (cloud)",
        ("self", "state_machine_arn", "name", "execution_input", "trace_header"),
    ),
    "sfn.validate_once": Patch(
        f"{_SFN}.models:StepFunctionsParserBackend",
        "_validate_definition",
        "the same definition text is parsed to validate it once per process, not per state machine (cloud)",
        ("definition",),
    ),
    "sfn.retry_without_waiting": Patch(
        f"{_SFN}.asl.component.common.retry.retrier_decl",
        "time",
        "a Retry's interval is not waited out on the wall clock: the next attempt starts at once (cloud)",
    ),
    "sfn.sync_task_wakes": Patch(
        f"{_SFN}.asl.component.state.exec.state_task.service.state_task_service_callback",
        "time",
        "a .sync task re-checks its Batch job as the job ends, not after moto's 0.5 s sleeps (batch)",
    ),
    "sfn.status_change_events": Patch(
        f"{_SFN}.backend.execution:BaseExecutionWorkerCommunication",
        "terminated",
        "an execution's end puts 'Step Functions Execution Status Change' on the default bus (execution_events)",
        ("self",),
    ),
    "sfn.map_tolerated_failures": Patch(
        f"{_SFN}.asl.component.state.exec.state_map.iteration.distributed_iteration_component"
        ":DistributedIterationComponent",
        "_map_run",
        "moto ignores ToleratedFailureCount/Percentage; AWS fails the Map Run past them (map_runs)",
        ("self", "env", "eval_input"),
    ),
    "sfn.fail_with_states_error": Patch(
        f"{_SFN}.asl.component.state.fail.state_fail",
        "CustomErrorName",
        "a Fail state re-raising a caught States.* error is legal in AWS, refused by moto (map_runs)",
    ),
    "sfn.map_result_writer": Patch(
        f"{_SFN}.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3:ResourceEvalS3",
        "_handle_put_object",
        "moto's ResultWriter writes a manifest without the children's result files; AWS writes both (map_runs)",
        ("env", "resource_runtime_part", "state_credentials"),
    ),
    "batch.run_in_process": Patch(
        "moto.batch.models:Job",
        "run",
        "moto runs a job in Docker; the local cloud runs its entrypoint in-process (batch)",
        ("self",),
    ),
    "batch.sfn_parameters": Patch(
        f"{_SFN}.asl.component.state.exec.state_task.service.state_task_service_batch:StateTaskServiceBatch",
        "_normalise_parameters",
        "the .sync integration's parameters reach moto's Batch in the API's shape (batch)",
        ("self", "parameters", "boto_service_name", "service_action_name"),
    ),
    "batch.sfn_response": Patch(
        f"{_SFN}.asl.component.state.exec.state_task.service.state_task_service_batch:StateTaskServiceBatch",
        "_normalise_response",
        "the .sync integration's result has the shape Step Functions gives (batch)",
        ("self", "response", "boto_service_name", "service_action_name"),
    ),
    "events.deliver_targets": Patch(
        "moto.events.models:Rule",
        "send_to_targets",
        "moto's EventBridge does not deliver to Step Functions or Lambda targets (events)",
        ("self", "original_event", "transform_input"),
    ),
    "codedeploy.run_deployments": Patch(
        "moto.codedeploy.models:CodeDeployBackend",
        "create_deployment",
        "a Lambda deployment runs its hook, canary shift, alarm check and rollback (codedeploy)",
    ),
    "codedeploy.deployment_info": Patch(
        "moto.codedeploy.responses",
        "_deployment_info",
        "GetDeployment reports the emulated rollout's error and rollback (codedeploy)",
        ("deployment",),
    ),
    "codedeploy.hook_status": Patch(
        "moto.codedeploy.responses:CodeDeployResponse",
        "put_lifecycle_event_hook_execution_status",
        "moto lacks PutLifecycleEventHookExecutionStatus, which a pre-traffic hook calls (codedeploy)",
        adds=True,
    ),
    "codedeploy.stop_deployment": Patch(
        "moto.codedeploy.responses:CodeDeployResponse",
        "stop_deployment",
        "moto lacks StopDeployment, with which an operator's rollback stops a canary (codedeploy)",
        adds=True,
    ),
    "athena.run_queries": Patch(
        "moto.athena.models:AthenaBackend",
        "start_query_execution",
        "moto's Athena records queries and never runs them; the local cloud runs them on DuckDB (athena)",
        ("self", "query", "context", "config", "workgroup", "execution_parameters"),
    ),
    "athena.state_reason": Patch(
        "moto.athena.responses:AthenaResponse",
        "get_query_execution",
        "GetQueryExecution reports a failed query's StateChangeReason and the bytes it scanned (athena)",
        ("self",),
    ),
    "dynamodb.query_partition": Patch(
        "moto.dynamodb.models.table:Table",
        "query",
        "moto sorts the whole table on every query; a table query reads only its partition, as DynamoDB does "
        "(cloud; same items, same order)",
        (
            "self",
            "hash_key",
            "range_comparison",
            "range_objs",
            "limit",
            "exclusive_start_key",
            "scan_index_forward",
            "projection_expressions",
            "index_name",
            "consistent_read",
            "filter_expression",
            "hash_key_conditions",
            "range_key_conditions",
            "filter_kwargs",
        ),
    ),
    "iam.enforce": Patch(
        "moto.core.authorization:ActionAuthenticatorMixin",
        "_authenticate_and_authorize_action",
        "a function's request is decided against its role's policies by moto's evaluator (iam)",
        ("self", "iam_request_cls", "resource"),
    ),
    "botocore.caller_credentials": Patch(
        "botocore.session:Session",
        "get_credentials",
        "a client signs as the role session of the invocation calling it, else as the operator (iam)",
        ("self",),
    ),
}

_pristine: dict[str, Any] = {}

# moto's own switches: run state machines (moto only records them by default).
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}}


@contextmanager
def moto_settings(region: str) -> Iterator[None]:
    """The process environment moto and boto3 read while a cloud runs."""
    with mock.patch.dict(
        os.environ,
        {
            # The operator's credentials (iam.OPERATOR): any request not signed by a function's role session.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            # Image functions point at CDK's ECR asset repository, which exists only after `cdk deploy`: accept
            # the URI as is.
            "MOTO_LAMBDA_STUB_ECR": "TRUE",
            # No template here launches an instance: skip loading moto's catalogue of public AMIs (about a second
            # per cloud, spent whenever its EC2 backend is first touched).
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        },
    ):
        yield


# The botocore loader of every default boto3 session a cloud of this process makes (see shared_service_models).
_SERVICE_DATA: list[Any] = []


@contextmanager
def shared_service_models() -> Iterator[None]:
    """While a cloud runs, boto3's default session (the one the functions' and moto's own clients are made
    from) reads botocore's service models through one loader for the process, so each model file is parsed
    once per process, not once per cloud. moto replaces the default session with none as a cloud starts, so
    the first client of each service in each cloud would parse its JSON model again (about a second per cloud
    for the dozen services a template uses). The loader caches only what botocore ships (read-only models and
    endpoint rules); the session itself, its credentials and configuration, are new for each cloud, as moto
    wants. Enter it after ``mock_aws``; a cloud started while another runs keeps the session that one set."""
    import boto3
    import botocore.session

    if boto3.DEFAULT_SESSION is not None:
        yield
        return
    core = botocore.session.Session()
    if not _SERVICE_DATA:
        _SERVICE_DATA.append(core.get_component("data_loader"))
    core.register_component("data_loader", _SERVICE_DATA[0])
    boto3.DEFAULT_SESSION = boto3.Session(botocore_session=core)
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = None


# moto log lines that describe something the local cloud does differently, not a failure: they read as one in
# the demo and the test output. (logger, message start, why it is not a failure)
_QUIET: tuple[tuple[str, str, str], ...] = (
    (
        "moto.stepfunctions.parser.asl.parse.preprocessor",
        "Tolerated",
        "ToleratedFailureCount/Percentage do take effect locally: map_runs applies them as AWS does",
    ),
    (
        "moto.stepfunctions.parser.asl.component.eval_component",
        "Exception=NoSuchJsonPathError",
        "logged for every path a Choice tests that the input lacks (`IsPresent` guards beside it); when a missing "
        "path does fail a state, the execution's error says so, and the run record and the CLI show it",
    ),
)


class _QuietFilter(logging.Filter):
    """Demotes a matching record to DEBUG, its message saying why: a WARNING-level handler (the console, a test's
    log capture) drops it, a log file that keeps DEBUG keeps it with the reason."""

    def __init__(self, prefix: str, why: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.why = why

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and record.getMessage().startswith(self.prefix):
            record.msg, record.args = f"{record.getMessage()} [not a failure locally: {self.why}]", None
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


@contextmanager
def quiet_moto_logs() -> Iterator[None]:
    """Demote the moto log lines of ``_QUIET`` (each one says why it is not a failure here) to DEBUG while a cloud
    runs, so they read as what they are wherever they are shown."""
    installed = [(logging.getLogger(name), _QuietFilter(prefix, why)) for name, prefix, why in _QUIET]
    for logger, quiet in installed:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger, quiet in installed:
            logger.removeFilter(quiet)


def check_moto() -> None:
    """Refuse a moto these patches were not tested with (one line, naming both versions)."""
    installed = version("moto")
    if installed not in TESTED_MOTO:
        raise MotoPatchError(
            f"moto {installed} is installed; the local cloud is tested with moto {', '.join(TESTED_MOTO)} "
            "(pip install -r requirements.txt)"
        )


def original(name: str) -> Any:
    """The member ``PATCHES[name]`` replaces, as moto ships it (never another cloud's replacement)."""
    patch = PATCHES[name]
    if patch.adds:
        raise MotoPatchError(f"{patch.target} is added locally; moto has no original")
    if name not in _pristine:
        _pristine[name] = getattr(patch.owner_object(), patch.attribute)
    return _pristine[name]


@contextmanager
def patched(replacements: Mapping[str, Callable[..., Any] | Any]) -> Iterator[None]:
    """Install the declared ``replacements`` (name of ``PATCHES`` -> new member) until the block ends."""
    unknown = sorted(set(replacements) - set(PATCHES))
    if unknown:
        raise MotoPatchError(f"undeclared moto patch(es) {unknown}: declare them in mlops/local/moto_patches.py")
    with ExitStack() as stack:
        for name, replacement in replacements.items():
            patch = PATCHES[name]
            problem = patch.problem()
            if problem is not None:
                raise MotoPatchError(problem)
            if not patch.adds:
                original(name)  # kept before anything replaces it
            stack.enter_context(
                mock.patch.object(patch.owner_object(), patch.attribute, replacement, create=patch.adds)
            )
        yield
