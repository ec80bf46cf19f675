"""`make demo`: synth a project, stand the stacks up locally, run the whole loop on it.

Everything specific to the data comes from the project's ``DemoScenario``: the sample file
backfilled into the feature store, the later rows sent as traffic and the shift that makes
them drift. ``make demo PROJECT=DIR`` (``mlops demo --project DIR``) runs any project.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from functions.feature_store.definitions import EVENT_TIMESTAMP
from functions.feature_store.feedback import CAPTURE_DELIVERY_MARGIN, ROW_SOURCE
from functions.feature_store.transformations import apply_transformation
from functions.metadata.metadata_store import MetadataStore
from functions.monitoring.monitor_store import MonitorRunStore
from functions.project import DemoScenario, ModelSpec, Project, load_project
from functions.project.samples import sample_file, validated_sample
from functions.registry.model_registry import ModelRegistry
from functions.shared.errors import ProjectError
from functions.shared.settings import BACKFILL_EXECUTION_PREFIX, RAW_BACKFILL_PREFIX
from functions.training.model_spec import METRICS
from mlops.local import LocalCloud
from mlops.local.logs import log_to_file
from mlops.synth import synth

_LOG = logging.getLogger(__name__)


def demo_scenario(project: Project) -> DemoScenario:
    if project.demo is None:
        raise ProjectError(
            f"project {project.name!r} declares no demo: add demo=DemoScenario(source=..., data=..., "
            "traffic_from=..., shift={...}) to its Project(...)"
        )
    return project.demo


def demo_data(project: Project) -> bytes:
    """The project's sample file (its ``DemoScenario.data``), as bytes."""
    demo_scenario(project)
    return sample_file(project).read_bytes()


def shipped_dataset_csv(project: Project | None = None) -> bytes:
    """The sample data of ``project`` (default: the default project, the shipped demo)."""
    from mlops.cli import default_project

    return demo_data(project or load_project(default_project()))


def demo_traffic(project: Project) -> tuple[ModelSpec, list[dict[str, Any]], list[Any]]:
    """Prediction records from the demo's later rows: the model's features, computed by its views' rules
    from the validated sample data, with the scenario's shift added (the world the model was not trained on);
    and each row's true label (what the demo sends back as ground truth), empty when no view holds the label."""
    scenario = demo_scenario(project)
    model = project.model(scenario.model) if scenario.model else project.models[0]
    valid = validated_sample(project).valid
    frame: pd.DataFrame | None = None
    for ref in model.feature_store.views:
        view = project.view_by_ref(ref)
        rows = apply_transformation(view, valid)
        frame = rows if frame is None else frame.merge(rows, on=[*view.join_keys, EVENT_TIMESTAMP], how="inner")
    assert frame is not None
    later = frame[frame[EVENT_TIMESTAMP] >= pd.Timestamp(scenario.traffic_from, tz="UTC")].copy()
    for feature, offset in scenario.shift.items():
        later[feature] = later[feature] + offset
    records = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in later[model.feature_names].to_dict(orient="records")
    ]
    labels = [v.item() if hasattr(v, "item") else v for v in later[model.label]] if model.label in later else []
    return model, records, labels


def post_json(url: str, body: Any, *, api_key: str | None) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"x-api-key": api_key} if api_key else {})}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def backfill_features(
    cloud: LocalCloud, body: bytes | None = None, *, project: Project | None = None, file: str | None = None
) -> Any:
    """Load history (default: the project's sample data) into the feature store, as a backfill.

    The file goes under ``raw/backfill/<source>/`` (nothing starts on its own there) and the
    execution is named ``backfill-*``, so its success does not ask the retrain guard for a run.
    """
    if project is None:
        assert cloud.project_dir is not None, "the assembly names no project"
        project = load_project(cloud.project_dir)
    scenario = demo_scenario(project)
    bucket = cloud.output("DataBucketName")
    key = f"{RAW_BACKFILL_PREFIX}{scenario.source}/{file or Path(scenario.data).name}"
    cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=demo_data(project) if body is None else body)
    return cloud.run_state_machine(
        cloud.output("FeatureStateMachineArn"),
        {"source_uri": f"s3://{bucket}/{key}", "trigger": {"type": "backfill", "key": key}},
        name=f"{BACKFILL_EXECUTION_PREFIX}{uuid.uuid4().hex[:12]}",
    )


def registry_of(cloud: LocalCloud) -> ModelRegistry:
    table = cloud.runtime.functions[cloud.function_name("FunctionsRegister")].environment["MLOPS_REGISTRY_TABLE"]
    return ModelRegistry(cloud.client("dynamodb"), table)


def metadata_of(cloud: LocalCloud) -> MetadataStore:
    table = cloud.runtime.functions[cloud.function_name("FunctionsRunRecorder")].environment["MLOPS_METADATA_TABLE"]
    return MetadataStore(cloud.client("dynamodb"), table)


class Story:
    """What the demo prints: its story at the terminal's width, long steps with a spinner and their elapsed time.

    Lines are wrapped between words only: a word longer than the line (an S3 URI, an id) is kept whole on its
    own line, so it can be copied. The spinner shows only on a terminal; the elapsed time is always printed.
    """

    def __init__(self, console: Console) -> None:
        self.console = console

    def say(self, text: str, *, markup: bool = True) -> None:
        for line in self.lines(Text.from_markup(text) if markup else Text(text)):
            self.console.print(line, soft_wrap=True)

    def lines(self, text: Text) -> list[Text]:
        """``text`` broken between words to the console's width; a word longer than a line is never broken (the
        terminal may wrap it, a copy keeps it whole)."""
        plain, width = text.plain, self.console.width
        cuts: list[int] = []
        start = 0
        for word in re.finditer(r"\S+", plain):
            if word.end() - start > width and plain[start : word.start()].strip():
                cuts.append(word.start())
                start = word.start()
        pieces = list(text.divide(cuts))
        for piece in pieces:
            piece.rstrip()
        return pieces

    @contextmanager
    def working(self, what: str) -> Iterator[Elapsed]:
        """A spinner and a running clock beside ``what`` (on a terminal) while the block runs; its elapsed time."""
        elapsed = Elapsed(time.perf_counter())
        with ExitStack() as showing:
            if self.console.is_terminal:
                progress = showing.enter_context(
                    Progress(
                        SpinnerColumn(),
                        TextColumn("[dim]{task.description}"),
                        TimeElapsedColumn(),
                        console=self.console,
                        transient=True,
                    )
                )
                progress.add_task(what, total=None)
            try:
                yield elapsed
            finally:
                elapsed.stop()


@dataclass
class Elapsed:
    started: float
    seconds: float = 0.0

    def stop(self) -> None:
        self.seconds = time.perf_counter() - self.started

    def __str__(self) -> str:
        return f"{self.seconds:.1f} s"


# Where the demo keeps what is not its story, relative to the working directory (as `.mlops/features`).
DEMO_DIR = Path(".mlops")


def run_demo(
    stage: str = "dev",
    assembly: Path | None = None,
    *,
    project_dir: Path,
    verbose: bool = False,
    out_dir: Path = DEMO_DIR,
) -> int:
    """Synth (unless ``assembly``), stand the stacks up locally and run the whole loop, printing its story.

    Function and library logs go to ``out_dir/demo.log`` (``verbose``: also to the console, dimmed); the
    monitor's drift report is saved as ``out_dir/demo-drift-report.html``.
    """
    console = Console(file=sys.stdout, highlight=False)  # this stdout: the local cloud swaps sys.stdout per call
    story = Story(console)
    started = time.perf_counter()
    try:
        project = load_project(project_dir)
        model, records, labels = demo_traffic(project)  # fails here, before synth, when the sample data is unusable
    except ProjectError as exc:
        story.say(f"[red]error:[/] {exc}")
        return 1
    log_path = out_dir / "demo.log"
    echo = (lambda line: console.print(f"  {line}", style="dim", markup=False, soft_wrap=True)) if verbose else None
    with tempfile.TemporaryDirectory(prefix="mlops-synth-") as scratch, log_to_file(log_path, echo=echo) as log:
        story.say(
            f"[bold]mlops demo[/]: project {project.name} ({project.root}), stage {stage}, on a local cloud "
            "(moto, in this process: no AWS account, no Docker)"
        )
        shown = "shown here too" if verbose else "`mlops demo --verbose` or `make demo VERBOSE=1` shows them here"
        story.say(f"   function and library logs: {log_path} ({shown})")
        if assembly is None:
            story.say(f"[bold]1. cdk synth[/] stage={stage}; cdk-nag AwsSolutions + Serverless checks run here")
            with story.working("synthesizing the CDK app") as took:
                assembly = synth(Path(scratch) / "cdk.out", stage=stage, project=project_dir)
            story.say(f"   cloud assembly written in {took}")
        else:
            story.say(f"[bold]1. cdk synth[/]: skipped, using the cloud assembly {assembly}")
        story.say("[bold]2. local cloud[/]: standing the synthesized stacks up on moto")
        with ExitStack() as running:
            with story.working("provisioning the stacks' resources") as took:
                cloud = running.enter_context(LocalCloud(assembly))
            cloud.runtime.log_listeners.append(log.function_output)
            story.say(
                f"   {len(cloud.report.emulated)} resources emulated, {len(cloud.report.not_emulated)} not "
                f"(`make synth`, then `mlops local report`, lists them), in {took}"
            )
            code = _loop(cloud, story, project=project, model=model, records=records, labels=labels, out_dir=out_dir)
        story.say(f"   {log.lines} log lines in {log_path}")
    if code == 0:
        story.say(f"[bold green]done[/] in {time.perf_counter() - started:.1f} s")
    return code


def _loop(
    cloud: LocalCloud,
    story: Story,
    *,
    project: Project,
    model: ModelSpec,
    records: list[dict[str, Any]],
    labels: list[Any],
    out_dir: Path,
) -> int:
    """Steps 3 to 13 on a running cloud; 0 when every step did what the story says."""
    scenario = demo_scenario(project)
    story.say(f"[bold]3. feature store[/]: {scenario.data} backfilled through the feature pipeline")
    with story.working("running the feature pipeline (validate, transform, write, materialize)") as took:
        loaded = backfill_features(cloud, project=project)
    feature_run = metadata_of(cloud).get_run(loaded.name)
    if loaded.status != "SUCCEEDED" or feature_run.summary is None:
        story.say(f"[red]feature pipeline did not succeed: {escape(f'{loaded.error}: {loaded.cause}')}[/]")
        return 1
    counts = feature_run.summary["counts"]
    story.say(
        f"   run {feature_run.run_id} in {took}: {counts['rows_in']} rows in = {counts['rows_valid']} stored "
        f"+ {counts['rows_quarantined']} quarantined; "
        + ", ".join(f"{w['view']}:v{w['version']} {w['rows']} rows" for w in feature_run.summary["writes"])
    )

    story.say(
        "[bold]4. training pipeline[/]: Step Functions execution of the synthesized definition, "
        "training set = point-in-time join from the feature store"
    )
    with story.working("running the training pipeline") as took:
        result = cloud.run_state_machine(
            cloud.output("TrainingStateMachineArn"),
            {"feature_store": {}, "trigger": {"type": "manual", "by": "make demo"}},
        )
    run = metadata_of(cloud).get_run(result.name)
    story.say(f"   run {run.run_id}: execution {result.status}, run record {run.status}, in {took}")
    steps = Table("step", "status", "started", "seconds", box=None, padding=(0, 2))
    for step in run.steps:
        steps.add_row(step.step, step.status, _clock(step.started_at), f"{step.duration_s:.2f}")
    story.console.print(steps)
    if result.status != "SUCCEEDED" or run.status != "SUCCEEDED":
        story.say(f"[red]pipeline did not succeed: {escape(f'{result.error}: {result.cause}')}[/]")
        return 1

    version = registry_of(cloud).resolve_alias(cloud.output("ModelName"), "champion")
    story.say(
        f"[bold]5. registry[/]: {version.model_name} v{version.version} is champion, "
        f"artifact sha256 {version.artifact_sha256[:16]}…, trained on {version.training_data_sha256[:16]}…"
    )
    story.say(f"   training data of v{version.version}: {training_data(result.output['dataset'])}")
    story.say("   holdout metrics: " + ", ".join(f"{k}={v:.3f}" for k, v in version.metrics.items()))

    assert cloud.gateway is not None, "the stack defines no API"
    url, api_key = f"{cloud.gateway.url()}/predict", cloud.gateway.api_key()
    record = dict(records[0])
    for feature, offset in scenario.shift.items():  # the first request: as the model knows the world
        record[feature] -= offset
    status, body = post_json(url, {"records": [record]}, api_key=api_key)
    story.say(f"[bold]6. HTTP[/]: POST {url} (header x-api-key: the stage's API key)")
    story.say(f"   {json.dumps(record)}", markup=False)
    story.say(f"   -> {status} {json.dumps(body)}", markup=False)
    numeric = next(f.name for f in model.inputs if f.dtype in ("float64", "int64"))
    bad = {**record, numeric: "not-a-number"}
    bad_status, bad_body = post_json(url, {"records": [bad]}, api_key=api_key)
    story.say(f"   a wrongly typed field ({numeric}) -> {bad_status} {json.dumps(bad_body)}", markup=False)
    if status != 200:
        return 1
    return feedback_loop(
        cloud, story, url=url, api_key=api_key, records=records, labels=labels, project=project, out_dir=out_dir
    )


def training_data(dataset: dict[str, Any]) -> str:
    """A training set as the demo prints it: rows, where they came from, data sha256."""
    sources = dataset.get("rows_by_source") or {}
    parts = " + ".join(f"{count} {source.replace('_', ' ')}" for source, count in sources.items())
    return f"{dataset['rows']} labelled rows ({parts}), data sha256 {dataset['sha256'][:16]}…"


def gate_lines(evaluation: dict[str, Any], training_set: pd.DataFrame, holdout_rows: int, spec: ModelSpec) -> list[str]:
    """The gate's comparison as it was made: candidate and champion on the candidate's (newest) holdout.

    The split is by time over the stored set's order, so the holdout is the set's last ``holdout_rows`` rows.
    """
    champion = evaluation.get("champion") or {}
    quality = {k: v for k, v in evaluation["metrics"].items() if k in METRICS[spec.task]}
    primary = evaluation["gate"]["primary_metric"]
    holdout = training_set.tail(holdout_rows)
    stamps = pd.to_datetime(holdout[spec.timestamp], utc=True)
    sources = holdout[ROW_SOURCE].value_counts() if ROW_SOURCE in holdout else pd.Series(dtype=int)
    lines = [
        f"holdout: the newest {len(holdout)} rows ({', '.join(f'{n} {k}' for k, n in sources.items())}), "
        f"{stamps.min():%Y-%m-%d %H:%M} .. {stamps.max():%Y-%m-%d %H:%M}; declared metric {primary}"
    ]
    for metric, value in quality.items():
        against = champion.get("metrics", {}).get(metric)
        versus = f" vs champion v{champion['version']} {against:.3f} (re-scored)" if against is not None else ""
        lines.append(f"{'*' if metric == primary else ' '} {metric}: candidate {value:.3f}{versus}")
    verdict = "passed" if evaluation["passed"] else "REJECTED"
    lines.append(f"gate {verdict}: {evaluation['reason']}")
    return lines


def _parquet(cloud: LocalCloud, uri: str) -> pd.DataFrame:
    import io

    return pd.read_parquet(io.BytesIO(_object(cloud, uri)))


def _stamp() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")


def _lambda(cloud: LocalCloud, prefix: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.function_name(prefix), Payload=json.dumps(payload).encode()
    )
    body: dict[str, Any] = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        raise RuntimeError(f"{prefix} failed: {body}")
    return body


def _executions(cloud: LocalCloud) -> list[str]:
    sfn = cloud.client("stepfunctions")
    arn = cloud.output("TrainingStateMachineArn")
    return [e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]]


# The feedback join waits this long past a label for its capture to arrive (functions/feature_store/feedback.py);
# the demo's monitor run is scheduled that far ahead so the labels it just sent are joined.
MONITOR_AHEAD = CAPTURE_DELIVERY_MARGIN + timedelta(minutes=1)


def feedback_loop(
    cloud: LocalCloud,
    story: Story,
    *,
    url: str,
    api_key: str,
    records: list[dict[str, Any]],
    labels: list[Any],
    project: Project,
    out_dir: Path = DEMO_DIR,
) -> int:
    """Shifted traffic -> feedback -> monitor -> drift alarm -> EventBridge -> guard -> retrain -> gate -> canary."""
    from mlops.operator import Backend, lineage, lineage_lines

    backend = Backend.from_cloud(cloud)
    model = backend.model_name
    shift = ", ".join(f"{k} {v:+g}" for k, v in demo_scenario(project).shift.items())
    prediction_ids: list[str] = []
    with story.working(f"sending {len(records)} predictions, 100 a request") as took:
        for start in range(0, len(records), 100):
            status, answer = post_json(url, {"records": records[start : start + 100]}, api_key=api_key)
            if status != 200:
                story.say(f"[red]traffic request answered {status}[/]")
                return 1
            prediction_ids.extend(p["prediction_id"] for p in answer["predictions"])
    story.say(
        f"[bold]7. traffic[/] {_stamp()}: {len(records)} predictions from the later rows "
        f"(from {demo_scenario(project).traffic_from}, shifted: {shift}), captured, in {took}"
    )
    if labels:
        # Ground truth arrives for every prediction: the monitor judges live quality on it, and the feedback
        # join turns it into labelled training rows of the new regime.
        feedback_url = url.removesuffix("/predict") + "/feedback"
        truth = [{"prediction_id": pid, "label": label} for pid, label in zip(prediction_ids, labels, strict=True)]
        answered: Counter[int] = Counter()
        with story.working(f"sending {len(truth)} true labels") as took:
            for start in range(0, len(truth), 100):
                status, answer = post_json(feedback_url, {"labels": truth[start : start + 100]}, api_key=api_key)
                answered[status] += answer.get("labels", 0) if status == 202 else 1
        story.say(
            f"   feedback: the true label of all {len(truth)} predictions, POST /feedback (100 a request) -> "
            + ", ".join(f"{status} x{count}" for status, count in sorted(answered.items()))
            + f", in {took}"
        )
        if set(answered) != {202}:
            return 1
    else:
        story.say("   feedback: none sent (no feature view of the model holds its label)")

    # The monitor's scheduled time closes its window: MONITOR_AHEAD from now covers the traffic just sent (an hour's
    # window) and the labels (older than the join's capture-delivery margin by then).
    wall = datetime.now(UTC)
    now = wall + MONITOR_AHEAD
    minutes = int(MONITOR_AHEAD.total_seconds() // 60)
    story.say(
        f"[bold]8. monitor[/] {_stamp()}: the demo runs the scheduled monitor as at {now:%H:%M:%S} UTC, "
        f"{minutes} minutes ahead of the clock: the feedback join waits "
        f"{int(CAPTURE_DELIVERY_MARGIN.total_seconds() // 60)} minutes past a label for its capture to arrive, "
        "and the labels were just sent"
    )
    with story.working("monitor: drift, live quality, feedback join, report") as took:
        report = _lambda(
            cloud, "FunctionsMonitor", {"time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "detail-type": "Scheduled Event"}
        )
    if "run_id" not in report:  # no champion to monitor: the monitor says why
        story.say(f"[red]the monitor did not run: {escape(str(report.get('reason')))}[/]")
        return 1
    runs = MonitorRunStore(cloud.client("s3"), backend.artifact_bucket)
    record = runs.record(model, report["run_id"])
    drift = record["drift"]
    columns = drift.get("features") or []
    prediction = drift.get("prediction")
    story.say(
        f"   drift {report.get('status')}: dataset drift={report.get('dataset_drift')}, "
        f"{len(drift.get('drifted_features') or [])} of {len(columns)} features drifted"
        + (f" ({', '.join(drift['drifted_features'])})" if drift.get("drifted_features") else "")
        + f", share {report.get('drift_share')}"
        + (f"; prediction drift={prediction['drifted']}" if prediction else "")
        + f"; {drift.get('window_rows')} window rows against {drift.get('reference_rows')} reference rows, in {took}"
        if report.get("status") == "evaluated"
        else f"   drift {report.get('status')}: {escape(str(drift.get('reason')))}, in {took}"
    )
    quality = report.get("quality") or {}
    story.say(
        f"   live quality: {quality.get('status')} over {quality.get('labelled')} labelled of "
        f"{quality.get('predictions')} predictions"
        + (f": {', '.join(f'{k}={v:.3f}' for k, v in quality['metrics'].items())}" if quality.get("metrics") else "")
        + (f" ({escape(quality['reason'])})" if quality.get("reason") else "")
    )
    joined = report.get("feedback_join") or {}
    counts = joined.get("counts") or {}
    story.say(
        f"   training feedback: {counts.get('joined', 0)} labels joined with their captured predictions into "
        f"{joined.get('view')} (offline store), {counts.get('quarantined', 0)} quarantined"
        + (f" {escape(str(joined['reasons']))}" if joined.get("reasons") else "")
        + (f", {counts['superseded']} superseded" if counts.get("superseded") else "")
    )
    saved = out_dir / "demo-drift-report.html"
    saved.write_bytes(runs.report(record))
    story.say(f"   drift report: {report.get('report_uri')}")
    story.say(f"   saved as {saved}: open it in a browser")
    before = set(_executions(cloud))
    assert cloud.alarms is not None
    with story.working("evaluating the alarms; the drift alarm's retraining run") as took:
        changes = cloud.alarms.evaluate(now)
        started = [arn for arn in _executions(cloud) if arn not in before]
        previous = backend.registry.resolve_alias(model, "champion")
        result = cloud.wait_for_execution(started[0]) if len(started) == 1 else None
    firing = [c["detail"]["alarmName"] for c in changes if c["detail"]["state"]["value"] == "ALARM"]
    calm = Counter(c["detail"]["state"]["value"] for c in changes if c["detail"]["alarmName"] not in firing)
    story.say(
        f"   alarms evaluated as at {now:%H:%M:%S} (the monitor's time): "
        + "; ".join([*(f"{name} -> ALARM" for name in firing), *(f"{n} others -> {s}" for s, n in calm.items())])
    )
    if result is None:
        story.say(f"[red]expected one guarded retraining run, got {len(started)}[/]")
        return 1
    run = backend.metadata.get_run(result.name)
    trigger = run.trigger
    monitor_run = (trigger.get("detail") or {}).get("monitor_run") or {}
    story.say(
        f"[bold]9. retrain[/] {_stamp()}: run {run.run_id}: execution {result.status}, run record {run.status}, "
        f"in {took}; trigger: "
        f"{trigger.get('type')} {escape(str(trigger.get('source', '')))}"
        + (f" from monitor run {monitor_run['run_id']}" if monitor_run.get("run_id") else "")
        + " (EventBridge -> retrain guard -> training pipeline)"
    )
    output = result.output or {}
    if "dataset" in output:
        story.say(f"   training data of v{previous.version}: {previous_data(cloud, previous)}")
        story.say(f"   training data of the candidate: {training_data(output['dataset'])}")
    if "evaluation" in output:
        training_set = _parquet(cloud, output["dataset"]["uri"])
        holdout_rows = int(output["split"]["holdout_rows"])
        for line in gate_lines(output["evaluation"], training_set, holdout_rows, project.model(model)):
            story.say(f"   {line}", markup=False)
    elif run.error:
        story.say(f"   {run.error.get('Error')}: {run.error.get('Cause')}", markup=False)
    champion = backend.registry.resolve_alias(model, "champion")
    story.say(
        f"   champion is now v{champion.version} ({champion.approval_status}); "
        f"gate: {champion.approval_reason or 'passed'}"
    )

    schedule = list(cloud.scheduler.schedules)
    runs_before = len(_executions(cloud))
    if schedule:
        cloud.scheduler.fire(schedule[0])
    runs_after = len(_executions(cloud))
    story.say(
        f"[bold]10. guard[/] {_stamp()}: a second trigger inside the cooldown "
        f"({'scheduled retrain' if schedule else 'none available'}) started {runs_after - runs_before} runs"
    )

    # A canary waits its interval before it shifts the rest of the traffic: the demo moves the deployments' clock
    # an hour at a time until none is unfinished (a rollout deferred behind another starts when that one ends).
    bake = datetime.now(UTC)
    under_way = {key for key, r in cloud.codedeploy.rollouts.items() if r.state not in _FINISHED}
    with story.working("canary: pre-traffic smoke test, traffic shift, alarm check") as took:
        for _ in range(_ROLLOUT_ROUNDS):
            cloud.codedeploy.step(bake)
            bake += timedelta(hours=1)
            cloud.codedeploy.step(bake)
            if all(r.state in _FINISHED for r in cloud.codedeploy.rollouts.values()):
                break
        status, body = post_json(url, {"records": [records[0]]}, api_key=api_key)
    hours = round((bake - datetime.now(UTC)).total_seconds() / 3600)
    served = body.get("model", {}).get("version")
    story.say(
        f"[bold]11. canary[/] {_stamp()}: {_rollout(cloud, champion.version, previous.version, under_way)}; "
        f"the demo moved the deployments' clock {hours} hour{'s' if hours != 1 else ''} ahead (to {bake:%H:%M:%S}), "
        "past each canary's wait; "
        f"POST /predict -> {status}, served by v{served}, in {took}"
    )
    if served != champion.version:
        story.say(f"[red]the champion v{champion.version} is not served (v{served} is): see the log for why[/]")
    # The same retrain again, nothing new since: same training set, same code -> skipped and recorded, not registered.
    with story.working("the same retrain again") as took:
        again = cloud.run_state_machine(
            cloud.output("TrainingStateMachineArn"),
            {
                "model": model,
                "feature_store": {},
                "trigger": {"type": "manual", "by": "make demo", "case": "unchanged"},
            },
        )
    repeat = backend.metadata.get_run(again.name)
    versions = [v.version for v in backend.registry.list_versions(model)]
    story.say(
        f"[bold]12. unchanged retrain[/] {_stamp()}: run {repeat.run_id} {again.status} -> {repeat.status}: "
        + escape(
            str((repeat.error or {}).get("Cause") or (again.output or {}).get("dataset", {}).get("retrain_reason"))
        )
        + f" ({took})"
    )
    story.say(f"   versions registered: {versions}; mlops runs list:")
    for listed in backend.metadata.list_runs("training", limit=3):
        story.say(f"     {listed.run_id}  {listed.status:9}  trigger {listed.trigger.get('type')}")
    chain = lineage(backend, model, champion.version)
    story.say(
        f"[bold]13. lineage[/] of {model}:{champion.version}: {len(chain.nodes)} nodes, {len(chain.edges)} edges "
        "(each node's attributes in the log)"
    )
    for line in lineage_lines(chain):
        _LOG.info("lineage of %s:%s: %s", model, champion.version, line)
        kind, node = line.split()[:2]
        shown = line if kind == "edge" else f"{kind:<13} {node}"
        story.say(f"   {shown}", markup=False)  # data, not markup: an edge reads -[relation]->
    return 0 if served == champion.version else 1


_FINISHED = frozenset({"Succeeded", "Failed", "Stopped"})
_ROLLOUT_ROUNDS = 3


def _rollout(cloud: LocalCloud, champion: int, previous: int, under_way: set[str]) -> str:
    """What became of the champion's rollout, as CodeDeploy recorded it (``under_way``: the deployments unfinished
    when the demo started moving the clock)."""
    if champion == previous:
        return f"no rollout: the champion did not move (v{champion})"
    rollouts = list(cloud.codedeploy.rollouts.values())
    if not rollouts:
        return f"[red]no deployment of v{champion} was started[/]"
    last = rollouts[-1]
    outcome = {"Succeeded": "finished"}.get(last.state, last.state)
    problem = f" ({escape(str(last.error.get('message') or last.error))})" if last.error else ""
    before = len(under_way - {last.deployment_id})
    waited = (
        f", once the {'deployment' if before == 1 else f'{before} deployments'} already under way had ended "
        "(a deployment group rolls out one at a time)"
        if before
        else ""
    )
    return f"rollout of v{champion} behind alias live {outcome}{problem}{waited}"


def previous_data(cloud: LocalCloud, version: Any) -> str:
    """What a registered version was trained on, from its training-set manifest."""
    manifest = json.loads(_object(cloud, version.manifest_uri))
    sources = manifest.get("rows_by_source") or {manifest.get("source", "table"): manifest["rows"]}
    return training_data({"rows": manifest["rows"], "sha256": version.training_data_sha256, "rows_by_source": sources})


def _object(cloud: LocalCloud, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body: bytes = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M:%S.%f")[:-3]
