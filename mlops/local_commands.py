"""``mlops local up | down | status | start-api | invoke | report``: the persistent local cloud (local/server.py)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
from pathlib import Path
from typing import Any

from mlops.local.server import (
    LOG_FILE,
    CloudState,
    LocalCloudServer,
    NoLocalCloud,
    clients,
    read_state,
    shut_down,
    spawn,
    state_dir,
)
from mlops.targets import UsageError

SYNTH_RECORD = "synth.json"


def run_local_command(args: argparse.Namespace) -> int:
    command = args.local_command
    if command == "up":
        return up(args)
    if command == "down":
        return down()
    if command == "status":
        return status(args)
    if command == "start-api":
        return start_api(args)
    if command == "invoke":
        return invoke(args)
    return report(args)


def assembly_for(args: argparse.Namespace, directory: Path) -> Path:
    """``--assembly`` if given (it must be one); else ``<state dir>/cdk.out``, synthesized for the project and
    stage unless the last synthesis there was of the same ones (``--synth`` forces it)."""
    if args.assembly is not None:
        if not (args.assembly / "manifest.json").is_file():
            raise UsageError(
                f"{args.assembly} is not a cloud assembly (no manifest.json): `mlops synth --out {args.assembly}` "
                "writes one, or leave out --assembly to synthesize into .mlops/local/cdk.out"
            )
        return Path(args.assembly)
    from mlops.synth import synth

    assembly = directory / "cdk.out"
    wanted = {"stage": args.stage, "project": str(Path(args.project).resolve())}
    record = directory / SYNTH_RECORD
    current = (assembly / "manifest.json").is_file() and record.is_file() and json.loads(record.read_text()) == wanted
    if current and not getattr(args, "synth", False):
        print(f"using {assembly} (stage {args.stage}, project {wanted['project']}; --synth to synthesize again)")
        return assembly
    print(f"synthesizing stage {args.stage} of project {wanted['project']} into {assembly} (cdk-nag runs)...",
          flush=True)  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    record.unlink(missing_ok=True)
    synth(assembly, stage=args.stage, project=Path(args.project).resolve())
    record.write_text(json.dumps(wanted))
    return assembly


def up(args: argparse.Namespace) -> int:
    directory = state_dir()
    try:
        state = read_state(directory)
    except NoLocalCloud:
        state = None
    if state is not None:
        print(f"a local cloud already runs (pid {state.pid}, {state.endpoint}); `mlops local down` stops it")
        return 0
    assembly = assembly_for(args, directory)
    print(f"starting the local cloud over {assembly} (log: {directory / LOG_FILE})...", flush=True)
    state = spawn(assembly, directory, load_sample_data=not args.no_sample_data)
    for line in describe(state):
        print(line)
    print("every command with --local uses it; `mlops local down` stops it")
    return 0


def down() -> int:
    directory = state_dir()
    state = shut_down(directory)
    if state is None:
        print("no local cloud was running")
        return 0
    print(f"stopped the local cloud (pid {state.pid}, up {state.uptime_s():.0f} s); its state is gone with it")
    return 0


def describe(state: CloudState) -> list[str]:
    lines = [
        f"endpoint    {state.endpoint} (region {state.region}; boto3: endpoint_url, any credentials)",
        f"pid         {state.pid}, up {state.uptime_s():.0f} s",
        f"project     {state.project}",
        f"assembly    {state.assembly}",
        f"sample data {state.sample_data}",
    ]
    if state.api_url:
        lines.append(f"API         {state.api_url} (x-api-key: {state.api_key})")
    return lines


def counts(state: CloudState) -> dict[str, Any]:
    """Runs and model versions the cloud holds now (read over its endpoint)."""
    from mlops.operator import Backend

    backend = Backend.from_outputs(state.stack_outputs(), clients(state))
    runs = {p: len(backend.metadata.list_runs(p, limit=1000)) for p in ("training", "experiment", "features")}
    versions = {m: len(backend.registry.list_versions(m)) for m in backend.registry.list_models()}
    return {"runs": runs, "model_versions": versions}


def status(args: argparse.Namespace) -> int:
    state = read_state()
    held = counts(state)
    if args.output == "json":
        from dataclasses import asdict

        print(json.dumps({**asdict(state), "uptime_s": state.uptime_s(), **held}, indent=2, default=str))
        return 0
    for line in describe(state):
        print(line)
    print("runs        " + ", ".join(f"{n} {p}" for p, n in held["runs"].items()))
    versions = held["model_versions"]
    print("models      " + (", ".join(f"{m}: {n} versions" for m, n in versions.items()) or "none registered yet"))
    print(f"functions   {len(state.functions)} (`mlops local invoke LOGICAL_ID_PREFIX --event FILE` runs one)")
    return 0


def start_api(args: argparse.Namespace) -> int:
    """The running cloud's API URL and key; with none running, a cloud in the foreground until Ctrl-C."""
    try:
        state = read_state()
    except NoLocalCloud:
        state = None
    if state is not None:
        _print_api(state)
        return 0
    directory = state_dir()
    assembly = assembly_for(args, directory)
    stopping = threading.Event()
    with LocalCloudServer(assembly, directory=directory) as server:
        assert server.state is not None
        _print_api(server.state)
        print("serving in the foreground (other --local commands use it too); Ctrl-C stops it", flush=True)
        try:
            stopping.wait()
        except KeyboardInterrupt:
            print("stopping: running executions end first", flush=True)
    return 0


def _print_api(state: CloudState) -> None:
    if not state.api_url:
        raise UsageError(f"the assembly {state.assembly} defines no REST API")
    print(f"API     {state.api_url}")
    print(f"API key {state.api_key}")
    print(f"try:    curl -H 'x-api-key: {state.api_key}' {state.api_url.rstrip('/')}/health")


def invoke(args: argparse.Namespace) -> int:
    """Run one function with an event through the cloud's Lambda Invoke; print its result and its log lines."""
    stream, errors = sys.stdout, sys.stderr  # kept: an in-process local cloud swaps them while a function runs
    state = read_state()
    name = state.function(args.function)
    response = clients(state)("lambda").invoke(
        FunctionName=name, Payload=json.dumps(args.event).encode(), LogType="Tail"
    )
    payload = response["Payload"].read().decode()
    logs = base64.b64decode(response.get("LogResult") or b"").decode(errors="replace")
    for line in logs.splitlines():
        print(f"log | {line}", file=errors)
    if response.get("FunctionError"):
        # The traceback is in the log lines above; the result is the error in one line.
        error = json.loads(payload) if payload.startswith("{") else {}
        kind, message = error.get("errorType", "Error"), " ".join(str(error.get("errorMessage", payload)).split())
        print(f"error: {name} failed: {kind}: {message}", file=errors)
        return 1
    try:
        print(json.dumps(json.loads(payload), indent=2), file=stream)
    except ValueError:
        print(payload, file=stream)
    return 0


def report(args: argparse.Namespace) -> int:
    from mlops.local import LocalCloud

    assembly = args.assembly
    if assembly is None:
        try:
            assembly = Path(read_state().assembly)
        except NoLocalCloud:
            assembly = Path("cdk.out")
    if not (Path(assembly) / "manifest.json").is_file():
        raise UsageError(f"{assembly} is not a cloud assembly: `mlops synth --out {assembly}` writes one")
    with LocalCloud(assembly) as cloud:
        print("\n".join(cloud.report.lines()))
    return 0
