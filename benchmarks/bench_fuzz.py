"""Fuzz the inference API through the local gateway with schemathesis, driven by the API's own OpenAPI document.

The local cloud of the demo project (its synthesized dev stage) trains one model, then schemathesis
generates requests for every operation of the document the API serves (``GET /openapi.json``; the
same document as docs/openapi.json): bodies that the model's schemas allow (positive) and that they
refuse (negative), sent over HTTP to the gateway with the API key. Each answer is checked for a
server error (5xx), a status the document does not list, a body that is not the documented schema,
the wrong content type, and a negative case accepted (2xx). Reported: the cases, the answers by
status and every failure with its request.

``BENCH_FUZZ_CASES`` (default 1200): the generated cases in all, spread over the operations and the two
modes. ``BENCH_FUZZ_SEED`` (default 0): the generator's seed (derandomized, so a run repeats).
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMMAND = "make bench (BENCH_ONLY=fuzz; python -m benchmarks.bench_fuzz)"
CASES = int(os.environ.get("BENCH_FUZZ_CASES", "1200"))
SEED = int(os.environ.get("BENCH_FUZZ_SEED", "0"))


@dataclass
class FuzzResult:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # check name -> failures, each "METHOD path -> status: message (body sent)"
    failures: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    # Each case's seconds: its request sent and answered, and the checks run on the answer.
    case_seconds: list[float] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def schema_violations(self) -> int:
        return len(self.failures.get("response_schema_conformance", []))

    def failed(self, check: str) -> int:
        return len(self.failures.get(check, []))


# What every answer is checked for (schemathesis's checks).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


def fuzz(
    base_url: str,
    api_key: str,
    document: dict[str, Any],
    *,
    cases: int,
    seed: int,
    targets: tuple[tuple[str, str], ...] | None = None,
) -> FuzzResult:
    """Send ``cases`` generated requests and check each answer: to every operation, bodies the document allows
    (``positive``) and refuses (``negative``), or to the ``(path, mode)`` pairs of ``targets``."""
    import hypothesis
    import requests
    import schemathesis
    import schemathesis.checks
    from hypothesis import HealthCheck, Phase, given
    from schemathesis.core.failures import Failure, FailureGroup
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    checks = [getattr(schemathesis.checks, name) for name in CHECKS]
    plans = [
        (op, GenerationMode(mode))
        for op in operations
        for mode in ("positive", "negative")
        if targets is None or (op.path, mode) in targets
    ]
    result = FuzzResult()
    session = requests.Session()
    started = time.perf_counter()
    with _frozen_heap():
        for index, (operation, mode) in enumerate(plans):
            budget = cases // len(plans) + (1 if index < cases % len(plans) else 0)

            @hypothesis.seed(seed + index)
            @hypothesis.settings(
                max_examples=budget,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(mode))
            def run(case: Any) -> None:
                # Every case carries the key: a generated (missing or wrong) key only shows the gateway's 403 again.
                case.headers = {**(case.headers or {}), "x-api-key": api_key}
                sent = time.perf_counter()
                response = case.call(base_url=base_url, session=session, timeout=60)
                result.cases += 1
                result.statuses[response.status_code] += 1
                for check in checks:
                    try:
                        case.validate_response(response, checks=[check])
                    except FailureGroup as group:
                        for failure in group.exceptions:
                            result.failures.setdefault(check.__name__, []).append(_failure(case, response, failure))
                    except Failure as failure:
                        result.failures.setdefault(check.__name__, []).append(_failure(case, response, failure))
                result.case_seconds.append(time.perf_counter() - sent)

            run()
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Hypothesis runs a full garbage collection when it first registers its PRNG, which takes seconds on the heap
    of a process holding a local cloud: the objects alive before the run are kept out of it (not collected)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _failure(case: Any, response: Any, failure: Any) -> str:
    """One failure, one line: the request, the answer's status, what is wrong, the body sent."""
    what = " ".join(f"{getattr(failure, 'title', '')}: {getattr(failure, 'message', failure)}".split())
    return (
        f"{case.method.upper()} {case.formatted_path} -> {response.status_code}: {what[:240]} (body {case.body!r:.160})"
    )


def served_document(base_url: str, api_key: str) -> dict[str, Any]:
    import requests

    answer = requests.get(f"{base_url}/openapi.json", headers={"x-api-key": api_key}, timeout=60)
    answer.raise_for_status()
    document: dict[str, Any] = answer.json()
    return document


def main() -> int:
    import tempfile

    from benchmarks.results import row, target, write_comparison
    from mlops.local import LocalCloud
    from mlops.synth import synth
    from tests.helpers import run_training, upload_raw
    from tests.projects import SEATTLE_DIR

    with tempfile.TemporaryDirectory() as scratch:
        assembly = synth(Path(scratch) / "cdk.out", stage="dev", project=SEATTLE_DIR)
        with LocalCloud(assembly) as cloud:
            if run_training(cloud, upload_raw(cloud)).status != "SUCCEEDED":
                raise RuntimeError("training on the local cloud failed: nothing to fuzz")
            assert cloud.gateway is not None
            url, key = cloud.gateway.url(), cloud.gateway.api_key()
            document = served_document(url, key)
            result = fuzz(url, key, document, cases=CASES, seed=SEED)

    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result.statuses.items()))
    failures = "\n".join(f"{check}: {line}" for check, lines in sorted(result.failures.items()) for line in lines)
    print(f"fuzz: {result.cases} cases in {result.seconds:.1f} s; statuses {statuses}")
    for check in CHECKS:
        print(f"  {check}: {result.failed(check)} failures")
    write_comparison(
        "fuzz",
        title="Inference API fuzzing (schemathesis through the local gateway)",
        command=COMMAND,
        peer="no peer: the API's own OpenAPI document is the oracle",
        sizes={"cases": result.cases, "paths": len(document["paths"]), "seed": SEED},
        rows=[
            row(
                "one case: request through the local gateway, answer checked",
                result.case_seconds,
                None,
                peer_missing="no peer: the cost of a case, for sizing a run",
            )
        ],
        targets=[
            target(">= 1000 generated cases", result.cases >= 1000, f"{result.cases} cases"),
            target("0 server errors (5xx)", result.server_errors == 0, f"{result.server_errors} answers >= 500"),
            target(
                "0 response-schema violations",
                result.schema_violations == 0,
                f"{result.schema_violations} bodies not as documented",
            ),
            *[
                target(f"0 failures of {check}", result.failed(check) == 0, f"{result.failed(check)} failures")
                for check in CHECKS
                if check not in ("not_a_server_error", "response_schema_conformance")
            ],
        ],
        notes=[
            f"{result.cases} cases in {result.seconds:.1f} s over {len(document['paths'])} paths (each model's routes "
            "under /models/<name>/ and at the root), positive and negative bodies, seed "
            f"{SEED} (derandomized: a rerun sends the same requests).",
            "Answers by status: " + statuses + ".",
            "No generated POST /feedback reaches 202: a generated prediction id is never one the API issued, so "
            "each is a 404 (the id's HMAC tag at work); labels for issued ids are tested in tests/e2e/test_gateway.py.",
        ],
        blocks=[("Failures", failures or "none")],
    )
    failed = result.cases < 1000 or result.server_errors or any(result.failures.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
