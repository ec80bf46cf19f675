"""The HTTP load client of ``bench_vs_mlflow``, run in its own process for both sides.

Our local gateway serves from the benchmark's process and MLflow's server from its own: had the client
threads run in the benchmark's process, they would share the GIL with our server and not with MLflow's.
Run as ``python -m benchmarks.http_client`` with a JSON plan on stdin::

    {"url": ..., "headers": {...}, "bodies": {"1": "<json>", "100": "<json>"},
     "warm": 300, "load": 2000, "clients": 8}

It posts each body ``warm`` times in a row (after one unmeasured request), then ``load`` requests of the
1-record body from ``clients`` threads, and prints one JSON line: the seconds of every request,
``{"sequential": {"1": [...], "100": [...]}, "concurrent": [...], "concurrent_wall_s": ...}``.
Any answer other than 200 fails the run. Standard library only, so both sides pay for the same client.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def post(url: str, headers: dict[str, str], body: bytes) -> float:
    """Seconds to post ``body`` and read the whole answer; any non-200 answer raises."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={**headers, "Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return time.perf_counter() - started


def run(plan: dict[str, Any]) -> dict[str, Any]:
    url, headers = plan["url"], plan["headers"]
    bodies = {size: body.encode() for size, body in plan["bodies"].items()}
    sequential: dict[str, list[float]] = {}
    for size, body in bodies.items():
        post(url, headers, body)
        sequential[size] = [post(url, headers, body) for _ in range(plan["warm"])]
    one = bodies["1"]
    started = time.perf_counter()
    with ThreadPoolExecutor(plan["clients"]) as pool:
        concurrent = list(pool.map(lambda _: post(url, headers, one), range(plan["load"])))
    return {"sequential": sequential, "concurrent": concurrent, "concurrent_wall_s": time.perf_counter() - started}


def main() -> int:
    print(json.dumps(run(json.load(sys.stdin))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
