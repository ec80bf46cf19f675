"""Ours vs MLflow's pyfunc scoring server on the same scikit-learn model, same client, same concurrency.

Measured in one run: our handler in-process (scikit-learn and ONNX runtimes, prediction capture off; and ONNX
with capture on, every request's capture line written to stdout, here an in-memory buffer), our API through the
local gateway (HTTP on loopback), ``mlflow models serve --env-manager local`` (HTTP on loopback, its own process),
and bare ``predict`` + ``predict_proba`` as the floor; warm p50/p99 for 1 and 100 records sequentially, then
BENCH_VS_MLFLOW_CLIENTS concurrent clients; cold start in fresh processes. Both HTTP servers are driven by the
same client (``benchmarks/http_client.py``) in a process of its own.

Sizes: BENCH_VS_MLFLOW_WARM=300 (sequential requests per case), BENCH_VS_MLFLOW_LOAD=2000 (concurrent requests),
BENCH_VS_MLFLOW_CLIENTS=8, BENCH_INFERENCE_COLD=5 (fresh processes per side).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import bench_inference
from benchmarks.common import summary
from benchmarks.peers import ENVIRONMENTS, PeerUnavailable, python_of, run_json, version_in
from benchmarks.results import row_of_stats, target, write_comparison

HERE = Path(__file__).resolve().parent
WARM = int(os.environ.get("BENCH_VS_MLFLOW_WARM", "300"))
LOAD = int(os.environ.get("BENCH_VS_MLFLOW_LOAD", "2000"))
CLIENTS = int(os.environ.get("BENCH_VS_MLFLOW_CLIENTS", "8"))
COMMAND = "make bench (python -m benchmarks.bench_vs_mlflow)"
FEATURES = ("precipitation", "temp_max", "temp_min", "wind")


def measure_http(url: str, headers: dict[str, str], body_for: Callable[[int], bytes]) -> dict[str, Any]:
    """Warm 1- and 100-record latencies, then CLIENTS concurrent clients, from one client process.

    Both sides are measured by the same client (``benchmarks/http_client.py``) in its own process, run
    by this interpreter, so neither server shares a GIL with the client threads.
    """
    plan = {
        "url": url,
        "headers": headers,
        "bodies": {str(n): body_for(n).decode() for n in (1, 100)},
        "warm": WARM,
        "load": LOAD,
        "clients": CLIENTS,
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.http_client"],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=HERE.parent,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the HTTP client failed against {url} ({done.returncode}):\n{done.stderr[-3000:]}")
    samples = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "warm": {n: summary(samples["sequential"][str(n)]) for n in (1, 100)},
        "concurrent": {**summary(samples["concurrent"]), "requests_per_s": LOAD / samples["concurrent_wall_s"]},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mlflow_side(model_path: Path, scratch: Path) -> dict[str, Any]:
    python = python_of("mlflow")
    saved = scratch / "mlflow-model"
    run_json([str(python), str(HERE / "peer_mlflow.py"), "save", str(model_path), str(saved)], timeout=600)
    cold = [
        run_json([str(python), str(HERE / "peer_mlflow.py"), "cold", str(saved)], timeout=600)["seconds"]
        for _ in range(bench_inference.COLD)
    ]
    port = free_port()
    server = subprocess.Popen(
        [
            str(ENVIRONMENTS["mlflow"] / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            str(saved),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(scratch / "mlflow-serve.log", "wb"),  # noqa: SIM115
        env={**os.environ, "PATH": f"{ENVIRONMENTS['mlflow'] / 'bin'}:{os.environ['PATH']}"},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "mlflow models serve did not start:\n" + (scratch / "mlflow-serve.log").read_text()[-2000:]
                )
            time.sleep(0.2)
        record = [1.5, 11.0, 4.0, 5.2]
        measured = measure_http(
            f"http://127.0.0.1:{port}/invocations", {}, lambda n: json.dumps({"inputs": [record] * n}).encode()
        )
        return {**measured, "cold": summary(cold)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def gateway_side() -> dict[str, Any]:
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
        return measure_http(
            f"{cloud.gateway.url()}/predict",
            {"x-api-key": cloud.gateway.api_key()},
            lambda n: json.dumps({"records": [bench_inference.RECORD] * n}).encode(),
        )


def ours_side(scratch: Path) -> tuple[dict[str, Any], Path]:
    out: dict[str, Any] = {}
    model_path = scratch / "sklearn" / "model.joblib"
    for runtime in ("sklearn", "onnx"):
        directory = scratch / runtime
        directory.mkdir()
        seed, model = bench_inference.prepare(runtime, directory)
        seed_path = directory / "seed.json"
        seed_path.write_text(json.dumps(seed))
        cold, _ = bench_inference.cold_starts(seed_path)
        # "capture off" rows: the handler with its capture step replaced by a no-op (a diagnostic baseline; every
        # deployed handler captures every prediction).
        out[runtime] = {"warm": bench_inference.warm(runtime, seed, model, capture=False), "cold_without_boto3": cold}
        if runtime == "onnx":
            # The real capture path: every request's records become capture lines written to stdout, which
            # bench_inference.warm redirects to an io.StringIO (in Lambda: the runtime's stdout pipe).
            out[runtime]["warm_capture"] = bench_inference.warm(runtime, seed, model)
    boto3_s = summary(bench_inference.boto3_import())["p50_ms"] / 1e3
    for runtime in ("sklearn", "onnx"):
        out[runtime]["cold"] = summary([s + boto3_s for s in out[runtime]["cold_without_boto3"]])
    out["gateway"] = gateway_side()
    return out, model_path


def main() -> int:
    try:
        peer_name, missing = f"MLflow {version_in('mlflow', 'mlflow')} scoring server", None
    except PeerUnavailable as exc:
        peer_name, missing = "MLflow (not installed)", str(exc)
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as scratch_name:
        scratch = Path(scratch_name)
        ours, model_path = ours_side(scratch)
        theirs: dict[str, Any] | None = None
        if missing is None:
            try:
                theirs = mlflow_side(model_path, scratch)
            except (RuntimeError, OSError) as exc:
                missing = f"MLflow failed: {exc}"
    by: dict[str, dict[str, Any]] = {}  # rows by a short key, in the order shown
    for n in (1, 100):
        key = f"{n}_records"
        peer = theirs["warm"][n] if theirs else None
        by[f"floor{n}"] = row_of_stats(
            f"bare predict+predict_proba (floor), {n} rec",
            ours["sklearn"]["warm"][key]["bare_predict"],
            None,
            peer_missing="the floor: no peer",
        )
        by[f"sklearn{n}"] = row_of_stats(
            f"handler in-process (scikit-learn), capture off, {n} rec",
            ours["sklearn"]["warm"][key]["handler"],
            peer,
            peer_missing=missing,
        )
        by[f"onnx{n}"] = row_of_stats(
            f"handler in-process (ONNX), capture off, {n} rec",
            ours["onnx"]["warm"][key]["handler"],
            peer,
            peer_missing=missing,
        )
        by[f"capture{n}"] = row_of_stats(
            f"handler in-process (ONNX), capture on, {n} rec",
            ours["onnx"]["warm_capture"][key]["handler"],
            peer,
            peer_missing=missing,
        )
        by[f"http{n}"] = row_of_stats(
            f"HTTP: local gateway vs MLflow server, {n} rec", ours["gateway"]["warm"][n], peer, peer_missing=missing
        )
    by["concurrent"] = row_of_stats(
        f"HTTP, {CLIENTS} concurrent clients, 1 rec",
        ours["gateway"]["concurrent"],
        theirs["concurrent"] if theirs else None,
        peer_missing=missing,
    )
    for runtime, label in (("sklearn", "scikit-learn"), ("onnx", "ONNX")):
        by[f"cold_{runtime}"] = row_of_stats(
            f"cold start ({label})", ours[runtime]["cold"], theirs["cold"] if theirs else None, peer_missing=missing
        )
    rows = list(by.values())

    def ratio(key: str) -> float | None:
        value: float | None = by[key]["ratio"]
        return value

    def p50(key: str, side: str = "ours") -> float:
        return float(by[key][side]["p50_ms"])

    http1, http100, together = ratio("http1"), ratio("http100"), ratio("concurrent")
    onnx_cold = ours["onnx"]["cold"]["p50_ms"]
    onnx_met = [n for n in (1, 100) if (ratio(f"onnx{n}") or 0) >= 3]
    capture1, capture100 = ratio("capture1"), ratio("capture100")
    targets = [
        target(
            "inference ≥ 3x lower latency than MLflow's scoring server",
            None if http1 is None else http1 >= 3,
            "not measured: " + str(missing)
            if http1 is None
            else f"over HTTP (same client, in its own process, for both servers), 1 record: {http1:.2f}x at p50 "
            f"({p50('http1'):.2f} ms vs {p50('http1', 'peer'):.2f} ms), 100 records: {http100:.2f}x, "
            f"{CLIENTS} concurrent clients: {together:.2f}x; in-process handler, 1 record: {ratio('onnx1'):.2f}x with "
            f"ONNX, {ratio('sklearn1'):.2f}x with scikit-learn (capture off), {capture1:.2f}x with ONNX and capture on. "
            + (
                ""
                if http1 >= 3
                else f"Why: the ONNX handler alone answers in {p50('onnx1'):.2f} ms; through the local gateway a "
                "request also pays the emulation of API Gateway + Lambda in Python (http.server with a thread per "
                "connection, the proxy event, moto's Lambda backend and alias routing, the per-version module "
                "sandbox, EMF extraction into moto's CloudWatch) and the emulated log subscription, which delivers "
                "the request's capture line to moto's Firehose and S3 before the gateway answers (in AWS CloudWatch "
                "Logs delivers it asynchronously, off the request path); with scikit-learn our handler also runs "
                "predict and predict_proba (two forest passes) where MLflow runs predict only. What would close it: "
                "compare the deployed API Gateway + Lambda against a deployed MLflow server. On the handler code "
                f"path with ONNX: {ratio('onnx1'):.2f}x at 1 record, {ratio('onnx100'):.2f}x at 100 records, so "
                "there the target "
                + {2: "is met at both sizes.", 1: f"is met at {onnx_met[0]} record(s) only.", 0: "is missed too."}[
                    len(onnx_met)
                ]
            ),
        ),
        target(
            "handler with prediction capture on ≥ 10x faster than MLflow's scoring server at 1 record",
            None if capture1 is None else capture1 >= 10,
            "not measured: " + str(missing)
            if capture1 is None
            else f"ONNX handler in-process with capture on (the real path: the capture line is built and written to "
            f"stdout, here an in-memory buffer) {p50('capture1'):.3f} ms at p50 vs MLflow's server over loopback "
            f"HTTP {p50('capture1', 'peer'):.2f} ms: {capture1:.1f}x (capture off: {p50('onnx1'):.3f} ms, "
            f"{ratio('onnx1'):.1f}x, so capture costs {p50('capture1') - p50('onnx1'):.3f} ms); 100 records: "
            f"{capture100:.1f}x ({p50('capture100'):.2f} ms vs {p50('capture100', 'peer'):.2f} ms). "
            + (
                "Met because capture makes no network call: one json.dumps and one write to stdout, which "
                "CloudWatch Logs ships (subscription filter -> Firehose -> S3) after the function answers."
                if capture1 >= 10
                else "Missed: the handler with capture is slower than a tenth of MLflow's HTTP answer on this machine "
                "in this run; capture itself adds the difference above."
            )
            + " A code-path number: ours without HTTP, MLflow with it; the HTTP rows are the like-for-like ones.",
        ),
        target(
            "cold start ≤ 0.5 s for ONNX-convertible models",
            onnx_cold <= 500,
            f"ONNX cold start median {onnx_cold:.0f} ms (import + model load from S3 on moto + first answer, boto3 import included)",
        ),
    ]
    notes = [
        "Same estimator on both sides: the joblib artifact our training writes, saved for MLflow with mlflow.sklearn.save_model "
        "(scikit-learn pinned to the same version in both environments).",
        'MLflow gets its fastest input: {"inputs": [[...]]} (a NumPy array, no DataFrame conversion) and runs in its own process '
        "(`mlflow models serve --env-manager local -w 1`); our local gateway serves from the benchmark's process (the dev "
        "stage's API: API key, request validation, Lambda proxy integration on alias live). Both are measured by the same "
        "client, benchmarks/http_client.py (urllib, a new connection per request), run in its own process, so neither server "
        "shares a GIL with client threads. Ours answers predictions and class probabilities, validates every record and "
        "captures every prediction (dev stage: the capture line, then the local cloud's emulated subscription filter puts it "
        "to moto's Firehose before the gateway answers); MLflow only predicts.",
        "In-process handler rows compare our Lambda handler (no HTTP) with MLflow over loopback HTTP: a code-path number, "
        "not a like-for-like deployment; the HTTP rows are the like-for-like ones. 'capture off' rows replace the "
        "handler's capture step with a no-op (a baseline: every deployed handler captures); 'capture on' rows run the real "
        "capture code (functions/serving/capture.py: records -> capture lines -> one write to sys.stdout), with stdout "
        "redirected to an in-memory io.StringIO, as for the EMF metric lines every row prints; in Lambda that write goes "
        "to the runtime's stdout pipe and CloudWatch Logs delivers the line to Firehose asynchronously.",
        "Cold start: ours = fresh interpreter importing the handler, loading the registry entry and model from S3 on moto, first "
        "answer, plus boto3's import measured separately; MLflow = fresh interpreter importing mlflow.pyfunc, loading the saved "
        "model from disk, first predict.",
    ]
    sizes = {
        "sequential_requests": WARM,
        "concurrent_requests": LOAD,
        "clients": CLIENTS,
        "cold_processes": bench_inference.COLD,
    }
    write_comparison(
        "inference",
        title="Inference vs MLflow scoring server",
        command=COMMAND,
        peer=peer_name,
        sizes=sizes,
        rows=rows,
        targets=targets,
        notes=notes,
        details={
            "ours": ours,
            "mlflow": theirs,
            "concurrent_rps": {
                "ours": ours["gateway"]["concurrent"]["requests_per_s"],
                "mlflow": theirs["concurrent"]["requests_per_s"] if theirs else None,
            },
        },
    )
    for r in rows:
        print(
            r["label"],
            "ours p50",
            r["ours"]["p50_ms"] if r["ours"] else None,
            "peer p50",
            r["peer"]["p50_ms"] if r["peer"] else None,
            "ratio",
            r["ratio"],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
