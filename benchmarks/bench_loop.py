"""Whole local loop and test-suite wall time (the cost model's output is ``bench_cost``).

BENCH_LOOP_REPEATS=1 (times each of ``mlops demo`` and the ``make test`` steps run). There is no peer: these
numbers say what a contributor waits for, next to nothing else. Commands run with this interpreter's
environment, the way ``make demo`` / ``make test`` run them with ``.venv``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.peers import ROOT
from benchmarks.results import row, write_comparison

REPEATS = int(os.environ.get("BENCH_LOOP_REPEATS", "1"))
BIN = Path(sys.executable).parent
NO_PEER = "no peer: our own wall time"


def wall(command: list[str]) -> list[float]:
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        seconds.append(time.perf_counter() - started)
        if done.returncode:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
    return seconds


def main() -> int:
    demo = wall([str(BIN / "mlops"), "demo", "--stage", "dev"])
    ruff = wall([str(BIN / "ruff"), "check", "."])
    mypy = wall([str(BIN / "mypy")])
    pytest = wall([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider"])
    total = [a + b + c for a, b, c in zip(ruff, mypy, pytest, strict=True)]
    write_comparison(
        "loop",
        title="Local loop and test suite",
        command="make bench (python -m benchmarks.bench_loop)",
        peer="none",
        sizes={"repeats": REPEATS},
        rows=[
            row("make demo (mlops demo --stage dev)", demo, None, peer_missing=NO_PEER),
            row("make test (ruff + mypy + pytest)", total, None, peer_missing=NO_PEER),
            row("  of which pytest -q", pytest, None, peer_missing=NO_PEER),
        ],
        notes=[
            f"Each command run {REPEATS} time(s) on the shared machine, sequentially, from a warm pip/venv "
            "(no installation counted)."
        ],
    )
    print(f"demo {demo}, test {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
