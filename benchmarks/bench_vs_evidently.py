"""Ours vs Evidently's data-drift preset: 100k rows x 20 mixed features, time and per-feature decisions.

Sizes: BENCH_DRIFT_ROWS=100000 (reference and current each), BENCH_DRIFT_REPEATS=5.
Both sides start from the same two DataFrames: Evidently (which needs pandas 2) in its own environment reads
them from parquet before its clock starts. Ours is timed twice: the drift check
alone (``detect_drift`` against a baseline built once at training time, as the monitor runs it) and
baseline + check (what Evidently does every time, since it keeps no baseline). Ours also checks
prediction drift (Evidently is given no prediction column), so ours does slightly more work.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_drift import CATEGORICAL, NUMERIC, mixed_frame
from benchmarks.peers import PeerUnavailable, python_of, run_json, version_in
from benchmarks.results import row, target, write_comparison
from functions.monitoring.baseline import build_baseline
from functions.monitoring.drift import detect_drift

ROWS = int(os.environ.get("BENCH_DRIFT_ROWS", "100000"))
REPEATS = int(os.environ.get("BENCH_DRIFT_REPEATS", "5"))
HERE = Path(__file__).resolve().parent
COMMAND = "make bench (python -m benchmarks.bench_vs_evidently)"


def timed(fn: Callable[[], Any]) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def main() -> int:
    rng = np.random.default_rng(0)
    reference, current = mixed_frame(rng, ROWS), mixed_frame(rng, ROWS, shift=0.5)
    names = list(reference.columns)
    labels = list(np.where(reference["num_0"] > 0, "x", "y"))
    current_labels = list(np.where(current["num_0"] > 0, "x", "y"))
    baseline = build_baseline(reference, names, labels, seed=0)

    check_s, report = timed(lambda: detect_drift(baseline, current, current_labels))
    full_s, _ = timed(lambda: detect_drift(build_baseline(reference, names, labels, seed=0), current, current_labels))
    ours = {c.name: c.drifted for c in report.features}
    try:
        peer = f"Evidently {version_in('evidently', 'evidently')} DataDriftPreset"
        missing = None
    except PeerUnavailable as exc:
        peer, missing = "Evidently (not installed)", str(exc)
    peer_s: list[float] | None = None
    theirs: dict[str, bool] = {}
    if missing is None:
        with tempfile.TemporaryDirectory(prefix="bench-evidently-") as scratch:
            reference.to_parquet(Path(scratch) / "reference.parquet")
            current.to_parquet(Path(scratch) / "current.parquet")
            try:
                answer = run_json(
                    [
                        str(python_of("evidently")),
                        str(HERE / "peer_evidently.py"),
                        f"{scratch}/reference.parquet",
                        f"{scratch}/current.parquet",
                        str(REPEATS),
                    ],
                    timeout=3600,
                )
                peer_s, theirs = answer["seconds"], answer["drifted"]
            except (RuntimeError, OSError) as exc:
                missing = f"Evidently failed: {exc}"
    disagree = sorted(n for n in names if n in theirs and theirs[n] != ours[n])
    rows = [
        row("drift check (ours: against the stored baseline)", check_s, peer_s, peer_missing=missing),
        row("baseline + drift check (ours: nothing precomputed)", full_s, peer_s, peer_missing=missing),
    ]
    ratio = rows[0]["ratio"]
    agree = missing is None and not disagree and set(theirs) == set(names)
    targets = [
        target(
            "drift ≥ 5x faster than Evidently with the same decisions",
            None if ratio is None else (ratio >= 5 and agree),
            f"not measured: {missing}"
            if ratio is None
            else f"{ratio:.2f}x (check alone), {rows[1]['ratio']:.2f}x (baseline + check); "
            + ("same decision on every feature" if agree else f"decisions differ on {disagree or 'columns'}"),
        )
    ]
    notes = [
        f"{ROWS:,} reference rows and {ROWS:,} current rows, {NUMERIC} numeric and {CATEGORICAL} categorical features; "
        "the current window shifts the mean of every third numeric feature and flips every other categorical distribution.",
        "Methods on both sides (reference > 1000 rows): normalized Wasserstein for numeric, Jensen-Shannon for categorical, "
        "threshold 0.1. Ours computes numeric distances on a uniform 5k-row sample of the reference kept in the baseline; "
        "Evidently uses all reference rows.",
        (
            "Per-feature decisions: "
            + ", ".join(
                f"{n} ours={'drift' if ours[n] else 'none'}/Evidently={'drift' if theirs[n] else 'none'}" for n in names
            )
        )
        if theirs
        else "Per-feature decisions: Evidently did not run.",
        f"Decisions agree on {len(names) - len(disagree)} of {len(names)} features"
        + (f"; differ on {disagree}." if disagree else "."),
    ]
    write_comparison(
        "drift",
        title="Drift vs Evidently",
        command=COMMAND,
        peer=peer,
        sizes={"rows": ROWS, "features": NUMERIC + CATEGORICAL, "repeats": REPEATS},
        rows=rows,
        targets=targets,
        notes=notes,
        details={"ours": ours, "evidently": theirs, "disagree": disagree},
    )
    for r in rows:
        print(r["label"], r["ours"]["p50_ms"], r["peer"]["p50_ms"] if r["peer"] else None, r["ratio"])
    print("decisions agree" if agree else f"decisions differ: {disagree}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
