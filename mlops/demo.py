"""`make demo`: synth a project, stand the stacks up locally, run the whole loop on it.

Everything specific to the data comes from the project's ``DemoScenario``: the sample file
backfilled into the feature store, the later rows sent as traffic and the shift that makes
them drift. ``make demo PROJECT=DIR`` (``mlops demo --project DIR``) runs any project.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from functions.feature_store.definitions import EVENT_TIMESTAMP
from functions.feature_store.feedback import CAPTURE_DELIVERY_MARGIN, ROW_SOURCE
from functions.feature_store.transformations import apply_transformation
from functions.metadata.metadata_store import MetadataStore
from functions.project import DemoScenario, ModelSpec, Project, load_project
from functions.project.samples import sample_file, validated_sample
from functions.registry.model_registry import ModelRegistry
from functions.shared.errors import ProjectError
from functions.shared.settings import BACKFILL_EXECUTION_PREFIX, RAW_BACKFILL_PREFIX
from functions.training.model_spec import METRICS
from mlops.local import LocalCloud
from mlops.synth import synth


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


def run_demo(stage: str = "dev", assembly: Path | None = None, *, project_dir: Path) -> int:
    console = Console(highlight=False, width=120)
    started = time.perf_counter()
    try:
        project = load_project(project_dir)
        model, records, labels = demo_traffic(project)  # fails here, before synth, when the sample data is unusable
    except ProjectError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    with tempfile.TemporaryDirectory(prefix="mlops-synth-") as scratch:
        if assembly is None:
            console.print(
                f"[bold]1. cdk synth[/] stage={stage}, project {project.name} ({project.root}); "
                "cdk-nag AwsSolutions + Serverless checks run here"
            )
            clock = time.perf_counter()
            assembly = synth(Path(scratch) / "cdk.out", stage=stage, project=project_dir)
            console.print(f"   cloud assembly written in {time.perf_counter() - clock:.1f}s")
        console.print("[bold]2. local cloud[/]: standing the synthesized stacks up on moto")
        with LocalCloud(assembly) as cloud:
            for line in cloud.report.lines()[:1]:
                console.print(f"   {line}")
            console.print(
                f"   {len(cloud.report.not_emulated)} resources not emulated (listed by `mlops local report`)"
            )

            scenario = demo_scenario(project)
            console.print(f"[bold]3. feature store[/]: {scenario.data} backfilled through the feature pipeline")
            loaded = backfill_features(cloud, project=project)
            feature_run = metadata_of(cloud).get_run(loaded.name)
            if loaded.status != "SUCCEEDED" or feature_run.summary is None:
                console.print(f"[red]feature pipeline did not succeed: {loaded.error}: {loaded.cause}[/]")
                return 1
            counts = feature_run.summary["counts"]
            console.print(
                f"   run {feature_run.run_id}: {counts['rows_in']} rows in = {counts['rows_valid']} stored "
                f"+ {counts['rows_quarantined']} quarantined; "
                + ", ".join(f"{w['view']}:v{w['version']} {w['rows']} rows" for w in feature_run.summary["writes"])
            )

            console.print(
                "[bold]4. training pipeline[/]: Step Functions execution of the synthesized definition, "
                "training set = point-in-time join from the feature store"
            )
            result = cloud.run_state_machine(
                cloud.output("TrainingStateMachineArn"),
                {"feature_store": {}, "trigger": {"type": "manual", "by": "make demo"}},
            )
            run = metadata_of(cloud).get_run(result.name)
            console.print(f"   run {run.run_id}: execution {result.status}, run record {run.status}")
            steps = Table("step", "status", "started", "seconds", box=None, padding=(0, 2))
            for step in run.steps:
                steps.add_row(step.step, step.status, _clock(step.started_at), f"{step.duration_s:.2f}")
            console.print(steps)
            if result.status != "SUCCEEDED" or run.status != "SUCCEEDED":
                console.print(f"[red]pipeline did not succeed: {result.error}: {result.cause}[/]")
                return 1

            version = registry_of(cloud).resolve_alias(cloud.output("ModelName"), "champion")
            console.print(
                f"[bold]5. registry[/]: {version.model_name} v{version.version} is champion, "
                f"artifact sha256 {version.artifact_sha256[:16]}…, trained on {version.training_data_sha256[:16]}…"
            )
            console.print(f"   training data of v{version.version}: {training_data(result.output['dataset'])}")
            console.print("   holdout metrics: " + ", ".join(f"{k}={v:.3f}" for k, v in version.metrics.items()))

            assert cloud.gateway is not None, "the stack defines no API"
            url, api_key = f"{cloud.gateway.url()}/predict", cloud.gateway.api_key()
            record = dict(records[0])
            for feature, offset in scenario.shift.items():  # the first request: as the model knows the world
                record[feature] -= offset
            status, body = post_json(url, {"records": [record]}, api_key=api_key)
            console.print(f"[bold]6. HTTP[/]: POST {url}")
            console.print(f"   {json.dumps(record)}")
            console.print(f"   -> {status} {json.dumps(body)}")
            numeric = next(f.name for f in model.inputs if f.dtype in ("float64", "int64"))
            bad = {**record, numeric: "not-a-number"}
            bad_status, bad_body = post_json(url, {"records": [bad]}, api_key=api_key)
            console.print(f"   a wrongly typed field ({numeric}) -> {bad_status} {json.dumps(bad_body)}")
            if status != 200:
                return 1
            if (
                feedback_loop(cloud, console, url=url, api_key=api_key, records=records, labels=labels, project=project)
                != 0
            ):
                return 1
    console.print(f"[bold green]done[/] in {time.perf_counter() - started:.1f}s")
    return 0


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
    console: Console,
    *,
    url: str,
    api_key: str,
    records: list[dict[str, Any]],
    labels: list[Any],
    project: Project,
) -> int:
    """Shifted traffic -> feedback -> monitor -> drift alarm -> EventBridge -> guard -> retrain -> gate -> canary."""
    from mlops.operator import Backend, lineage, lineage_lines

    backend = Backend.from_cloud(cloud)
    model = backend.model_name
    shift = ", ".join(f"{k} {v:+g}" for k, v in demo_scenario(project).shift.items())
    prediction_ids: list[str] = []
    for start in range(0, len(records), 100):
        status, answer = post_json(url, {"records": records[start : start + 100]}, api_key=api_key)
        if status != 200:
            console.print(f"[red]traffic request answered {status}[/]")
            return 1
        prediction_ids.extend(p["prediction_id"] for p in answer["predictions"])
    console.print(
        f"[bold]7. traffic[/] {_stamp()}: {len(records)} predictions from the later rows "
        f"(from {demo_scenario(project).traffic_from}, shifted: {shift}), captured"
    )
    if labels:
        # Ground truth arrives for every prediction: the monitor judges live quality on it, and the feedback
        # join turns it into labelled training rows of the new regime.
        feedback_url = url.removesuffix("/predict") + "/feedback"
        truth = [{"prediction_id": pid, "label": label} for pid, label in zip(prediction_ids, labels, strict=True)]
        answered: Counter[int] = Counter()
        for start in range(0, len(truth), 100):
            status, answer = post_json(feedback_url, {"labels": truth[start : start + 100]}, api_key=api_key)
            answered[status] += answer.get("labels", 0) if status == 202 else 1
        console.print(
            f"   feedback: the true label of all {len(truth)} predictions, POST /feedback (100 a request) -> "
            + ", ".join(f"{status} x{count}" for status, count in sorted(answered.items()))
        )
        if set(answered) != {202}:
            return 1
    else:
        console.print("   feedback: none sent (no feature view of the model holds its label)")

    # The monitor's scheduled time closes its window: 11 minutes from now covers the traffic just sent (an hour's
    # window) and the labels (older than the join's 10-minute capture-delivery margin by then).
    now = datetime.now(UTC) + MONITOR_AHEAD
    report = _lambda(
        cloud, "FunctionsMonitor", {"time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "detail-type": "Scheduled Event"}
    )
    drifted = [f for f, d in report.get("features", {}).items() if isinstance(d, dict) and d.get("drift")]
    console.print(
        f"[bold]8. monitor[/] {_stamp()}: status={report.get('status')}, "
        f"drift share={report.get('drift_share')}, dataset drift={report.get('dataset_drift')}"
        + (f", drifted: {', '.join(drifted)}" if drifted else "")
    )
    quality = report.get("quality") or {}
    console.print(
        f"   live quality: {quality.get('status')} over {quality.get('labelled')} labelled of "
        f"{quality.get('predictions')} predictions"
        + (f": {', '.join(f'{k}={v:.3f}' for k, v in quality['metrics'].items())}" if quality.get("metrics") else "")
        + (f" ({quality['reason']})" if quality.get("reason") else "")
    )
    joined = report.get("feedback_join") or {}
    counts = joined.get("counts") or {}
    console.print(
        f"   training feedback: {counts.get('joined', 0)} labels joined with their captured predictions into "
        f"{joined.get('view')} (offline store), {counts.get('quarantined', 0)} quarantined"
        + (f" {joined['reasons']}" if joined.get("reasons") else "")
        + (f", {counts['superseded']} superseded" if counts.get("superseded") else "")
    )
    console.print(f"   report: {report.get('report_uri')}")
    before = set(_executions(cloud))
    assert cloud.alarms is not None
    changes = cloud.alarms.evaluate(now)
    for change in changes:
        console.print(f"   alarm {change['detail']['alarmName']} -> {change['detail']['state']['value']}")
    started = [arn for arn in _executions(cloud) if arn not in before]
    if len(started) != 1:
        console.print(f"[red]expected one guarded retraining run, got {len(started)}[/]")
        return 1
    previous = backend.registry.resolve_alias(model, "champion")
    result = cloud.wait_for_execution(started[0])
    run = backend.metadata.get_run(result.name)
    console.print(
        f"[bold]9. retrain[/] {_stamp()}: run {run.run_id} {result.status} ({run.status}), "
        f"trigger {json.dumps(run.trigger)}"
    )
    output = result.output or {}
    if "dataset" in output:
        console.print(f"   training data of v{previous.version}: {previous_data(cloud, previous)}")
        console.print(f"   training data of the candidate: {training_data(output['dataset'])}")
    if "evaluation" in output:
        training_set = _parquet(cloud, output["dataset"]["uri"])
        holdout_rows = int(output["split"]["holdout_rows"])
        for line in gate_lines(output["evaluation"], training_set, holdout_rows, project.model(model)):
            console.print(f"   {line}")
    elif run.error:
        console.print(f"   {run.error.get('Error')}: {run.error.get('Cause')}")
    champion = backend.registry.resolve_alias(model, "champion")
    console.print(
        f"   champion is now v{champion.version} ({champion.approval_status}); "
        f"gate: {champion.approval_reason or 'passed'}"
    )

    schedule = list(cloud.scheduler.schedules)
    runs_before = len(_executions(cloud))
    if schedule:
        cloud.scheduler.fire(schedule[0])
    runs_after = len(_executions(cloud))
    console.print(
        f"[bold]10. guard[/] {_stamp()}: a second trigger inside the cooldown "
        f"({'scheduled retrain' if schedule else 'none available'}) started {runs_after - runs_before} runs"
    )

    cloud.codedeploy.step()
    cloud.codedeploy.step(datetime.now(UTC) + timedelta(hours=1))
    status, body = post_json(url, {"records": [records[0]]}, api_key=api_key)
    rollout = (
        f"rollout of v{champion.version} behind alias live finished"
        if champion.version != previous.version
        else f"no rollout: the champion did not move (v{champion.version})"
    )
    console.print(
        f"[bold]11. canary[/] {_stamp()}: {rollout}; "
        f"POST /predict -> {status}, served by v{body.get('model', {}).get('version')}"
    )
    # The same retrain again, nothing new since: same training set, same code -> skipped and recorded, not registered.
    again = cloud.run_state_machine(
        cloud.output("TrainingStateMachineArn"),
        {"model": model, "feature_store": {}, "trigger": {"type": "manual", "by": "make demo", "case": "unchanged"}},
    )
    repeat = backend.metadata.get_run(again.name)
    versions = [v.version for v in backend.registry.list_versions(model)]
    console.print(
        f"[bold]12. unchanged retrain[/] {_stamp()}: run {repeat.run_id} {again.status} -> {repeat.status}: "
        f"{(repeat.error or {}).get('Cause') or (again.output or {}).get('dataset', {}).get('retrain_reason')}"
    )
    console.print(f"   versions registered: {versions}; mlops runs list:")
    for listed in backend.metadata.list_runs("training", limit=3):
        console.print(f"     {listed.run_id}  {listed.status:9}  trigger {listed.trigger.get('type')}")
    console.print(f"[bold]13. lineage[/] of {model}:{champion.version}")
    for line in lineage_lines(lineage(backend, model, champion.version)):
        console.print(f"   {line}", markup=False)  # data, not markup: an edge reads -[relation]->
    return 0 if body.get("model", {}).get("version") == champion.version else 1


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
