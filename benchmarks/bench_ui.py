"""The web UI's pages on the local cloud with 100 runs and 50 model versions: each page's response time over HTTP
from the app served by uvicorn (as ``mlops ui`` serves it), against a static file from the same server measured in
the same run (the floor: HTTP, the server and the local cloud's process, no page).

The history is seeded through the stores' own APIs, not by training 100 times: ``MetadataStore`` (runs with their
steps, params, metrics and lineage edges: trigger -> run, feature views -> training set -> run -> version -> alias
change), ``ModelRegistry`` (versions, approvals, alias moves with their lineage), ``MonitorRunStore`` (monitor
runs and their reports) and the feature pipeline's own steps (validated, transformed, written offline). Sizes:
BENCH_UI_RUNS=100, BENCH_UI_VERSIONS=50, BENCH_UI_MONITOR_RUNS=30, BENCH_UI_REQUESTS=10 (timed requests per page,
after 2 unmeasured; one, unwarmed, for the lineage of a feature view); BENCH_UI_ASSEMBLY=cdk.out reuses a synthesized assembly of the demo project's dev stage.
Goal (issue 15): every page under 300 ms.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.results import row, target, write_comparison

RUNS = int(os.environ.get("BENCH_UI_RUNS", "100"))
VERSIONS = int(os.environ.get("BENCH_UI_VERSIONS", "50"))
MONITOR_RUNS = int(os.environ.get("BENCH_UI_MONITOR_RUNS", "30"))
REQUESTS = int(os.environ.get("BENCH_UI_REQUESTS", "10"))
# The lineage of a feature view every training set read walks the whole history (a few hundred nodes, two moto
# queries each, and moto sorts the whole table for every query): it is timed once, unwarmed, so the run ends.
HEAVY = {"lineage of a feature view (every training set)"}
GOAL_MS = 300.0
COMMAND = "make bench (BENCH_ONLY=ui; python -m benchmarks.bench_ui)"
STEPS = ("EstimateTrainingSet", "BuildTrainingSet", "ValidateData", "Split", "Train", "Evaluate", "Register",
         "Promote")  # fmt: skip


def seed(backend: Any, model: str, progress: Any = print) -> dict[str, Any]:
    """RUNS training runs (every other one registering a version, up to VERSIONS), alias moves, feature writes and
    runs, MONITOR_RUNS monitor runs; what the pages are then asked for."""
    from functions.feature_store.steps import transform, validate_file, write_offline
    from functions.metadata.metadata_store import StepRun, dataset_node, model_node, run_node, trigger_node
    from functions.monitoring.monitor_store import MonitorRunStore
    from functions.registry.alias_lineage import move_alias_with_lineage
    from mlops.demo import demo_data, demo_scenario

    project = backend.project
    metadata, registry = backend.metadata, backend.registry
    views = [f"{v.name}:v{v.version}" for v in project.feature_views]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    run_ids, versions = [], []
    every = max(RUNS // max(VERSIONS, 1), 1)
    for i in range(RUNS):
        run_id = f"bench-{i:04d}-{uuid.uuid4().hex[:8]}"
        trigger = {"type": "schedule" if i % 3 else "alarm", "time": (start + timedelta(hours=i)).isoformat()}
        metadata.start_run(run_id=run_id, pipeline="training", execution_arn=f"arn:bench:{run_id}", trigger=trigger)
        at = start + timedelta(hours=i)
        for n, step in enumerate(STEPS):
            began, ended = at + timedelta(seconds=10 * n), at + timedelta(seconds=10 * n + 7)
            metadata.record_step(run_id, StepRun(step, "SUCCEEDED", began.isoformat(), ended.isoformat(), 7.0,
                                                 outputs={"rows": 1461 + i}))  # fmt: skip
        metadata.log_params(run_id, {"n_estimators": 100 + i, "max_depth": 4 + i % 5})
        metrics = {"holdout_accuracy": 0.7 + (i % 17) / 100, "holdout_f1_macro": 0.4 + (i % 13) / 100}
        metadata.log_metrics(run_id, metrics)
        manifest_sha = uuid.uuid5(uuid.NAMESPACE_URL, run_id).hex * 2
        data = dataset_node(f"s3://{backend.artifact_bucket}/runs/{run_id}/manifest.json", manifest_sha,
                            data_sha256="d" * 64, rows=1461 + i, source="feature_store", feature_views=views)  # fmt: skip
        metadata.add_edge(trigger_node(run_id, trigger), run_node(run_id, "training"), "started")
        metadata.add_edge(data, run_node(run_id, "training"), "input_of")
        metadata.link_feature_views(data.id)
        if i % every == 0 and len(versions) < VERSIONS:
            version = registry.register(
                model_name=model, artifact_uri=f"s3://{backend.artifact_bucket}/runs/{run_id}/model.joblib",
                artifact_sha256="a" * 64, metrics=metrics, params={"n_estimators": 100 + i},
                signature={"features": []}, training_data_uri=data.attributes["manifest_uri"],
                training_data_sha256="d" * 64, run_id=run_id, manifest_sha256=manifest_sha, trigger=trigger,
            ).version  # fmt: skip
            registry.approve(model, version, by="arn:aws:iam::123456789012:user/bench", reason="benchmark")
            metadata.add_edge(run_node(run_id, "training"), model_node(model, version), "produced")
            if len(versions) % 5 == 0:
                move_alias_with_lineage(registry, metadata, model, "champion", version,
                                        by="arn:aws:iam::123456789012:user/bench", reason="benchmark")  # fmt: skip
            versions.append(version)
        metadata.finish_run(run_id, status="SUCCEEDED" if i % 10 else "FAILED", summary={"version": len(versions)})
        run_ids.append(run_id)
        if (i + 1) % 20 == 0:
            progress(f"{i + 1} runs, {len(versions)} versions seeded")

    # Feature writes and their runs, through the feature pipeline's steps on the stack's offline store.
    source = project.raw_source(demo_scenario(project).source)
    lines = demo_data(project).decode().splitlines()
    for part in range(5):
        body = "\n".join([lines[0], *lines[1 + part * 200 : 1 + (part + 1) * 200]]).encode()
        run_id = f"bench-features-{part}"
        validated = validate_file(backend.offline, source, body, name=f"part-{part}.csv", source_uri=f"s3://bench/{part}",
                                  run_id=run_id, max_bad_row_fraction=0.5)  # fmt: skip
        writes = write_offline(backend.offline, transform(project.views_of_source(source.name), validated.valid),
                               source_uri=validated.source_uri, source_sha256=validated.source_sha256,
                               created=datetime.now(UTC), write_id=run_id)  # fmt: skip
        metadata.start_run(run_id=run_id, pipeline="features", execution_arn=f"arn:bench:{run_id}",
                           trigger={"type": "s3", "key": f"raw/features/{source.name}/part-{part}.csv"})  # fmt: skip
        metadata.finish_run(run_id, status="SUCCEEDED", summary={"counts": validated.counts, "writes": writes,
                                                                 "quarantine_uri": validated.quarantine_uri})  # fmt: skip

    monitor = MonitorRunStore(backend.s3, backend.artifact_bucket)
    monitor_ids = []
    for i in range(MONITOR_RUNS):
        end = start + timedelta(hours=i + 1)
        run_id = f"{end:%Y%m%dT%H%M%SZ}-{i:08x}"
        share = (i % 5) / 4
        record = {
            "run_id": run_id, "model_name": model, "model_version": versions[-1], "window_start": (end - timedelta(
                hours=1)).isoformat(), "window_end": end.isoformat(), "captures": 500 + i,
            "drift": {"status": "evaluated", "drift_share": share, "dataset_drift": share >= 0.5,
                      "drifted_features": ["temp_max"] if share else [], "features": [], "prediction": None},
            "quality": {"status": "evaluated", "metrics": {"accuracy": 0.7 + i / 1000, "f1_macro": 0.4}, "labelled": 400},
        }  # fmt: skip
        monitor.save(model, run_id, record, f"<!doctype html><title>Drift report {run_id}</title><h1>{run_id}</h1>", [])
        monitor_ids.append(run_id)
    return {"runs": run_ids, "versions": versions, "monitor_runs": monitor_ids, "view": project.feature_views[0]}


def pages(model: str, seeded: dict[str, Any]) -> dict[str, str]:
    runs, latest, view = seeded["runs"], seeded["versions"][-1], seeded["view"]
    monitor_run = seeded["monitor_runs"][-1]
    return {
        "runs list": "/runs",
        "run": f"/runs/{runs[-1]}",
        "runs compared (2)": f"/runs/compare?ids={runs[-1]},{runs[-2]}",
        "models": "/models",
        "model": f"/models/{model}",
        "version": f"/models/{model}/versions/{latest}",
        "lineage index": "/lineage",
        "lineage of a version": f"/lineage/models/{model}/versions/{latest}",
        "lineage of a feature view (every training set)": f"/lineage/feature-views/{view.name}:v{view.version}",
        "features": "/features",
        "feature view": f"/features/{view.name}",
        "monitoring index": "/monitoring",
        f"monitoring of a model ({MONITOR_RUNS} runs)": f"/monitoring/{model}",
        "monitor run": f"/monitoring/{model}/runs/{monitor_run}",
        "monitor run's report": f"/monitoring/{model}/runs/{monitor_run}/report",
    }


@contextmanager
def served(backend: Any) -> Iterator[str]:
    """The UI as ``mlops ui`` serves it (``bind``: host check, bound socket), on a thread of this process."""
    from mlops.ui.app import bind

    serving = bind(
        backend, host="127.0.0.1", port=0, allow_remote=False, who=lambda: "arn:aws:iam::123456789012:user/bench"
    )
    with serving.in_thread() as url:
        yield url


def timed(url: str, requests: int, *, warm: int = 2, timeout_s: float = 60.0) -> list[float]:
    """Seconds per GET of ``url`` (whole body read), after ``warm`` unmeasured ones; any answer but 200 fails."""
    samples = []
    for i in range(requests + warm):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # loopback: the server this run started
            body = answer.read()
            if answer.status != 200:
                raise RuntimeError(f"GET {url}: {answer.status}")
        if i >= warm:
            samples.append(time.perf_counter() - started)
    if not body:
        raise RuntimeError(f"GET {url}: empty body")
    return samples


def p95_ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] * 1e3 if len(samples) >= 2 else samples[0] * 1e3


def main() -> int:
    from mlops.local import LocalCloud
    from mlops.operator import Backend
    from mlops.synth import synth

    project_dir = Path(__file__).resolve().parents[1] / "examples" / "seattle_weather"
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as scratch:
        started = time.perf_counter()
        given = os.environ.get("BENCH_UI_ASSEMBLY")  # a cloud assembly of the demo project's dev stage, if at hand
        assembly = Path(given) if given else synth(Path(scratch) / "cdk.out", stage="dev", project=project_dir)
        print(f"  {'assembly ' + given if given else 'synthesized'} in {time.perf_counter() - started:.1f} s")
        with LocalCloud(assembly) as cloud:
            backend = Backend.from_cloud(cloud)
            model = backend.model_name
            started = time.perf_counter()
            seeded = seed(backend, model, progress=lambda text: print(f"  {text}", flush=True))
            print(f"  seeded {RUNS} runs, {len(seeded['versions'])} versions, {MONITOR_RUNS} monitor runs "
                  f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
            measured: dict[str, list[float]] = {}
            with served(backend) as base:
                floor = timed(f"{base}/static/ui.css", REQUESTS)
                for label, path in pages(model, seeded).items():
                    heavy = label in HEAVY
                    measured[label] = timed(base + path, 1 if heavy else REQUESTS, warm=0 if heavy else 2,
                                            timeout_s=900.0 if heavy else 60.0)  # fmt: skip
                    print(f"  {label:<52} median {statistics.median(measured[label]) * 1e3:7.1f} ms, "
                          f"p95 {p95_ms(measured[label]):7.1f} ms")  # fmt: skip
    print(f"  floor (static file)                                  median {statistics.median(floor) * 1e3:7.1f} ms")
    slowest = max(measured, key=lambda k: statistics.median(measured[k]))
    worst_p95 = max(measured, key=lambda k: p95_ms(measured[k]))
    met = all(statistics.median(s) * 1e3 < GOAL_MS for s in measured.values())
    write_comparison(
        "ui",
        title="Web UI pages (mlops ui on the local cloud)",
        command=COMMAND,
        peer="no peer: a static file from the same server (floor)",
        sizes={"runs": RUNS, "versions": len(seeded["versions"]), "monitor_runs": MONITOR_RUNS, "requests": REQUESTS},
        rows=[row(label, samples, floor) for label, samples in measured.items()],
        targets=[
            target(
                f"every page under {GOAL_MS:.0f} ms on the local cloud with {RUNS} runs and {VERSIONS} versions",
                met,
                f"slowest median: {slowest} {statistics.median(measured[slowest]) * 1e3:.0f} ms; highest p95: "
                f"{worst_p95} {p95_ms(measured[worst_p95]):.0f} ms",
            )
        ],
        notes=[
            "Each page GET over HTTP from uvicorn serving create_app(backend) in the benchmark's process, with the "
            "local cloud (moto) in the same process, as `mlops ui --local` runs beside `mlops local up`; ratio = "
            "floor / page, so it is the page's cost over the server's own (below 1: the page is slower).",
            "p95 per page: " + "; ".join(f"{k} {p95_ms(v):.0f} ms" for k, v in measured.items()),
        ],
        details={"p95_ms": {k: round(p95_ms(v), 2) for k, v in measured.items()}, "floor_p95_ms": p95_ms(floor)},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
