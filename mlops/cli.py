"""The ``mlops`` command.

One vocabulary on every command that acts somewhere: ``--stage S`` (the deployed stack ``Mlops-S``, with
``--region``/``--profile`` for boto3) or ``--local`` (the running local cloud, ``mlops local up``). Operator
commands print tables (``--output table``) or JSON (``--output json``). A user's mistake is one line on
stderr saying what is wrong and what to do, with exit status 2; a refused or failed operation is one line
with exit status 1. Arguments are checked before any slow work starts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mlops.targets import UsageError, add_target_options

if TYPE_CHECKING:
    from mlops.operator import Backend

OPERATOR_COMMANDS = ("runs", "models", "lineage", "train", "experiment", "batch")
REPO_ROOT = Path(__file__).resolve().parent.parent
# Set MLOPS_PROJECT once in a shell to make a project every command's default.
PROJECT_ENV = "MLOPS_PROJECT"


def default_project() -> Path:
    """``$MLOPS_PROJECT``, else the project ``cdk.json`` names (the shipped demo), relative to the toolkit."""
    if os.environ.get(PROJECT_ENV):
        return Path(os.environ[PROJECT_ENV])
    context = json.loads((REPO_ROOT / "cdk.json").read_text()).get("context", {})
    return REPO_ROOT / context["project"]


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("serverless-mlops")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (what is wrong, where to read more), exit status 2."""

    def error(self, message: str) -> NoReturn:
        if "--stack" in message:  # the flag of earlier versions
            message += " (the target is --stage STAGE, i.e. stack Mlops-STAGE, or --local)"
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the arguments)\n")


# -- argument types: checked while parsing, before any slow work ---------------------------------------------------
_REF = re.compile(r"^(?P<name>.+):v?(?P<version>[0-9]+)$")


def parse_ref(ref: str) -> tuple[str, int]:
    """``MODEL:3`` or ``MODEL:v3`` -> (MODEL, 3)."""
    match = _REF.match(ref)
    if not match or int(match["version"]) < 1:
        raise argparse.ArgumentTypeError(f"expected MODEL:VERSION (e.g. churn:3 or churn:v3), got {ref!r}")
    return match["name"], int(match["version"])


def iso_time(value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO-8601 time (e.g. 2015-01-01 or 2015-01-01T12:00Z)"
        ) from None
    return value


def input_file(value: str) -> Path:
    """An existing, non-empty file (or a directory of part files)."""
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise argparse.ArgumentTypeError(f"{value}: the file is empty")
    return path


def json_file(value: str) -> Any:
    path = input_file(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: is a directory, expected a JSON file")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"{value}: not valid JSON ({exc})") from None


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return int(value)


def port_number(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {value!r}")
    return int(value)


def fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {value!r}")
    return number


# -- the parser ----------------------------------------------------------------------------------------------------
def _give_every_command_project(parser: argparse.ArgumentParser) -> None:
    """``--project`` on every (sub)command, wherever it is written: ``mlops runs list --project DIR``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                if "--project" not in command._option_string_actions:
                    command.add_argument(
                        "--project",
                        type=Path,
                        default=argparse.SUPPRESS,
                        help=f"the project folder (its project.py); default ${PROJECT_ENV}, else the shipped demo",
                    )
                _give_every_command_project(command)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mlops", description="Serverless MLOps toolkit: operator commands")
    parser.add_argument("--version", action="version", version=f"mlops {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    init_cmd = commands.add_parser("init", help="scaffold a working project (definitions, sample data, tests)")
    init_cmd.add_argument("directory", type=Path)
    init_cmd.add_argument("--task", choices=("classification", "regression"), default="classification")
    project_cmd = commands.add_parser("project", help="the project: check it and print what it defines")
    project_sub = project_cmd.add_subparsers(dest="project_command", required=True)
    project_sub.add_parser("check", help="load and check the project, run its sample data through its rules")

    from mlops.targets import known_stage

    synth_cmd = commands.add_parser("synth", help="synthesize the CDK app (cdk-nag runs) into a cloud assembly")
    synth_cmd.add_argument("--stage", type=known_stage, default="dev")
    synth_cmd.add_argument("--out", type=Path, default=Path("cdk.out"))

    demo_cmd = commands.add_parser("demo", help="train and serve on the local cloud, end to end")
    demo_cmd.add_argument("--stage", type=known_stage, default="dev")
    demo_cmd.add_argument("--assembly", type=Path, default=None, help="use this cloud assembly instead of synthesizing")
    demo_cmd.add_argument("--verbose", action="store_true", help="also show the function and library logs")

    _add_local_commands(commands)

    openapi_cmd = commands.add_parser(
        "openapi", help="print the project's inference API OpenAPI document (generated from the code)"
    )
    openapi_cmd.add_argument("--stage", type=known_stage, default="dev", help="the stage whose API auth it documents")
    monitor_cmd = commands.add_parser("monitor", help="drift and quality monitoring")
    monitor_sub = monitor_cmd.add_subparsers(dest="monitor_command", required=True)
    monitor_report = monitor_sub.add_parser("report", help="save (and open) a monitor run's HTML drift report")
    add_target_options(monitor_report)
    monitor_report.add_argument("--model", default=None, help="default: the project's first model")
    monitor_report.add_argument("--bucket", default=None, help="artifacts bucket (default: the stack's output)")
    monitor_report.add_argument("--run", default=None, help="monitor run id (default: the latest)")
    monitor_report.add_argument("--out", type=Path, default=Path("."), help="file or directory to save to")
    monitor_report.add_argument("--open", action="store_true", help="open the saved report in a browser")
    cost_cmd = commands.add_parser("cost", help="estimate USD/month of a stage for a traffic profile")
    cost_cmd.add_argument("--stage", type=known_stage, default="dev")
    cost_cmd.add_argument(
        "--traffic", default="small", help="traffic profile: small, medium, large, or all (default small)"
    )
    cost_cmd.add_argument("--requests", type=int, default=None, help="inference requests per month")
    cost_cmd.add_argument("--records", type=int, default=None, help="records per request")
    cost_cmd.add_argument("--runs", type=int, default=None, help="training runs per month")
    cost_cmd.add_argument("--data-gb", type=float, default=None, help="data volume in GB")
    cost_cmd.add_argument("--assembly", type=Path, default=None, help="a synthesized assembly of the stage")
    _add_feature_commands(commands)
    ui_cmd = commands.add_parser("ui", help="web UI: runs, models (approve, promote), lineage, features, monitoring")
    add_target_options(ui_cmd)
    ui_cmd.add_argument("--host", default="127.0.0.1", help="address to serve on (loopback only unless --allow-remote)")
    ui_cmd.add_argument("--port", type=port_number, default=8765, help="port (default 8765; 0: any free one)")
    ui_cmd.add_argument(
        "--allow-remote", action="store_true", help="serve on a non-loopback address (whoever reaches it acts as you)"
    )

    _add_operator_commands(commands)
    _give_every_command_project(parser)
    return parser


def _add_local_commands(commands: Any) -> None:
    from mlops.targets import known_stage

    local_cmd = commands.add_parser("local", help="the local cloud: up, down, status, start-api, invoke, report")
    local_sub = local_cmd.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser(
        "up",
        help="start a local cloud that lasts across commands (every --local command uses it)",
        description=(
            "Starts a background process that stands the synthesized stacks up on moto, loads the project's sample "
            "data into the feature store, and serves the AWS APIs on 127.0.0.1. Without --assembly it synthesizes "
            "the stage into .mlops/local/cdk.out (reused while the project and stage are the same)."
        ),
    )
    up.add_argument("--assembly", type=Path, default=None, help="a synthesized cloud assembly (default: synthesize)")
    up.add_argument("--stage", type=known_stage, default="dev", help="the stage to synthesize (default dev)")
    up.add_argument("--synth", action="store_true", help="synthesize again even if .mlops/local/cdk.out is current")
    up.add_argument("--no-sample-data", action="store_true", help="start empty: do not backfill the sample data")
    local_sub.add_parser("down", help="stop the local cloud (running executions end first); its state goes with it")
    status = local_sub.add_parser("status", help="what runs: endpoint, uptime, project, runs and model versions")
    status.add_argument("--output", choices=("table", "json"), default="table")
    start_api = local_sub.add_parser(
        "start-api",
        help="the inference API on 127.0.0.1: its URL and API key (runs a cloud in the foreground if none runs)",
    )
    start_api.add_argument("--assembly", type=Path, default=None, help="when no cloud runs: as for `local up`")
    start_api.add_argument("--stage", type=known_stage, default="dev", help="when no cloud runs: as for `local up`")
    invoke = local_sub.add_parser(
        "invoke", help="run one function of the template with an event; print result and logs"
    )
    invoke.add_argument(
        "function", help="the function's logical id (or a prefix of it, e.g. FunctionsRetrainGuard) or name"
    )
    invoke.add_argument("--event", type=json_file, required=True, metavar="FILE", help="the event, a JSON file")
    report_cmd = local_sub.add_parser("report", help="what the local cloud emulates and what it does not")
    report_cmd.add_argument("--assembly", type=Path, default=None, help="default: the running cloud's, else cdk.out")


def _add_feature_commands(commands: Any) -> None:
    features = commands.add_parser(
        "features",
        help="feature store: ingest raw data, read online features, build point-in-time training sets",
        description=(
            "With --local, commands use the running local cloud's feature store (`mlops local up`): ingest lands "
            "the file where the S3 event starts the feature pipeline, as in AWS, and waits for it. With --stage "
            "(default dev), they use the deployed stack's bucket and table (from its CloudFormation outputs)."
        ),
    )
    sub = features.add_subparsers(dest="features_command", required=True)
    common = Parser(add_help=False)
    add_target_options(common)

    ingest = sub.add_parser(
        "ingest",
        parents=[common],
        help="validate, quarantine, transform, store offline and materialize online a raw CSV/Parquet file",
        description=(
            "Uploads the file under raw/features/<source>/ in the data bucket; the S3 event starts the feature "
            "pipeline (locally the command waits for it and shows the counts and any quarantined rows). PATH may "
            "be a directory of part files: one batch, uploaded under raw/feature-batches/<source>/<directory "
            "name>/ followed by its _SUCCESS marker (a partitioned run)."
        ),
    )
    ingest.add_argument("path", type=input_file, help="a raw CSV/Parquet file, or a directory of part files")
    ingest.add_argument("--source", default=None, help="the project's raw source (default: its only one)")

    get = sub.add_parser("get", parents=[common], help="read online features of entities (PRESENT/NOT_FOUND/EXPIRED)")
    get.add_argument("view", help="feature view, name or name:vN")
    get.add_argument("keys", nargs="+", help="entity keys: a value, or k=v[,k2=v2]")
    get.add_argument("--features", default=None, help="comma-separated subset of the view's features")
    get.add_argument("--as-of", type=iso_time, default=None, help="judge TTL as of this time instead of now")

    training = sub.add_parser(
        "training-set", parents=[common], help="point-in-time-correct training set + manifest from the offline store"
    )
    training.add_argument("entities", type=input_file, help="Parquet/CSV with join keys and event_timestamp")
    training.add_argument("--views", required=True, help="comma-separated feature views (name or name:vN)")
    training.add_argument("--out", type=Path, required=True, help="output Parquet; the manifest goes next to it")
    training.add_argument("--strict", action="store_true", help="also require created_timestamp <= entity time")
    training.add_argument("--full-feature-names", action="store_true", help="name columns view__feature")

    sub.add_parser("views", help="the feature views defined in code, with versions, TTLs and rules")


def _operator_options(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    parser.add_argument("--output", choices=("table", "json"), default="table", help="table (default) or json")


def _add_operator_commands(commands: Any) -> None:
    runs = commands.add_parser("runs", help="pipeline and experiment runs (metadata store)")
    runs_sub = runs.add_subparsers(dest="action", required=True)
    runs_list = runs_sub.add_parser("list")
    runs_list.add_argument(
        "--pipeline", choices=("training", "experiment", "features", "batch_inference"), default="training"
    )
    runs_list.add_argument("--limit", type=positive_int, default=20)
    runs_list.add_argument("--experiment", default=None, help="only the runs of this experiment (tracked or run)")
    runs_show = runs_sub.add_parser("show")
    runs_show.add_argument("run_id")
    runs_compare = runs_sub.add_parser("compare", help="params and metrics of runs side by side, differences marked")
    runs_compare.add_argument("run_ids", nargs="+", metavar="RUN")
    runs_compare.add_argument("--differences", action="store_true", help="only the params and metrics that differ")
    models = commands.add_parser("models", help="model registry: versions, approval, aliases")
    models_sub = models.add_subparsers(dest="action", required=True)
    models_sub.add_parser("list")
    show = models_sub.add_parser("show")
    show.add_argument("model", nargs="?", help="default: the stage's model")
    # Who decides is never typed: approvals and alias moves record the caller's AWS identity (STS).
    for name in ("approve", "reject"):
        decide = models_sub.add_parser(name, help=f"{name} a pending version (recorded under your AWS identity)")
        decide.add_argument("ref", type=parse_ref, help="MODEL:VERSION (MODEL:3 or MODEL:v3)")
        decide.add_argument("--reason", required=True)
    promote = models_sub.add_parser("promote", help="point an alias at an approved version (audited)")
    promote.add_argument("ref", type=parse_ref, help="MODEL:VERSION (MODEL:3 or MODEL:v3)")
    promote.add_argument("--alias", default="champion")
    promote.add_argument("--reason", required=True)
    rollback = models_sub.add_parser("rollback", help="move an alias back to the version it replaced")
    rollback.add_argument("model")
    rollback.add_argument("--alias", default="champion")
    rollback.add_argument("--reason", required=True)
    lineage = commands.add_parser(
        "lineage",
        help="upstream and downstream of a model version, or which models used a feature view or a dataset",
    )
    asked = lineage.add_mutually_exclusive_group(required=True)
    asked.add_argument(
        "ref", nargs="?", type=parse_ref, help="MODEL:VERSION: its trigger, data, run, aliases, deployments"
    )
    asked.add_argument("--feature-view", help="NAME or NAME:vN: the training sets, runs and models that used it")
    asked.add_argument("--dataset", help="a training set's manifest sha256 (its lineage id) or data sha256")
    train = commands.add_parser(
        "train", help="start the training pipeline through the retrain guard's lock (waits with --local)"
    )
    train.add_argument("--source", help="s3:// URI of a CSV/Parquet table (default: the feature store)")
    train.add_argument("--start", type=iso_time, help="feature-store window start (ISO-8601; default: all history)")
    train.add_argument("--end", type=iso_time, help="feature-store window end (ISO-8601; default: now)")
    train.add_argument("--as-of", type=iso_time, help="read the feature store as it was then (default: now, recorded)")
    train.add_argument("--name", help="execution name (idempotency: one run per name)")
    train.add_argument("--model", default=None, help="the project's model to train (default: the stage's)")
    _param_options(train)
    train.add_argument("--params-from", metavar="RUN", help="train with the params a run (an experiment) used")
    experiment = commands.add_parser("experiment", help="experiments: train locally through the same entrypoint")
    experiment_sub = experiment.add_subparsers(dest="action", required=True)
    run = experiment_sub.add_parser("run")
    run.add_argument("--source", help="s3:// URI of a CSV/Parquet table (default: the feature store)")
    run.add_argument("--start", type=iso_time, help="feature-store window start (ISO-8601; default: all history)")
    run.add_argument("--end", type=iso_time, help="feature-store window end (ISO-8601; default: now)")
    run.add_argument("--as-of", type=iso_time, help="read the feature store as it was then (default: now, recorded)")
    run.add_argument("--note", default="")
    run.add_argument("--model", default=None, help="the project's model to train (default: the stage's)")
    run.add_argument("--experiment", default="default", help="the experiment the run belongs to (default: default)")
    _param_options(run)
    batch = commands.add_parser(
        "batch", help="score a Parquet prefix or an entity file with the champion (batch inference; waits with --local)"
    )
    scored = batch.add_mutually_exclusive_group(required=True)
    scored.add_argument("--input", metavar="S3_PREFIX", help="s3:// prefix of Parquet feature rows (model columns)")
    scored.add_argument(
        "--entities", metavar="S3_URI",
        help="s3:// Parquet file of join keys + event_timestamp, scored with the offline store's features at each time",
    )  # fmt: skip
    batch.add_argument("--name", help="execution name (one run per name)")
    for parser in (runs_list, runs_show, runs_compare, lineage, train, run, batch, *models_sub.choices.values()):
        _operator_options(parser)


def _param_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="an estimator parameter for this run (repeatable; VALUE read as JSON, else text)",
    )  # fmt: skip
    parser.add_argument("--tune", action="store_true", help="search the model's declared search space first")


# -- running -------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    args = build_parser().parse_args(argv)
    if getattr(args, "project", None) is None:
        args.project = default_project()
    return guarded(lambda: dispatch(args))


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "init":
        return _init(args)
    if args.command == "project":
        from mlops.project_check import check_command

        return check_command(args.project)
    if args.command in OPERATOR_COMMANDS:
        return _run_operator(args)
    if args.command == "openapi":
        from functions.handlers.inference import openapi_document
        from infra.config import stage_config

        print(openapi_document(args.project, auth=stage_config(args.stage).api_auth))
        return 0
    if args.command == "cost":
        from mlops.cost_command import run_cost

        return run_cost(args)
    if args.command == "features":
        from mlops.features import run_feature_command

        return run_feature_command(args)
    if args.command == "synth":
        from mlops.synth import synth

        out = synth(args.out, stage=args.stage, project=args.project)
        print(f"cloud assembly for stage {args.stage}, project {args.project}, written to {out}")
        return 0
    if args.command == "demo":
        from mlops.demo import run_demo

        return run_demo(args.stage, args.assembly, project_dir=args.project, verbose=args.verbose)
    if args.command == "local":
        from mlops.local_commands import run_local_command

        return run_local_command(args)
    if args.command == "ui":
        return _ui(args)
    if args.command == "monitor" and args.monitor_command == "report":
        from mlops.monitor_report import report_command

        return report_command(args)
    raise UsageError(f"unknown command {args.command}")


def _user_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import NoRegionError

    from functions.shared.errors import (
        ConfigurationError,
        DataValidationError,
        InvalidRequestError,
        ModelNotApprovedError,
        ModelNotFoundError,
    )
    from mlops.local.server import LocalCloudError

    return (
        UsageError,
        LookupError,  # an unknown run, version, model, lineage node, stack, output (KeyError included)
        ValueError,
        LocalCloudError,
        ModelNotFoundError,
        ModelNotApprovedError,
        InvalidRequestError,
        DataValidationError,
        ConfigurationError,
        NoRegionError,
    )


# ClientError codes that mean the credentials, not the request, are wrong.
REFUSED_CREDENTIALS = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
     "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken"}
)  # fmt: skip


def one_line(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return " ".join(str(text).split())


def guarded(run: Callable[[], int]) -> int:
    """Run a command; a user's mistake is one line and exit 2, a refused or failed operation one line and exit 1."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    from functions.shared.errors import MlopsError
    from mlops.operator import TrainingRefused

    try:
        return run()
    except (NoCredentialsError, PartialCredentialsError):
        print("error: no AWS credentials: run `aws configure` (or pass --profile), or use --local", file=sys.stderr)
        return 2
    except EndpointConnectionError as exc:
        print(f"error: cannot reach {exc.kwargs.get('endpoint_url')}: check --region, your network, or (for "
              "--local) restart the local cloud: `mlops local down && mlops local up`", file=sys.stderr)  # fmt: skip
        return 2
    except _user_errors() as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in REFUSED_CREDENTIALS:
            print(f"error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
            return 1
        print(f"error: AWS refused your credentials ({code}): refresh them (`aws configure`, or `aws sso login`)",
              file=sys.stderr)  # fmt: skip
        return 2
    except (TrainingRefused, MlopsError, BotoCoreError, TimeoutError) as exc:
        print(f"error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return 1


@contextmanager
def _backend(args: argparse.Namespace) -> Iterator[Backend]:
    from functions.project import load_project
    from mlops import targets

    target = targets.resolve(args)
    yield targets.backend(target, load_project(targets.project_of(target, args.project)))


def _ui(args: argparse.Namespace) -> int:
    from functions.project import load_project
    from mlops import targets
    from mlops.ui.app import check_host, serve

    check_host(args.host, allow_remote=args.allow_remote)  # before any AWS call
    target = targets.resolve(args)
    backend = targets.backend(target, load_project(targets.project_of(target, args.project)))
    return serve(
        backend, host=args.host, port=args.port, allow_remote=args.allow_remote, description=target.description
    )


def _run_operator(args: argparse.Namespace) -> int:
    def run() -> int:
        with _backend(args) as backend:
            return run_operator(args, backend)

    return guarded(run)


def run_operator(args: argparse.Namespace, backend: Backend) -> int:
    """Run one operator command against ``backend`` (the CLI's and the tests' common path)."""
    from mlops import operator as ops
    from mlops import operator_output as out

    as_json = getattr(args, "output", "table") == "json"
    stream = sys.stdout  # the command's stdout, kept: an in-process local cloud swaps sys.stdout while it runs

    def emit(value: Any, *tables: Any) -> None:
        out.print_json(value, stream) if as_json else out.show(*tables, file=stream)

    if args.command == "runs":
        if args.action == "compare":
            from mlops import experiments

            comparison = experiments.compare_runs(backend.metadata, args.run_ids)
            emit(comparison.as_dict(), experiments.comparison_table(comparison, only_differences=args.differences))
            return 0
        if args.action == "list" and args.experiment:
            from mlops import experiments

            listed_runs = experiments.list_experiment_runs(backend.metadata, args.experiment, limit=args.limit)
            if not listed_runs and not as_json:
                print(f"no runs of experiment {args.experiment!r} yet (`mlops experiment run` records one)",
                      file=stream)  # fmt: skip
            else:
                shown = out.table(*listed_runs[0], title=f"experiment {args.experiment}")
                for row in listed_runs:
                    shown.add_row(*(out.cell(value) for value in row.values()))
                emit(listed_runs, shown)
            return 0
        if args.action == "list":
            runs = backend.metadata.list_runs(args.pipeline, limit=args.limit)
            listed = [{"run_id": r.run_id, "status": r.status, "started_at": r.started_at, "trigger": r.trigger,
                       "metrics": r.metrics} for r in runs]  # fmt: skip
            if as_json:
                out.print_json(listed, stream)
            elif not runs:
                starter = {"batch_inference": "mlops batch", "features": "mlops features ingest"}.get(args.pipeline)
                print(f"no {args.pipeline} runs yet (`{starter or 'mlops train'}` starts one)", file=stream)
            else:
                out.show(out.runs_table(runs), file=stream)
        else:
            run = ops.get_run(backend, args.run_id)
            if run.trials:
                from mlops.experiments import trials_table

                emit(run, *out.run_tables(run), trials_table(run))
            else:
                emit(run, *out.run_tables(run))
        return 0
    if args.command == "models":
        if args.action == "list":
            listed = ops.list_models(backend)
            if not listed and not as_json:
                print("no models registered yet (`mlops train` registers one when it passes its gate)", file=stream)
            else:
                emit(listed, out.models_table(listed))
        elif args.action == "show":
            shown = ops.show_model(backend, ops.known_model(backend, args.model or backend.model_name))
            emit(shown, *out.model_tables(shown))
        elif args.action in ("approve", "reject"):
            name, version = args.ref
            decided = ops.decide(backend, name, version, approve=args.action == "approve", reason=args.reason)
            emit(decided, out.key_values({"model": decided.model_name, "version": decided.version,
                                          "approval": decided.approval_status, "by": decided.approval_by,
                                          "reason": decided.approval_reason}))  # fmt: skip
        elif args.action in ("promote", "rollback"):
            if args.action == "promote":
                name, version = args.ref
                change = ops.promote(backend, name, version, alias=args.alias, reason=args.reason)
            else:
                change = ops.rollback(backend, args.model, alias=args.alias, reason=args.reason)
            emit(change, out.key_values({"model": change.model_name, "alias": change.alias,
                                         "from_version": change.from_version, "to_version": change.to_version,
                                         "by": change.by, "reason": change.reason, "at": change.at}))  # fmt: skip
        return 0
    if args.command == "lineage":
        if args.ref:
            chain = ops.lineage(backend, *args.ref)
            emit(
                {"root": chain.root, "nodes": chain.nodes, "edges": chain.edges}, *out.lineage_tables(chain, ops.KINDS)
            )
            return 0
        chain = (
            ops.feature_view_lineage(backend, args.feature_view)
            if args.feature_view
            else ops.dataset_lineage(backend, args.dataset)
        )
        used = ops.models_in(chain)
        if as_json:
            out.print_json({"asked": args.feature_view or args.dataset, "models": used, "nodes": chain.nodes,
                            "edges": chain.edges}, stream)  # fmt: skip
        else:
            print(f"models that used {args.feature_view or args.dataset}: {', '.join(used) if used else 'none'}",
                  file=stream)  # fmt: skip
            out.show(*out.lineage_tables(chain, ops.KINDS), file=stream)
        return 0
    if args.command == "train":
        return _train(args, backend, emit)
    if args.command == "batch":
        return _batch(args, backend, emit)
    if args.command == "experiment":
        from mlops import experiments

        request = ops.training_request(args.source, start=args.start, end=args.end, as_of=args.as_of, model=args.model)
        spec = backend.spec(request.get("model"))  # an unknown model is refused before any work
        request, _ = experiments.training_request_with(
            backend.metadata, spec, request, params=args.param, tune=args.tune
        )  # bad params are refused here, naming the parameter, before any work
        result = experiments.run_experiment(backend, request, experiment=args.experiment, note=args.note)
        emit(result, out.key_values(result, title=f"experiment {result['run_id']}"))
        return 0
    raise UsageError(f"unknown command {args.command}")


def _batch(args: argparse.Namespace, backend: Backend, emit: Callable[..., None]) -> int:
    from mlops import operator as ops
    from mlops import operator_output as out

    request = {"entities_uri": args.entities} if args.entities else {"input_uri": args.input}
    arn = ops.start_batch(backend, request, trigger={"type": "manual", "by": ops.identity(backend)}, name=args.name)
    if not args.local:
        emit({"execution": arn, "status": "RUNNING"},
             out.key_values({"started": arn, "follow": "mlops runs list --pipeline batch_inference"}))  # fmt: skip
        return 0
    status, name, error, cause = _ended(backend, arn)
    run = ops.get_run(backend, name)
    emit({"execution": arn, "status": status, "error": error, "cause": cause, "run": run}, *out.run_tables(run))
    if status != "SUCCEEDED":
        print(f"error: batch run {name} ended {status}: {error}: {out.error_message(cause)}", file=sys.stderr)
        return 1
    return 0


def _ended(backend: Backend, arn: str) -> tuple[str, str, str | None, str | None]:
    """Wait for execution ``arn`` to end: its status, name, error and cause (in process or through the API)."""
    from mlops import operator as ops

    if backend.cloud is not None:
        ended = backend.cloud.wait_for_execution(arn)
        return ended.status, ended.name, ended.error, ended.cause
    described = ops.wait_for_execution(backend, arn)
    return described["status"], described["name"], described.get("error"), described.get("cause")


def _train(args: argparse.Namespace, backend: Backend, emit: Callable[..., None]) -> int:
    from mlops import operator as ops
    from mlops import operator_output as out

    request = ops.training_request(args.source, start=args.start, end=args.end, as_of=args.as_of, model=args.model)
    if backend.project is not None:
        spec = backend.spec(request.get("model"))  # an unknown model is refused before the pipeline starts
        if args.param or args.tune or args.params_from:
            from mlops.experiments import training_request_with

            request, ignored = training_request_with(
                backend.metadata, spec, request, params=args.param, tune=args.tune, params_from=args.params_from
            )
            if ignored:
                print(f"note: params of {args.params_from} the estimator does not take, left out: "
                      f"{', '.join(ignored)}", file=sys.stderr)  # fmt: skip
    elif args.param or args.tune or args.params_from:
        raise UsageError("--param, --tune and --params-from need the project (--project PATH) to check them")
    trigger = {"type": "manual", "by": ops.identity(backend)}
    arn = ops.start_training(backend, request, trigger=trigger, name=args.name)
    if not args.local:
        emit({"execution": arn, "status": "RUNNING"}, out.key_values({"started": arn, "follow": "mlops runs list"}))
        return 0
    status, name, error, cause = _ended(backend, arn)
    run = ops.get_run(backend, name)
    summary = {"execution": arn, "status": status, "error": error, "cause": cause, "run": run}
    emit(summary, *out.run_tables(run))
    if status != "SUCCEEDED":
        print(f"error: training run {name} ended {status}: {error}: {out.error_message(cause)}", file=sys.stderr)
        return 1
    return 0


def _init(args: argparse.Namespace) -> int:
    from mlops.scaffold import scaffold

    try:
        written = scaffold(args.directory, task=args.task)
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created a {args.task} project in {args.directory} ({len(written)} files):")
    for path in written:
        print(f"  {path}")
    print(f"next: mlops project check --project {args.directory}; mlops demo --project {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
