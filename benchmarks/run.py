"""Run every ``benchmarks/bench_*.py`` module's ``main()``, then write ``results.json`` / ``results.md``.

``BENCH_ONLY=vs_feast,vs_mlflow`` runs only those modules (the other comparisons keep their last results,
each stamped with when it was measured). A module that raises is reported and makes the run fail; the
results of the others are still written.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from benchmarks.peers import ENVIRONMENTS

PRODUCT_LIBRARIES = (
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "onnxruntime",
    "scipy",
    "moto",
    "boto3",
    "matplotlib",
    "duckdb",
    "polars",
)
PEER_LIBRARIES = {
    "feast": ("feast", "pandas", "pyarrow", "dask", "moto", "boto3"),
    "mlflow": ("mlflow", "scikit-learn", "pandas", "numpy", "uvicorn", "fastapi", "flask"),
    "evidently": ("evidently", "pandas", "numpy", "scipy"),
}


def libraries() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {"product environment (.venv-bench)": {}}
    for name in PRODUCT_LIBRARIES:
        try:
            found["product environment (.venv-bench)"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found["product environment (.venv-bench)"][name] = "not installed"
    for peer, names in PEER_LIBRARIES.items():
        python = ENVIRONMENTS[peer] / "bin" / "python"
        label = f"{peer} environment ({ENVIRONMENTS[peer].name})"
        if not python.exists():
            found[label] = {"(environment)": "missing"}
            continue
        script = (
            "import importlib.metadata as m, json\n"
            f"names = {list(names)!r}\n"
            "out = {}\n"
            "for n in names:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: out[n] = 'not installed'\n"
            "print(json.dumps(out))"
        )
        done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True)
        found[label] = json.loads(done.stdout)
    return found


def main() -> int:
    only = {f"bench_{n.strip()}" for n in os.environ.get("BENCH_ONLY", "").split(",") if n.strip()}
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    modules = [m for m in modules if not only or m in only]
    if not modules:
        print("no benchmarks selected")
        return 1
    status = 0
    for name in modules:
        print(f"== {name}", flush=True)
        try:
            status |= int(importlib.import_module(f"benchmarks.{name}").main() or 0)
        except Exception:
            traceback.print_exc()
            print(f"!! {name} failed", flush=True)
            status = 1
    from benchmarks.results import write_results

    command = "make bench" + (f" (BENCH_ONLY={os.environ['BENCH_ONLY']})" if only else "")
    # BENCH_NOTES: lines (separated by "|") saying how this run differs from the defaults, shown in results.md.
    notes = [n.strip() for n in os.environ.get("BENCH_NOTES", "").split("|") if n.strip()]
    write_results(command, datetime.now(UTC).isoformat(timespec="seconds"), libraries(), notes=notes)
    print("written benchmarks/results.json and benchmarks/results.md")
    return status


if __name__ == "__main__":
    sys.exit(main())
