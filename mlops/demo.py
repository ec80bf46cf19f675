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
from functions.feature_store.transformations import apply_transformation
from functions.metadata.metadata_store import MetadataStore
from functions.project import DemoScenario, ModelSpec, Project, load_project
from functions.project.samples import sample_file, validated_sample
from functions.registry.model_registry import ModelRegistry
from functions.shared.errors import ProjectError
from functions.shared.settings import BACKFILL_EXECUTION_PREFIX, RAW_BACKFILL_PREFIX
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


FEEDBACK_LABELS = 100  # ground truth the demo sends back (the stage's monitor needs 30 to judge live quality)


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
        feedback_url = url.removesuffix("/predict") + "/feedback"
        answered = Counter(
            post_json(feedback_url, {"prediction_id": pid, "label": label}, api_key=api_key)[0]
            for pid, label in list(zip(prediction_ids, labels, strict=True))[:FEEDBACK_LABELS]
        )
        console.print(
            f"   feedback: the true label of the first {sum(answered.values())} predictions, POST /feedback -> "
            + ", ".join(f"{status} x{count}" for status, count in sorted(answered.items()))
        )
        if set(answered) != {202}:
            return 1
    else:
        console.print("   feedback: none sent (no feature view of the model holds its label)")

    # The monitor's scheduled time closes its window: a minute from now covers the traffic just sent.
    now = datetime.now(UTC) + timedelta(minutes=1)
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
    result = cloud.wait_for_execution(started[0])
    run = backend.metadata.get_run(result.name)
    console.print(
        f"[bold]9. retrain[/] {_stamp()}: run {run.run_id} {result.status}, trigger {json.dumps(run.trigger)}"
    )
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
    console.print(
        f"[bold]11. canary[/] {_stamp()}: rollout of v{champion.version} behind alias live finished; "
        f"POST /predict -> {status}, served by v{body.get('model', {}).get('version')}"
    )
    console.print(f"[bold]12. lineage[/] of {model}:{champion.version}")
    for line in lineage_lines(lineage(backend, model, champion.version)):
        console.print(f"   {line}")
    return 0 if body.get("model", {}).get("version") == champion.version else 1


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M:%S.%f")[:-3]
