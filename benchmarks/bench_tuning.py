"""Hyperparameter search on the local cloud: trials per minute through the training pipeline's Distributed Map,
and the concurrency the Map reached, against the same trials run one after another in the benchmark's process
(the floor: ``run_trial`` called directly, no Step Functions, no Lambda runtime).

Sizes: BENCH_TUNING_TRIALS=8 (a grid over ``min_samples_leaf``, ``n_estimators`` fixed at 20),
BENCH_TUNING_CONCURRENCY=1,4 (the search's ``max_concurrency``), BENCH_TUNING_REPEATS=2. Each pipeline run
trains on a table one row shorter than the last, so no run is skipped as a retrain of unchanged data.

The Map's span is its trials' span (the first trial's start to the last one's end, as the metadata store
records them); the concurrency reached is the most trials whose recorded [start, end] overlap. The Map starts
``max_concurrency`` workers, but the local cloud's Lambda runtime runs one invocation at a time in its process
(``mlops/local/lambda_runtime.py``: an invocation swaps modules process-wide), so locally the trials never
overlap and the measured rate is the serial one; in AWS each trial is its own Lambda sandbox.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.results import row, write_comparison
from functions.metadata.metadata_store import TrialRecord
from functions.project import load_project
from functions.shared.objects import ObjectStore, S3Uri
from functions.training import steps
from functions.training.search import Trial
from mlops.local import LocalCloud
from mlops.synth import synth
from tests.helpers import metadata_of, run_training, shipped_frame, upload_raw
from tests.projects import SEATTLE_DIR

TRIALS = int(os.environ.get("BENCH_TUNING_TRIALS", "8"))
CONCURRENCY = [int(n) for n in os.environ.get("BENCH_TUNING_CONCURRENCY", "1,4").split(",")]
REPEATS = int(os.environ.get("BENCH_TUNING_REPEATS", "2"))
COMMAND = "make bench (python -m benchmarks.bench_tuning)"
MODEL = "seattle-weather"
FIXED = {"n_estimators": 20}


def _span_and_overlap(trials: tuple[TrialRecord, ...]) -> tuple[float, int]:
    spans = [(datetime.fromisoformat(t.started_at), datetime.fromisoformat(t.ended_at))
             for t in trials if t.started_at and t.ended_at]  # fmt: skip
    if not spans:
        raise RuntimeError("no trial recorded its start and end")
    span = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return span, peak


def pipeline_search(cloud: LocalCloud, concurrency: int, shift: int) -> dict[str, Any]:
    source = upload_raw(cloud, shipped_frame().iloc[shift:])
    tune = {"params": {"min_samples_leaf": list(range(1, TRIALS + 1))}, "max_concurrency": concurrency,
            "max_trials": TRIALS}  # fmt: skip
    started = time.perf_counter()
    result = run_training(cloud, source, tune=tune, params=FIXED)
    wall = time.perf_counter() - started
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"the tuning run failed: {result.error}: {result.cause}")
    run = metadata_of(cloud).get_run(result.name)
    if len(run.trials) != TRIALS or any(t.status != "SUCCEEDED" for t in run.trials):
        raise RuntimeError(f"expected {TRIALS} succeeded trials, got {[(t.trial, t.status) for t in run.trials]}")
    span, overlap = _span_and_overlap(run.trials)
    return {"wall_s": wall, "span_s": span, "overlap": overlap, "tuning": result.output["search"]["tuning"]}


def in_process_trials(cloud: LocalCloud, tuning: dict[str, Any]) -> list[float]:
    """The same trials, one after another, on the same fit and validation parts: seconds per trial."""
    spec = load_project(SEATTLE_DIR).model(MODEL)
    store = ObjectStore(cloud.client("s3"))
    bucket = S3Uri.parse(tuning["fit_uri"]).bucket
    seconds = []
    for index in range(TRIALS):
        started = time.perf_counter()
        steps.run_trial(store, spec, tuning, Trial(index, {"min_samples_leaf": index + 1}), fixed=FIXED,
                        artifacts=S3Uri(bucket, f"bench/trials/{index}"))  # fmt: skip
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> int:
    print(f"tuning on the local cloud: {TRIALS} trials, concurrency {CONCURRENCY}, {REPEATS} repeats")
    measured: dict[int, list[dict[str, Any]]] = {c: [] for c in CONCURRENCY}
    floor: list[float] = []
    with tempfile.TemporaryDirectory() as scratch, LocalCloud(synth(Path(scratch) / "cdk.out")) as cloud:
        shift = 0
        for repeat in range(REPEATS + 1):  # the first round warms the functions up and is not kept
            for concurrency in CONCURRENCY:
                shift += 1
                found = pipeline_search(cloud, concurrency, shift)
                if repeat:
                    measured[concurrency].append(found)
                print(f"  concurrency {concurrency}: {TRIALS} trials in {found['span_s']:.2f} s "
                      f"(reached {found['overlap']} at once), run {found['wall_s']:.2f} s", flush=True)  # fmt: skip
            if repeat:
                floor.extend(in_process_trials(cloud, found["tuning"]))
    per_minute = {c: 60 * TRIALS / statistics.median(f["span_s"] for f in runs) for c, runs in measured.items()}
    for concurrency, rate in per_minute.items():
        print(f"  concurrency {concurrency}: {rate:.1f} trials per minute")
    print(f"  in process, one after another: {60 / statistics.median(floor):.1f} trials per minute")
    run_seconds = {str(c): round(statistics.median(f["wall_s"] for f in runs), 2) for c, runs in measured.items()}
    write_comparison(
        "tuning",
        title="Hyperparameter search: trials through the pipeline's Distributed Map (local cloud)",
        command=COMMAND,
        peer="no peer: the same trials called in the benchmark's process, one after another (floor)",
        sizes={"trials": TRIALS, "concurrency": ",".join(map(str, CONCURRENCY)), "repeats": REPEATS},
        rows=[
            row(
                f"seconds per trial, Map concurrency {c} ({per_minute[c]:.1f} trials/min)",
                [f["span_s"] / TRIALS for f in runs],
                floor,
                peer_missing=None,
            )
            for c, runs in measured.items()
        ],
        details={
            "trials_per_minute": {str(c): round(r, 2) for c, r in per_minute.items()},
            "floor_trials_per_minute": round(60 / statistics.median(floor), 2),
            "concurrency_reached": {str(c): max(f["overlap"] for f in runs) for c, runs in measured.items()},
            "pipeline_run_s": run_seconds,
        },
        notes=[
            "A trial's time is its share of the Map's span (first trial start to last trial end, from the metadata "
            "store); the floor is run_trial on the same parts in the benchmark's process; ratio = floor / ours.",
            "The Map starts max_concurrency workers, but the local cloud runs one Lambda invocation at a time in "
            "its process, so trials never overlap locally (concurrency reached 1): the rate is the serial one.",
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
