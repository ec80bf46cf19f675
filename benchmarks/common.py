"""Helpers shared by benchmarks: timing statistics, machine description, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def summary(samples_s: list[float]) -> dict[str, float]:
    """Median, p99, min, max and spread (IQR) in milliseconds."""
    ordered = sorted(samples_s)
    q = statistics.quantiles(ordered, n=100) if len(ordered) >= 2 else [ordered[0]] * 99
    return {
        "n": len(ordered),
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": q[98] * 1e3,
        "min_ms": ordered[0] * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "iqr_ms": (q[74] - q[24]) * 1e3,
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, indent=2))
    return path


def demo_project() -> Any:
    """The demo project (examples/seattle_weather), whose data and model the benchmarks measure on."""
    from functions.project import load_project

    return load_project(Path(__file__).resolve().parents[1] / "examples" / "seattle_weather")
