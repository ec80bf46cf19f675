"""Inference: the serving package vs the full image's, warm handler latency vs bare predict, cold start,
and a load test through the local gateway.

Command: ``make bench`` (or ``BENCH_ONLY=inference .venv-bench/bin/python -m benchmarks.run``).
Sizes: BENCH_INFERENCE_WARM (default 300 calls per case), BENCH_INFERENCE_COLD (5 fresh processes),
BENCH_INFERENCE_IMPORTS (7 fresh processes), BENCH_LOAD_REQUESTS (10000), BENCH_LOAD_CLIENTS (8).

The serving package (``functions/requirements-serving.txt``, the inference image's) against the full one
(``functions/requirements.txt``): each installed with ``pip install --target`` into its own folder, no
Docker; its size (``du``), the inference handler's import and an ONNX cold start, each in a fresh
interpreter that sees only that folder, the repository and (for the cold start) moto in a third folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import summary, write_result

WARM = int(os.environ.get("BENCH_INFERENCE_WARM", "300"))
COLD = int(os.environ.get("BENCH_INFERENCE_COLD", "5"))
LOAD_REQUESTS = int(os.environ.get("BENCH_LOAD_REQUESTS", "10000"))
LOAD_CLIENTS = int(os.environ.get("BENCH_LOAD_CLIENTS", "8"))
IMPORTS = int(os.environ.get("BENCH_INFERENCE_IMPORTS", "7"))
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"serving": ROOT / "functions" / "requirements-serving.txt", "full": ROOT / "functions" / "requirements.txt"}
# What an ONNX cold start must stay under (the benchmark issue's goal): import + model load + first prediction.
COLD_START_GOAL_MS = 250.0
IMPORT_SCRIPT = (
    "import time; t = time.perf_counter(); import functions.handlers.inference; print(time.perf_counter() - t)"
)
RECORD = {"precipitation": 1.5, "temp_max": 11.0, "temp_min": 4.0, "wind": 5.2}

# Runs in a fresh interpreter. Before the clock: moto, boto3 and the seeded registry and bucket
# (plain boto3 calls on bytes prepared by the parent, so no project or ML module is imported yet).
# On the clock: importing the handler and everything it needs, loading the model, the first answer.
# boto3's own import is measured separately (cold_boto3) and added, since Lambda pays it too.
COLD_SCRIPT = r"""
import json, sys, time
from moto import mock_aws
seed = json.load(open(sys.argv[1]))
with mock_aws():
    import boto3
    s3, ddb = boto3.client("s3", region_name="us-east-1"), boto3.client("dynamodb", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    for key, path in seed["objects"].items():
        s3.put_object(Bucket="artifacts", Key=key, Body=open(path, "rb").read())
    ddb.create_table(**seed["table"])
    ddb.put_item(TableName="registry", Item=seed["item"])
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="prediction-key", SecretString="k")
    import os
    os.environ.update(seed["env"])
    preloaded = sorted(m for m in ("numpy", "pandas", "sklearn", "onnxruntime", "aws_lambda_powertools") if m in sys.modules)
    started = time.perf_counter()
    from functions.handlers.inference import handler
    from benchmarks.bench_inference import proxy_event, Context
    response = handler(proxy_event([{"precipitation": 1.5, "temp_max": 11.0, "temp_min": 4.0, "wind": 5.2}]), Context())
    elapsed = time.perf_counter() - started
    assert response["statusCode"] == 200, response
    print(json.dumps({"seconds": elapsed, "preloaded": preloaded}))
"""

ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "MLOPS_ARTIFACT_BUCKET": "artifacts",
    "MLOPS_REGISTRY_TABLE": "registry",
    "MLOPS_MODEL_NAME": "m",
    # As a published version serves (the one API Gateway reaches through alias live): pinned by the rollout.
    # Unpinned, the handler would resolve the registry's champion alias, which this seed does not set.
    "MLOPS_MODEL_VERSION": "1",
    "MLOPS_MODEL_REFRESH_SECONDS": "60",
    "MLOPS_MAX_RECORDS": "1000",
    "MLOPS_CAPTURE_BUCKET": "captures",
    "MLOPS_PREDICTION_KEY_SECRET": "prediction-key",
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
    "POWERTOOLS_SERVICE_NAME": "bench",
}


class Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def proxy_event(records: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "resource": "/predict",
        "path": "/predict",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "bench",
            "stage": "v1",
            "path": "/v1/predict",
            "resourcePath": "/predict",
            "httpMethod": "POST",
        },
        "body": json.dumps({"records": records}),
        "isBase64Encoded": False,
    }


def prepare(runtime: str, directory: Path) -> tuple[dict[str, Any], Any]:
    """Train the model, write its artifacts, and describe the registry item; returns (seed, model)."""
    from boto3.dynamodb.types import TypeSerializer
    from vega_datasets import local_data

    from benchmarks.common import demo_project
    from functions.registry.artifact import serialize_model
    from functions.registry.onnx_model import OnnxExport, export_onnx
    from functions.serving.signature import ModelSignature
    from functions.shared.dynamo_items import to_item
    from functions.training.dataset import validate_training_frame
    from functions.training.fit import time_based_split, train_model

    spec = demo_project().model("seattle-weather")
    split = time_based_split(validate_training_frame(local_data.seattle_weather(), spec), spec)
    model = train_model(split.train, spec)
    artifact = serialize_model(model)
    (directory / "model.joblib").write_bytes(artifact.data)
    objects = {"runs/r/model.joblib": str(directory / "model.joblib")}
    item: dict[str, Any] = {
        "pk": "MODEL#m",
        "sk": "VERSION#0000000001",
        "model_name": "m",
        "version": 1,
        "artifact_uri": "s3://artifacts/runs/r/model.joblib",
        "artifact_sha256": artifact.sha256,
        "metrics": {"accuracy": 0.7},
        "params": {},
        "signature": ModelSignature.from_spec(spec).to_dict(),
        "training_data_uri": "s3://x/y",
        "training_data_sha256": "0" * 64,
        "run_id": "r",
        "status": "REGISTERED",
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    if runtime == "onnx":
        onnx = export_onnx(model, len(spec.features))
        assert isinstance(onnx, OnnxExport)
        (directory / "model.onnx").write_bytes(onnx.data)
        objects["runs/r/model.onnx"] = str(directory / "model.onnx")
        item.update(onnx_uri="s3://artifacts/runs/r/model.onnx", onnx_sha256=onnx.sha256)
    del TypeSerializer
    seed = {
        "objects": objects,
        "item": to_item(item),
        "env": ENV,
        "table": {
            "TableName": "registry",
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        },
    }
    return seed, model


def cold_starts(seed_path: Path) -> tuple[list[float], list[str]]:
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    seconds, preloaded = [], []
    for _ in range(COLD):
        out = subprocess.run(
            [sys.executable, "-c", COLD_SCRIPT, str(seed_path)], env=env, capture_output=True, text=True, check=True
        )
        record = json.loads(out.stdout.strip().splitlines()[-1])
        seconds.append(record["seconds"])
        preloaded = record["preloaded"]
    return seconds, preloaded


BOTO3_SCRIPT = "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"


def boto3_import() -> list[float]:
    return [
        float(subprocess.run([sys.executable, "-c", BOTO3_SCRIPT], capture_output=True, text=True, check=True).stdout)
        for _ in range(COLD)
    ]


def warm(runtime: str, seed: dict[str, Any], sklearn_model: Any, *, capture: bool = True) -> dict[str, Any]:
    """Warm latency of the handler in-process. The handler captures every prediction; ``capture=False`` replaces
    its capture step with a no-op, a diagnostic baseline that isolates what capture costs (no stage runs so)."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        s3, ddb = boto3.client("s3", region_name="us-east-1"), boto3.client("dynamodb", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        for key, path in seed["objects"].items():
            s3.put_object(Bucket="artifacts", Key=key, Body=Path(path).read_bytes())
        ddb.create_table(**seed["table"])
        ddb.put_item(TableName="registry", Item=seed["item"])
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="prediction-key", SecretString="k")
        os.environ.update(seed["env"])
        for name in [m for m in sys.modules if m.startswith(("functions.handlers", "functions.shared.clients"))]:
            del sys.modules[name]
        from functions.handlers import inference
        from functions.handlers.inference import handler, models

        if not capture:
            inference.capture = lambda *_args, **_kwargs: None  # type: ignore[assignment]

        results: dict[str, Any] = {}
        for size in (1, 100):
            records = [RECORD] * size
            event = proxy_event(records)
            samples, bare = [], []
            # EMF metrics are printed on every call, as in Lambda; kept, but not shown.
            with contextlib.redirect_stdout(io.StringIO()):
                handler(event, Context())
                for _ in range(WARM):
                    started = time.perf_counter()
                    response = handler(event, Context())
                    samples.append(time.perf_counter() - started)
                    assert response["statusCode"] == 200
            matrix = np.array([[r[k] for k in ("precipitation", "temp_max", "temp_min", "wind")] for r in records])
            bare_model = models.current().model if runtime == "onnx" else sklearn_model
            for _ in range(WARM):
                started = time.perf_counter()
                bare_model.predict(matrix)
                bare_model.predict_proba(matrix)
                bare.append(time.perf_counter() - started)
            handler_stats, bare_stats = summary(samples), summary(bare)
            results[f"{size}_records"] = {
                "handler": handler_stats,
                "bare_predict": bare_stats,
                "overhead_p50_ms": handler_stats["p50_ms"] - bare_stats["p50_ms"],
            }
    return results


def load_test() -> dict[str, Any]:
    from mlops.demo import shipped_dataset_csv
    from mlops.local import LocalCloud
    from mlops.synth import synth

    with tempfile.TemporaryDirectory() as scratch, LocalCloud(synth(Path(scratch) / "cdk.out")) as cloud:
        uri = cloud.output("RawDatasetUri")
        bucket, key = uri[5:].split("/", 1)
        cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=shipped_dataset_csv())
        result = cloud.run_state_machine(
            cloud.output("TrainingStateMachineArn"), {"source_uri": uri, "trigger": {"type": "benchmark"}}
        )
        assert result.status == "SUCCEEDED", result.cause
        assert cloud.gateway is not None
        url, api_key = f"{cloud.gateway.url()}/predict", cloud.gateway.api_key()
        body = json.dumps({"records": [RECORD]}).encode()

        def call(_: int) -> tuple[float, int]:
            request = urllib.request.Request(
                url, data=body, method="POST", headers={"x-api-key": api_key, "Content-Type": "application/json"}
            )
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            return time.perf_counter() - started, status

        started = time.perf_counter()
        with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
            outcomes = list(pool.map(call, range(LOAD_REQUESTS)))
        wall = time.perf_counter() - started
    errors = sum(1 for _, status in outcomes if status != 200)
    return {
        "requests": LOAD_REQUESTS,
        "clients": LOAD_CLIENTS,
        "errors": errors,
        "requests_per_s": LOAD_REQUESTS / wall,
        "latency": summary([s for s, _ in outcomes]),
    }


def _install(requirements: list[str], target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target),
         *requirements],
        check=True,
    )  # fmt: skip


def _du(path: Path) -> tuple[int, str]:
    """Bytes (``du -sb``) and the human-readable size (``du -sh``) of a folder."""
    exact = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    shown = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    return int(exact), shown


def _isolated(*paths: Path) -> dict[str, str]:
    """The environment of an interpreter run with ``-S`` (no site-packages): only ``paths`` and the stdlib."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (ROOT, *paths))}


def _moto_requirement() -> str:
    line = next(x for x in (ROOT / "requirements.txt").read_text().splitlines() if x.startswith("moto"))
    return "moto[s3,dynamodb]==" + line.split("==", 1)[1].strip()


def serving_package(seed_path: Path, scratch: Path) -> dict[str, Any]:
    """Size, handler import and ONNX cold start of each package, side by side (samples in seconds)."""
    harness = scratch / "harness"
    _install([_moto_requirement()], harness)
    measured: dict[str, Any] = {}
    for name, requirements in PACKAGES.items():
        folder = scratch / f"package-{name}"
        _install(["-r", str(requirements)], folder)
        size, shown = _du(folder)
        imports = [
            float(subprocess.run([sys.executable, "-S", "-c", IMPORT_SCRIPT], env=_isolated(folder),
                                 capture_output=True, text=True, check=True).stdout)
            for _ in range(IMPORTS)
        ]  # fmt: skip
        boto3_s = [
            float(subprocess.run([sys.executable, "-S", "-c", BOTO3_SCRIPT], env=_isolated(folder),
                                 capture_output=True, text=True, check=True).stdout)
            for _ in range(COLD)
        ]  # fmt: skip
        colds = []
        for _ in range(COLD):
            out = subprocess.run([sys.executable, "-S", "-c", COLD_SCRIPT, str(seed_path)],
                                 env=_isolated(folder, harness), capture_output=True, text=True, check=True)  # fmt: skip
            colds.append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
        boto3_median = sorted(boto3_s)[len(boto3_s) // 2]
        measured[name] = {
            "requirements": str(requirements.relative_to(ROOT)),
            "bytes": size,
            "du_sh": shown,
            "import_s": imports,
            # As the other cold-start rows: boto3's import (before the clock, with moto) added back.
            "cold_start_s": [c + boto3_median for c in colds],
        }
    return measured


def write_serving_comparison(measured: dict[str, Any]) -> None:
    from benchmarks.results import row, target, write_comparison

    serving, full = measured["serving"], measured["full"]
    cold_ms = summary(serving["cold_start_s"])["p50_ms"]
    rows = [
        row("inference handler import (fresh process)", serving["import_s"], full["import_s"]),
        row("ONNX cold start: import + model load from S3 (moto) + first prediction", serving["cold_start_s"],
            full["cold_start_s"]),
    ]  # fmt: skip
    write_comparison(
        "serving_package",
        title="Serving package vs the full image's dependencies",
        command="BENCH_ONLY=inference .venv-bench/bin/python -m benchmarks.run",
        peer="the full image's dependencies (functions/requirements.txt), same code, same model",
        sizes={
            "serving package (du -sh)": serving["du_sh"],
            "full image dependencies (du -sh)": full["du_sh"],
            "cold starts": COLD,
            "imports": IMPORTS,
        },
        rows=rows,
        targets=[
            target(
                f"ONNX import + model load + first prediction <= {COLD_START_GOAL_MS:.0f} ms (serving package)",
                cold_ms <= COLD_START_GOAL_MS,
                f"median {cold_ms:.0f} ms over {COLD} fresh processes (boto3 import included)",
            ),
            target(
                "the serving package is smaller than the full image's dependencies",
                serving["bytes"] < full["bytes"],
                f"{serving['bytes'] / 1e6:.0f} MB vs {full['bytes'] / 1e6:.0f} MB (pip install --target, du)",
            ),
        ],
        notes=[
            "Each package is installed with pip install --target into its own folder and measured with du; the "
            "interpreter runs with -S, so it sees only that folder, the repository and, for the cold start, moto.",
            f"Python {sys.version.split()[0]} here; the images run Python 3.12 (public.ecr.aws/lambda/python:3.12), "
            "whose base image also carries its own boto3.",
            "Ratio: the full package's median / the serving package's (above 1: the serving package is faster).",
            "Load average (1, 5, 15 min) when written: {:.1f}, {:.1f}, {:.1f} on {} cores: a shared machine's "
            "times are inflated; the sizes are not.".format(*os.getloadavg(), os.cpu_count()),
        ],
        details=measured,
    )


def main() -> int:
    result: dict[str, Any] = {"command": "make bench (python -m benchmarks.bench_inference)"}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "onnx"
        directory.mkdir()
        seed, _ = prepare("onnx", directory)
        (directory / "seed.json").write_text(json.dumps(seed))
        packages = serving_package(directory / "seed.json", Path(scratch))
    write_serving_comparison(packages)
    result["serving_package"] = packages
    for name, measured in packages.items():
        print(
            f"{name:8s} package {measured['du_sh']:>6s} | handler import median "
            f"{summary(measured['import_s'])['p50_ms']:.0f} ms | ONNX cold start median "
            f"{summary(measured['cold_start_s'])['p50_ms']:.0f} ms"
        )
    with tempfile.TemporaryDirectory() as scratch:
        for runtime in ("onnx", "sklearn"):
            directory = Path(scratch) / runtime
            directory.mkdir()
            seed, model = prepare(runtime, directory)
            seed_path = directory / "seed.json"
            seed_path.write_text(json.dumps(seed))
            cold, preloaded = cold_starts(seed_path)
            result[runtime] = {
                "warm": warm(runtime, seed, model),
                "cold_start_without_boto3": summary(cold),
                "preloaded_before_clock": preloaded,
            }
    result["boto3_import"] = summary(boto3_import())
    for runtime in ("onnx", "sklearn"):
        result[runtime]["cold_start_p50_ms"] = (
            result[runtime]["cold_start_without_boto3"]["p50_ms"] + result["boto3_import"]["p50_ms"]
        )
    result["load_test"] = load_test()
    path = write_result("inference", result)
    for runtime in ("onnx", "sklearn"):
        for size in ("1_records", "100_records"):
            w = result[runtime]["warm"][size]
            print(
                f"{runtime:8s} {size:12s} handler p50 {w['handler']['p50_ms']:.2f} ms p99 {w['handler']['p99_ms']:.2f}"
                f" ms | bare predict p50 {w['bare_predict']['p50_ms']:.2f} ms | overhead p50 {w['overhead_p50_ms']:.2f} ms"
            )
        print(
            f"{runtime:8s} cold start (import + load + first prediction, boto3 import included) median "
            f"{result[runtime]['cold_start_p50_ms']:.0f} ms over {COLD} processes "
            f"(imported before the clock: {', '.join(result[runtime]['preloaded_before_clock']) or 'none'})"
        )
    load = result["load_test"]
    print(
        f"load test: {load['requests']} requests, {load['clients']} clients, {load['errors']} errors, "
        f"{load['requests_per_s']:.0f} req/s, p50 {load['latency']['p50_ms']:.1f} ms, p99 {load['latency']['p99_ms']:.1f} ms"
    )
    print(f"written to {path}")
    return 1 if load["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
