"""Run every ``benchmarks/bench_*.py`` module's ``main()``; say so when there are none."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> int:
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if not modules:
        print("no benchmarks yet")
        return 0
    status = 0
    for name in modules:
        print(f"== {name}")
        status |= int(importlib.import_module(f"benchmarks.{name}").main() or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
