"""Whole local loop and test-suite wall time (the cost model's output is ``bench_cost``).

BENCH_LOOP_REPEATS=1 (times each of ``mlops demo`` and the ``make test`` steps run). There is no peer: these
numbers say what a contributor waits for, next to nothing else. Commands run with this interpreter's
environment, the way ``make demo`` / ``make test`` run them with ``.venv``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from benchmarks.peers import ROOT
from benchmarks.results import row, target, write_comparison

REPEATS = int(os.environ.get("BENCH_LOOP_REPEATS", "1"))
BIN = Path(sys.executable).parent
NO_PEER = "no peer: our own wall time"


DEMO_BUDGET_S = 60.0  # the loop, after synth
TEST_BUDGET_S = 180.0  # pytest's own time, on 2 cores
PYTEST = ["-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "worksteal"]  # what `make test` runs


def run(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return seconds, done.stdout


def wall(command: list[str]) -> list[float]:
    return [run(command)[0] for _ in range(REPEATS)]


def demo_runs() -> tuple[list[float], list[float], list[float]]:
    """``mlops demo``'s wall time, its synth time and the loop after synth (both as the demo prints them)."""
    walls, synths, loops = [], [], []
    for _ in range(REPEATS):
        seconds, out = run([str(BIN / "mlops"), "demo", "--stage", "dev"])
        synth = re.search(r"cloud assembly written in ([\d.]+)s", out)
        done = re.search(r"done in ([\d.]+)s", out)
        if not synth or not done:
            raise RuntimeError(f"mlops demo did not print its synth and total times:\n{out[-2000:]}")
        walls.append(seconds)
        synths.append(float(synth.group(1)))
        loops.append(float(done.group(1)) - float(synth.group(1)))
    return walls, synths, loops


def main() -> int:
    demo, synth, loop = demo_runs()
    ruff = wall([str(BIN / "ruff"), "check", "."])
    mypy = wall([str(BIN / "mypy")])
    pytest = wall([str(BIN / "pytest"), *PYTEST])
    total = [a + b + c for a, b, c in zip(ruff, mypy, pytest, strict=True)]
    write_comparison(
        "loop",
        title="Local loop and test suite",
        command="make bench (python -m benchmarks.bench_loop)",
        peer="none",
        sizes={"repeats": REPEATS, "pytest": " ".join(PYTEST)},
        rows=[
            row("make demo (mlops demo --stage dev), wall", demo, None, peer_missing=NO_PEER),
            row("  of which cdk synth", synth, None, peer_missing=NO_PEER),
            row("  of which the loop (local cloud up to lineage)", loop, None, peer_missing=NO_PEER),
            row("make test (ruff + mypy + pytest)", total, None, peer_missing=NO_PEER),
            row(f"  of which pytest {' '.join(PYTEST)}", pytest, None, peer_missing=NO_PEER),
        ],
        targets=[
            target(
                f"demo loop ≤ {DEMO_BUDGET_S:.0f} s on 2 cores",
                median(loop) <= DEMO_BUDGET_S,
                f"loop {median(loop):.1f} s after a {median(synth):.1f} s synth ({median(demo):.1f} s wall)",
            ),
            target(
                f"make test ≤ {TEST_BUDGET_S:.0f} s of test time on 2 cores",
                median(pytest) <= TEST_BUDGET_S,
                f"pytest {median(pytest):.1f} s (ruff + mypy + pytest {median(total):.1f} s), warm venv",
            ),
        ],
        notes=[
            f"Each command run {REPEATS} time(s) on the shared machine, sequentially, from a warm pip/venv "
            "(no installation counted; `make` prints the install time on its own line)."
        ],
    )
    print(f"demo {demo} (synth {synth}, loop {loop}), test {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
