"""The ``mlops`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops.operator import Backend

OPERATOR_COMMANDS = ("runs", "models", "lineage", "train", "experiment")
REPO_ROOT = Path(__file__).resolve().parent.parent
# Set MLOPS_PROJECT once in a shell to make a project every command's default.
PROJECT_ENV = "MLOPS_PROJECT"


def default_project() -> Path:
    """``$MLOPS_PROJECT``, else the project ``cdk.json`` names (the shipped demo), relative to the toolkit."""
    if os.environ.get(PROJECT_ENV):
        return Path(os.environ[PROJECT_ENV])
    context = json.loads((REPO_ROOT / "cdk.json").read_text()).get("context", {})
    return REPO_ROOT / context["project"]


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
    parser = argparse.ArgumentParser(prog="mlops", description="Serverless MLOps toolkit: operator commands")
    commands = parser.add_subparsers(dest="command", required=True)

    init_cmd = commands.add_parser("init", help="scaffold a working project (definitions, sample data, tests)")
    init_cmd.add_argument("directory", type=Path)
    init_cmd.add_argument("--task", choices=("classification", "regression"), default="classification")
    project_cmd = commands.add_parser("project", help="the project: check it and print what it defines")
    project_sub = project_cmd.add_subparsers(dest="project_command", required=True)
    project_sub.add_parser("check", help="load and check the project, run its sample data through its rules")

    synth_cmd = commands.add_parser("synth", help="synthesize the CDK app (cdk-nag runs) into a cloud assembly")
    synth_cmd.add_argument("--stage", default="dev")
    synth_cmd.add_argument("--out", type=Path, default=Path("cdk.out"))

    demo_cmd = commands.add_parser("demo", help="train and serve on the local cloud, end to end")
    demo_cmd.add_argument("--stage", default="dev")
    demo_cmd.add_argument("--assembly", type=Path, default=None, help="use this cloud assembly instead of synthesizing")

    local_cmd = commands.add_parser("local", help="the local cloud")
    local_sub = local_cmd.add_subparsers(dest="local_command", required=True)
    report_cmd = local_sub.add_parser("report", help="what the local cloud emulates and what it does not")
    report_cmd.add_argument("--assembly", type=Path, default=Path("cdk.out"))

    commands.add_parser("openapi", help="print the inference API's OpenAPI document (generated from the code)")
    monitor_cmd = commands.add_parser("monitor", help="drift and quality monitoring")
    monitor_sub = monitor_cmd.add_subparsers(dest="monitor_command", required=True)
    monitor_report = monitor_sub.add_parser("report", help="save (and open) a monitor run's HTML drift report")
    monitor_report.add_argument("--stage", default="dev")
    monitor_report.add_argument("--model", default=None, help="default: the project's first model")
    monitor_report.add_argument("--bucket", default=None, help="artifacts bucket (default: the stack's output)")
    monitor_report.add_argument("--run", default=None, help="monitor run id (default: the latest)")
    monitor_report.add_argument("--out", type=Path, default=Path("."), help="file or directory to save to")
    monitor_report.add_argument("--open", action="store_true", help="open the saved report in a browser")
    cost_cmd = commands.add_parser("cost", help="estimate USD/month of a stage for a traffic profile")
    cost_cmd.add_argument("--stage", default="dev")
    cost_cmd.add_argument("--profile", default="small", help="small, medium, large, or all")
    cost_cmd.add_argument("--requests", type=int, default=None, help="inference requests per month")
    cost_cmd.add_argument("--records", type=int, default=None, help="records per request")
    cost_cmd.add_argument("--runs", type=int, default=None, help="training runs per month")
    cost_cmd.add_argument("--data-gb", type=float, default=None, help="data volume in GB")
    cost_cmd.add_argument("--assembly", type=Path, default=None, help="a synthesized assembly of the stage")
    _add_feature_commands(commands)

    _add_operator_commands(commands)
    _give_every_command_project(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "project", None) is None:
        args.project = default_project()
    if args.command == "init":
        return _init(args)
    if args.command == "project":
        from mlops.project_check import check_command

        return check_command(args.project)
    if args.command in OPERATOR_COMMANDS:
        return _run_operator(args)
    if args.command == "openapi":
        from functions.handlers.inference import openapi_document

        print(openapi_document())
        return 0
    if args.command == "cost":
        from mlops.cost_command import run_cost

        return run_cost(args)
    if args.command == "features":
        return _run_feature_command(args)
    if args.command == "synth":
        from mlops.synth import synth

        out = synth(args.out, stage=args.stage, project=args.project)
        print(f"cloud assembly for stage {args.stage}, project {args.project}, written to {out}")
        return 0
    if args.command == "demo":
        from mlops.demo import run_demo

        return run_demo(args.stage, args.assembly, project_dir=args.project)
    if args.command == "local" and args.local_command == "report":
        from mlops.local import LocalCloud

        with LocalCloud(args.assembly) as cloud:
            print("\n".join(cloud.report.lines()))
        return 0
    if args.command == "monitor" and args.monitor_command == "report":
        from functions.project import load_project
        from mlops.monitor_report import report_command

        model = args.model or load_project(args.project).models[0].name
        return report_command(
            stage=args.stage, model=model, bucket=args.bucket, run_id=args.run, out=args.out, open_it=args.open
        )
    parser.error(f"unknown command {args.command}")
    return 2


def _add_feature_commands(commands: Any) -> None:
    from mlops.features import DEFAULT_STORE

    features = commands.add_parser(
        "features",
        help="feature store: ingest raw data, read online features, build point-in-time training sets",
        description=(
            "Without --stack, commands use a local feature store kept in --store (moto in-process, loaded from and "
            "saved back to that directory on each command). With --stack, they use the deployed stack's bucket and "
            "table (found from its CloudFormation outputs, with your AWS credentials)."
        ),
    )
    sub = features.add_subparsers(dest="features_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store", type=Path, default=DEFAULT_STORE, help=f"local store directory (default {DEFAULT_STORE})"
    )
    common.add_argument("--stack", default=None, help="deployed stack name (e.g. Mlops-dev): use AWS instead")

    ingest = sub.add_parser(
        "ingest",
        parents=[common],
        help="validate, quarantine, transform, store offline and materialize online a raw CSV/Parquet file",
        description=(
            "Locally, runs the feature pipeline's steps in-process. With --stack, uploads the file under "
            "raw/features/<source>/ in the data bucket; the S3 event starts the deployed pipeline. PATH may "
            "be a directory of part files: one batch, run as the partitioned pipeline runs it (with --stack, "
            "uploaded under raw/feature-batches/<source>/<directory name>/ followed by its _SUCCESS marker)."
        ),
    )
    ingest.add_argument("path", type=Path, help="a raw CSV/Parquet file, or a directory of part files")
    ingest.add_argument("--source", default=None, help="the project's raw source (default: its only one)")
    ingest.add_argument("--max-bad-row-fraction", type=float, default=0.05)
    ingest.add_argument("--chunk-rows", type=int, default=5000)

    get = sub.add_parser("get", parents=[common], help="read online features of entities (PRESENT/NOT_FOUND/EXPIRED)")
    get.add_argument("view", help="feature view, name or name:vN")
    get.add_argument("keys", nargs="+", help="entity keys: a value, or k=v[,k2=v2]")
    get.add_argument("--features", default=None, help="comma-separated subset of the view's features")
    get.add_argument("--as-of", default=None, help="judge TTL as of this time instead of now (e.g. 2015-12-31T12:00Z)")

    training = sub.add_parser(
        "training-set", parents=[common], help="point-in-time-correct training set + manifest from the offline store"
    )
    training.add_argument("entities", type=Path, help="Parquet/CSV with join keys and event_timestamp")
    training.add_argument("--views", required=True, help="comma-separated feature views (name or name:vN)")
    training.add_argument("--out", type=Path, required=True, help="output Parquet; the manifest goes next to it")
    training.add_argument("--strict", action="store_true", help="also require created_timestamp <= entity time")
    training.add_argument("--full-feature-names", action="store_true", help="name columns view__feature")

    sub.add_parser("views", help="the feature views defined in code, with versions, TTLs and rules")


def _run_feature_command(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from functions.project import load_project
    from functions.shared.errors import MlopsError
    from mlops import features

    console = Console(highlight=False)
    try:
        project = load_project(args.project)
        if args.features_command == "views":
            console.print_json(json.dumps(features.describe_views(project)))
            return 0
        if args.features_command == "ingest":
            source = args.source
            if source is None:
                if len(project.sources) != 1:
                    names = ", ".join(s.name for s in project.sources)
                    raise MlopsError(f"project {project.name!r} has several raw sources ({names}): pass --source")
                source = project.sources[0].name
            return features.ingest(
                args.path,
                project=project,
                source=source,
                store=args.store,
                stack=args.stack,
                max_bad_row_fraction=args.max_bad_row_fraction,
                chunk_rows=args.chunk_rows,
                console=console,
            )
        if args.features_command == "get":
            return features.get(
                args.view,
                args.keys,
                project=project,
                features=args.features.split(",") if args.features else None,
                as_of=args.as_of,
                store=args.store,
                stack=args.stack,
                console=console,
            )
        return features.training_set(
            args.entities,
            project=project,
            views=args.views.split(","),
            out=args.out,
            strict=args.strict,
            full_feature_names=args.full_feature_names,
            store=args.store,
            stack=args.stack,
            console=console,
        )
    except MlopsError as exc:
        console.print(f"[red]{type(exc).__name__}: {exc}[/]")
        return 1


def _target(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", default="Mlops-dev", help="deployed stack whose outputs to use (default Mlops-dev)")
    where.add_argument(
        "--local",
        action="store_true",
        help="run against a local cloud started from --assembly for this command only (state does not persist)",
    )
    parser.add_argument("--assembly", type=Path, default=Path("cdk.out"), help="cloud assembly for --local")


def _add_operator_commands(commands: Any) -> None:
    runs = commands.add_parser("runs", help="pipeline and experiment runs (metadata store)")
    runs_sub = runs.add_subparsers(dest="action", required=True)
    runs_list = runs_sub.add_parser("list")
    runs_list.add_argument("--pipeline", default="training", help="training (default) or experiment")
    runs_list.add_argument("--limit", type=int, default=20)
    runs_show = runs_sub.add_parser("show")
    runs_show.add_argument("run_id")
    models = commands.add_parser("models", help="model registry: versions, approval, aliases")
    models_sub = models.add_subparsers(dest="action", required=True)
    models_sub.add_parser("list")
    show = models_sub.add_parser("show")
    show.add_argument("model", nargs="?", help="default: the stage's model")
    # Who decides is never typed: approvals and alias moves record the caller's AWS identity (STS).
    for name in ("approve", "reject"):
        decide = models_sub.add_parser(name, help=f"{name} a pending version (recorded under your AWS identity)")
        decide.add_argument("ref", help="MODEL:VERSION")
        decide.add_argument("--reason", required=True)
    promote = models_sub.add_parser("promote", help="point an alias at an approved version (audited)")
    promote.add_argument("ref", help="MODEL:VERSION")
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
    asked.add_argument("ref", nargs="?", help="MODEL:VERSION: its trigger, data, run, aliases, deployments")
    asked.add_argument("--feature-view", help="NAME or NAME:vN: the training sets, runs and models that used it")
    asked.add_argument("--dataset", help="a training set's manifest sha256 (its lineage id) or data sha256")
    train = commands.add_parser("train", help="start the training pipeline (waits with --local)")
    train.add_argument("--source", help="s3:// URI of a CSV/Parquet table (default: the feature store)")
    train.add_argument("--start", help="feature-store window start (ISO-8601; default: all history)")
    train.add_argument("--end", help="feature-store window end (ISO-8601; default: now)")
    train.add_argument("--as-of", help="read the feature store as it was then (ISO-8601; default: now, recorded)")
    train.add_argument("--name", help="execution name (idempotency: one run per name)")
    train.add_argument("--model", default=None, help="the project's model to train (default: its only one)")
    experiment = commands.add_parser("experiment", help="experiments: train locally through the same entrypoint")
    experiment_sub = experiment.add_subparsers(dest="action", required=True)
    run = experiment_sub.add_parser("run")
    run.add_argument("--source", help="s3:// URI of a CSV/Parquet table (default: the feature store)")
    run.add_argument("--start", help="feature-store window start (ISO-8601; default: all history)")
    run.add_argument("--end", help="feature-store window end (ISO-8601; default: now)")
    run.add_argument("--as-of", help="read the feature store as it was then (ISO-8601; default: now, recorded)")
    run.add_argument("--note", default="")
    run.add_argument("--model", default=None, help="the project's model to train (default: its only one)")
    for parser in (runs_list, runs_show, lineage, train, run, *models_sub.choices.values()):
        _target(parser)


def _init(args: argparse.Namespace) -> int:
    from mlops.scaffold import scaffold

    try:
        written = scaffold(args.directory, task=args.task)
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created a {args.task} project in {args.directory} ({len(written)} files):")
    for path in written:
        print(f"  {path}")
    print(f"next: mlops project check --project {args.directory}; mlops demo --project {args.directory}")
    return 0


def parse_ref(ref: str) -> tuple[str, int]:
    name, _, version = ref.rpartition(":")
    if not name or not version.isdigit():
        raise SystemExit(f"expected MODEL:VERSION, got {ref!r}")
    return name, int(version)


@contextmanager
def _backend(args: argparse.Namespace) -> Iterator[Backend]:
    from functions.project import load_project
    from mlops.operator import Backend

    project = load_project(args.project)
    if not args.local:
        yield Backend.from_stack(args.stack, project)
        return
    from mlops.demo import backfill_features, demo_data
    from mlops.local import LocalCloud

    with LocalCloud(args.assembly) as cloud:
        backend = Backend.from_cloud(cloud)
        # A fresh local cloud is empty: put the project's sample data where the stack expects a table, and
        # backfill the feature store with it through the feature pipeline.
        raw = backend.raw_dataset_uri.removeprefix("s3://").split("/", 1)
        cloud.client("s3").put_object(Bucket=raw[0], Key=raw[1], Body=demo_data(project))
        loaded = backfill_features(cloud, project=project)
        if loaded.status != "SUCCEEDED":
            raise SystemExit(f"backfilling the local feature store failed: {loaded.error}: {loaded.cause}")
        yield backend


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=lambda o: getattr(o, "__dict__", str(o))))


def _run_operator(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from functions.shared.errors import MlopsError

    try:
        with _backend(args) as backend:
            return run_operator(args, backend)
    except (MlopsError, ValueError, ClientError, BotoCoreError) as exc:  # a mistake or a refusal: one line
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:  # an unknown run or lineage node, a stack without the outputs a command needs
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1


def run_operator(args: argparse.Namespace, backend: Backend) -> int:
    """Run one operator command against ``backend`` (the CLI's and the tests' common path)."""
    from mlops import operator as ops

    if args.command == "runs":
        if args.action == "list":
            runs = backend.metadata.list_runs(args.pipeline, limit=args.limit)
            _print([{"run_id": r.run_id, "status": r.status, "started_at": r.started_at, "trigger": r.trigger,
                     "metrics": r.metrics} for r in runs])  # fmt: skip
        else:
            _print(backend.metadata.get_run(args.run_id))
        return 0
    if args.command == "models":
        if args.action == "list":
            _print(ops.list_models(backend))
        elif args.action == "show":
            _print(ops.show_model(backend, args.model or backend.model_name))
        elif args.action in ("approve", "reject"):
            name, version = parse_ref(args.ref)
            _print(ops.decide(backend, name, version, approve=args.action == "approve", reason=args.reason))
        elif args.action == "promote":
            name, version = parse_ref(args.ref)
            _print(ops.promote(backend, name, version, alias=args.alias, reason=args.reason))
        elif args.action == "rollback":
            _print(ops.rollback(backend, args.model, alias=args.alias, reason=args.reason))
        return 0
    if args.command == "lineage":
        if args.ref:
            print("\n".join(ops.lineage_lines(ops.lineage(backend, *parse_ref(args.ref)))))
            return 0
        chain = (
            ops.feature_view_lineage(backend, args.feature_view)
            if args.feature_view
            else ops.dataset_lineage(backend, args.dataset)
        )
        used = ops.models_in(chain)
        print(f"models that used {args.feature_view or args.dataset}: {', '.join(used) if used else 'none'}")
        print("\n".join(ops.lineage_lines(chain)))
        return 0
    if args.command == "train":
        request = ops.training_request(
            args.source, start=args.start, end=args.end, as_of=args.as_of, model=args.model
        )
        trigger = {"type": "manual", "by": ops.identity(backend)}
        arn = ops.start_training(backend, request, trigger=trigger, name=args.name)
        if backend.cloud is None:
            print(f"started {arn}")
            return 0
        result = backend.cloud.wait_for_execution(arn)
        _print({"execution": arn, "status": result.status, "error": result.error, "cause": result.cause,
                "run": backend.metadata.get_run(result.name)})  # fmt: skip
        return 0 if result.status == "SUCCEEDED" else 1
    if args.command == "experiment":
        request = ops.training_request(
            args.source, start=args.start, end=args.end, as_of=args.as_of, model=args.model
        )
        _print(ops.run_experiment(backend, request, note=args.note))
        return 0
    raise SystemExit(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
