"""Ours vs Evidently's data-drift preset: 20 mixed features at several row counts, time and per-feature decisions.

Sizes: BENCH_DRIFT_ROWS=30000,100000,300000 (reference and current each, one measurement per size),
BENCH_DRIFT_REPEATS=3,3,1 (one per size, or one for all; ours always runs at least 3).
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
from benchmarks.common import summary
from benchmarks.peers import PeerUnavailable, python_of, run_json, version_in
from benchmarks.results import growth, row, target, write_comparison
from functions.monitoring.baseline import build_baseline
from functions.monitoring.drift import detect_drift

ROWS = [int(n) for n in os.environ.get("BENCH_DRIFT_ROWS", "30000,100000,300000").split(",")]
_REPEATS = [int(n) for n in os.environ.get("BENCH_DRIFT_REPEATS", "3,3,1").split(",")]
REPEATS = _REPEATS * len(ROWS) if len(_REPEATS) == 1 else _REPEATS
HERE = Path(__file__).resolve().parent
COMMAND = "make bench (python -m benchmarks.bench_vs_evidently)"


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def measure_size(rows: int, repeats: int, missing: str | None) -> dict[str, Any]:
    """Ours (check alone, baseline + check) and Evidently on the same two frames of ``rows`` rows each."""
    rng = np.random.default_rng(0)
    reference, current = mixed_frame(rng, rows), mixed_frame(rng, rows, shift=0.5)
    names = list(reference.columns)
    labels = list(np.where(reference["num_0"] > 0, "x", "y"))
    current_labels = list(np.where(current["num_0"] > 0, "x", "y"))
    baseline = build_baseline(reference, names, labels, seed=0)

    # Ours is cheap next to Evidently: at least 3 repeats, so its median is not one noisy run on a shared machine.
    ours_repeats = max(repeats, 3)
    check_s, report = timed(lambda: detect_drift(baseline, current, current_labels), ours_repeats)
    full_s, _ = timed(
        lambda: detect_drift(build_baseline(reference, names, labels, seed=0), current, current_labels), ours_repeats
    )
    ours = {c.name: c.drifted for c in report.features}
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
                        str(repeats),
                    ],
                    timeout=3600,
                )
                peer_s, theirs = answer["seconds"], answer["drifted"]
            except (RuntimeError, OSError) as exc:
                missing = f"Evidently failed: {exc}"
    disagree = sorted(n for n in names if n in theirs and theirs[n] != ours[n])
    agree = missing is None and not disagree and set(theirs) == set(names)
    return {
        "rows": rows,
        "names": names,
        "check_s": check_s,
        "full_s": full_s,
        "peer_s": peer_s,
        "missing": missing,
        "ours": ours,
        "theirs": theirs,
        "disagree": disagree,
        "agree": agree,
    }


def main() -> int:
    if len(REPEATS) != len(ROWS):
        raise SystemExit(f"BENCH_DRIFT_REPEATS needs one value or one per size ({len(ROWS)}), got {REPEATS}")
    try:
        peer = f"Evidently {version_in('evidently', 'evidently')} DataDriftPreset"
        missing = None
    except PeerUnavailable as exc:
        peer, missing = "Evidently (not installed)", str(exc)
    sizes = []
    for rows_n, repeats in zip(ROWS, REPEATS, strict=True):
        print(f"drift: {rows_n:,} rows, {repeats} repeats")
        sizes.append(measure_size(rows_n, repeats, missing))
        missing = sizes[-1]["missing"] if sizes[-1]["missing"] and "failed" in sizes[-1]["missing"] else missing
    rows = []
    for m in sizes:
        rows += [
            row(f"drift check (ours: against the stored baseline), {m['rows']:,} rows", m["check_s"], m["peer_s"],
                peer_missing=m["missing"]),
            row(f"baseline + drift check (ours: nothing precomputed), {m['rows']:,} rows", m["full_s"], m["peer_s"],
                peer_missing=m["missing"]),
        ]  # fmt: skip
    check_ratios = [r["ratio"] for r in rows[0::2]]
    full_ratios = [r["ratio"] for r in rows[1::2]]
    all_agree = all(m["agree"] for m in sizes)
    known = [r for r in check_ratios if r is not None]
    measured = len(known) == len(check_ratios)
    by_size = ", ".join(
        f"{m['rows']:,} rows: {c:.2f}x check alone, {f:.2f}x baseline + check"
        for m, c, f in zip(sizes, check_ratios, full_ratios, strict=True)
        if c is not None and f is not None
    )
    targets = [
        target(
            "drift ≥ 5x faster than Evidently with the same decisions",
            (min(known) >= 5 and all_agree) if measured else None,
            (
                f"{by_size}; "
                + (
                    "same decision on every feature at every size"
                    if all_agree
                    else "decisions differ: "
                    + "; ".join(f"{m['rows']:,} rows: {m['disagree'] or 'columns'}" for m in sizes if not m["agree"])
                )
            )
            if measured
            else f"not measured: {missing}",
        )
    ]
    names = sizes[-1]["names"]
    largest = sizes[-1]
    notes = [
        f"Reference and current windows of the same size ({', '.join(f'{m:,}' for m in ROWS)} rows each), "
        f"{NUMERIC} numeric and {CATEGORICAL} categorical features; the current window shifts the mean of every third "
        "numeric feature and flips every other categorical distribution.",
        "Methods on both sides (reference > 1000 rows): normalized Wasserstein for numeric, Jensen-Shannon for categorical, "
        "threshold 0.1. Ours computes numeric distances on a uniform 5k-row sample of the reference kept in the baseline; "
        "Evidently uses all reference rows.",
        f"Repeats per size: Evidently {', '.join(map(str, REPEATS))}; ours at least 3 at every size (it is cheap, "
        "and one run on a shared machine is noisy).",
        (
            f"Per-feature decisions at {largest['rows']:,} rows: "
            + ", ".join(
                f"{n} ours={'drift' if largest['ours'][n] else 'none'}/Evidently="
                f"{'drift' if largest['theirs'][n] else 'none'}"
                for n in names
            )
        )
        if largest["theirs"]
        else "Per-feature decisions: Evidently did not run.",
        *(
            f"{m['rows']:,} rows: decisions agree on {len(names) - len(m['disagree'])} of {len(names)} features"
            + (f"; differ on {m['disagree']}." if m["disagree"] else ".")
            for m in sizes
        ),
    ]

    def points(key: str) -> list[dict[str, Any]]:
        return [
            {
                "size": f"{m['rows']:,}",
                "x": m["rows"],
                "ours": summary(m[key]),
                "peers": {peer: summary(m["peer_s"]) if m["peer_s"] else None},
                "check": "yes" if m["agree"] else f"no: {m['disagree'] or m['missing']}",
            }
            for m in sizes
        ]

    write_comparison(
        "drift",
        title="Drift vs Evidently",
        command=COMMAND,
        peer=peer,
        sizes={
            "rows": ",".join(map(str, ROWS)),
            "features": NUMERIC + CATEGORICAL,
            "repeats": ",".join(map(str, REPEATS)),
            "ours_repeats": ",".join(str(max(r, 3)) for r in REPEATS),
        },
        rows=rows,
        targets=targets,
        notes=notes,
        details={
            str(m["rows"]): {"ours": m["ours"], "evidently": m["theirs"], "disagree": m["disagree"]} for m in sizes
        },
        growth=[
            growth("drift check (ours: against the stored baseline)", "rows per window", points("check_s"),
                   check_name="same decisions"),
            growth("baseline + drift check (ours: nothing precomputed)", "rows per window", points("full_s"),
                   check_name="same decisions"),
        ],
    )  # fmt: skip
    for r in rows:
        print(r["label"], r["ours"]["p50_ms"], r["peer"]["p50_ms"] if r["peer"] else None, r["ratio"])
    print("decisions agree" if all_agree else "decisions differ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
