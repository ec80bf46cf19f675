"""`mlops local up`: one local cloud that outlives the command that started it.

A background process builds a ``LocalCloud`` over a cloud assembly, loads the project's sample
data once (the raw table the stack's ``RawDatasetUri`` names, and a backfill of the feature store
through the feature pipeline), and serves moto's backends over HTTP on 127.0.0.1. moto keeps its
backends in process-wide globals, so the HTTP server (moto's own WSGI app) and the cloud's
in-process emulation (Lambda runtime, Step Functions, EventBridge delivery, alarms, gateway,
local IAM) act on the same state: a ``StartExecution`` sent over HTTP runs the synthesized state
machine with the template's functions, exactly as a call made inside the process would.

Every other command is a client: boto3 with ``endpoint_url`` set to the server and the operator's
credentials (``iam.OPERATOR``), so the CLI's local path is its AWS path with another endpoint.
The process writes a state file (``state.json`` in ``.mlops/local``, or ``$MLOPS_LOCAL_DIR``):
pid, endpoint, assembly, project, the API's URL and key, the stacks' outputs and the template's
functions; ``mlops local down`` stops the process (SIGTERM: running executions end first, then
moto goes away) and the state file goes with it. State lives only in that process's memory:
``local down`` discards it, as ``docker compose down`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE_DIR_ENV = "MLOPS_LOCAL_DIR"
STATE_FILE = "state.json"
LOG_FILE = "cloud.log"
# How long `local up` waits for the background process to be ready (synthesis excluded: that runs before).
START_TIMEOUT_S = 300.0


class LocalCloudError(Exception):
    """The persistent local cloud is absent, could not start, or cannot be reached (a one-line reason)."""


class NoLocalCloud(LocalCloudError):
    def __init__(self, directory: Path) -> None:
        super().__init__(f"no local cloud is running (state dir {directory}): start one with `mlops local up`")


def state_dir() -> Path:
    """Where the state file, the log and the synthesized assembly live: ``$MLOPS_LOCAL_DIR`` or ``.mlops/local``."""
    return Path(os.environ.get(STATE_DIR_ENV) or ".mlops/local").resolve()


@dataclass(frozen=True)
class CloudState:
    """What a running local cloud tells its clients (the state file)."""

    pid: int
    endpoint: str
    region: str
    assembly: str
    project: str | None
    started_at: str
    api_url: str | None = None
    api_key: str | None = None
    sample_data: str = ""
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)

    def stack_outputs(self) -> dict[str, Any]:
        """The outputs of the stage's MLOps stack (the one with a registry; the CI/CD stack has none)."""
        for outputs in self.outputs.values():
            if "RegistryTableName" in outputs:
                return outputs
        raise LocalCloudError(f"the assembly {self.assembly} has no MLOps stack (no RegistryTableName output)")

    def uptime_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - datetime.fromisoformat(self.started_at)).total_seconds()

    def function(self, wanted: str) -> str:
        """The physical name of a template function, by logical-id prefix or by (physical) name."""
        if wanted in self.functions.values():
            return wanted
        matches = sorted({name for logical_id, name in self.functions.items() if logical_id.startswith(wanted)})
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise LocalCloudError(
                f"no function of the template is named or has a logical id starting {wanted!r}: "
                f"`mlops local status` lists them"
            )
        raise LocalCloudError(f"{len(matches)} functions match {wanted!r} ({', '.join(matches)}): be more specific")


def write_state(directory: Path, state: CloudState) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(state), indent=2, sort_keys=True))
    partial.replace(path)  # atomic: a reader sees no state or the whole state
    return path


def read_state(directory: Path | None = None) -> CloudState:
    """The running cloud's state; ``NoLocalCloud`` when none runs (a state file whose process is gone is removed)."""
    directory = directory or state_dir()
    path = directory / STATE_FILE
    try:
        state = CloudState(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise NoLocalCloud(directory) from None
    except (ValueError, TypeError) as exc:
        raise LocalCloudError(
            f"{path} is not a local cloud's state ({exc}): remove it, then `mlops local up`"
        ) from None
    if not _alive(state.pid):
        path.unlink(missing_ok=True)
        raise NoLocalCloud(directory)
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def answers(endpoint: str, timeout_s: float = 2.0) -> bool:
    """Whether an HTTP server answers at ``endpoint`` (any status: moto answers an unsigned ``GET /`` too)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/", timeout=timeout_s):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def clients(state: CloudState) -> Callable[[str], Any]:
    """A boto3 client factory for the running cloud: its endpoint, its region, the operator's credentials."""
    return _clients(state.endpoint, state.region)


@functools.cache
def _clients(endpoint: str, region: str) -> Callable[[str], Any]:
    # One factory per endpoint for the process: a boto3 client costs tens of milliseconds to build, and a
    # command builds about six (a test running many commands in one process reuses them).
    import boto3
    from botocore.config import Config

    from mlops.local.iam import OPERATOR

    session = boto3.Session(
        aws_access_key_id=OPERATOR.access_key,
        aws_secret_access_key=OPERATOR.secret_key,
        aws_session_token=OPERATOR.token,
        region_name=region,
    )
    # A synchronous Invoke (`mlops local invoke`) waits as long as the function may run (Lambda's 900 s at most);
    # no retries over loopback: a retried StartExecution or Invoke would run twice.
    config = Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, read_timeout=905)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]
        return made[service]

    return client


# -- the server ----------------------------------------------------------------------------------------------
class LocalCloudServer:
    """A ``LocalCloud`` with its sample data, served over HTTP on loopback; ``start`` writes the state file."""

    def __init__(self, assembly: Path, *, directory: Path, load_sample_data: bool = True, port: int = 0) -> None:
        self.assembly = Path(assembly).resolve()
        self.directory = directory
        self.load_sample_data = load_sample_data
        self.port = port
        self.cloud: Any = None
        self.state: CloudState | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LocalCloudServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> CloudState:
        from werkzeug.serving import make_server

        from mlops.local import LocalCloud

        started = datetime.now(UTC)
        self.cloud = LocalCloud(self.assembly)
        self.cloud.start()
        try:
            sample = self._load_sample_data() if self.load_sample_data else "not loaded"
            self._server = make_server("127.0.0.1", self.port, _moto_app(), threaded=True, request_handler=_handler())
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-cloud-http", daemon=True
            )
            self._thread.start()
            host, port = self._server.server_address[:2]
            gateway = self.cloud.gateway
            has_api = gateway is not None and bool(gateway.apis)
            self.state = CloudState(
                pid=os.getpid(),
                endpoint=f"http://{host}:{port}",
                region=self.cloud.region,
                assembly=str(self.assembly),
                project=str(self.cloud.project_dir) if self.cloud.project_dir else None,
                started_at=started.isoformat(),
                api_url=gateway.url() if has_api else None,
                api_key=_api_key(gateway) if has_api else None,
                sample_data=sample,
                outputs=self.cloud.outputs,
                functions={
                    logical_id: self.cloud.physical[stack.name][logical_id].ref
                    for stack in self.cloud.stacks
                    for logical_id, spec in stack.resources.items()
                    if spec["Type"] == "AWS::Lambda::Function" and logical_id in self.cloud.physical[stack.name]
                },
            )
            write_state(self.directory, self.state)
        except BaseException:
            self.stop()
            raise
        return self.state

    def _load_sample_data(self) -> str:
        """The project's sample data where the stack expects a table, and backfilled into the feature store."""
        from functions.project import load_project
        from mlops.demo import backfill_features, demo_data

        if self.cloud.project_dir is None:
            return "none: the assembly names no project"
        project = load_project(self.cloud.project_dir)
        if project.demo is None:
            return f"none: project {project.name!r} declares no sample data (demo=DemoScenario(...))"
        outputs = CloudState.stack_outputs(self._partial_state())
        bucket, _, key = str(outputs.get("RawDatasetUri", "")).removeprefix("s3://").partition("/")
        if bucket and key:
            self.cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=demo_data(project))
        loaded = backfill_features(self.cloud, project=project)
        if loaded.status != "SUCCEEDED":
            raise LocalCloudError(f"backfilling the local feature store failed: {loaded.error}: {loaded.cause}")
        return f"{project.demo.data} backfilled into the feature store (execution {loaded.name})"

    def _partial_state(self) -> CloudState:
        return CloudState(pid=0, endpoint="", region="", assembly=str(self.assembly), project=None,
                          started_at="", outputs=self.cloud.outputs)  # fmt: skip

    def stop(self) -> None:
        """Stop serving, let running executions end, stop the cloud, remove the state file (if it is ours)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            if self._thread is not None:
                self._thread.join()
        if self.cloud is not None:
            try:
                self.cloud.stop()
            finally:
                self.cloud = None
        path = self.directory / STATE_FILE
        if self.state is not None and path.is_file():
            try:
                ours = json.loads(path.read_text()).get("pid") == self.state.pid
            except ValueError:
                ours = False
            if ours:
                path.unlink()
        self.state = None


def _api_key(gateway: Any) -> str | None:
    try:
        return str(gateway.api_key())
    except KeyError:
        return None


def _moto_app() -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def _handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        """moto's request handler without werkzeug's access log line per request."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return

    return QuietHandler


# -- the background process -------------------------------------------------------------------------------------
def serve(assembly: Path, directory: Path, *, load_sample_data: bool = True) -> int:
    """The background process: start, serve until SIGTERM or SIGINT, stop cleanly."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    server = LocalCloudServer(assembly, directory=directory, load_sample_data=load_sample_data)
    server.start()
    print(f"local cloud ready at {server.state.endpoint if server.state else '?'} (pid {os.getpid()})", flush=True)
    try:
        stopping.wait()
    finally:
        print("stopping: letting running executions end", flush=True)
        server.stop()
        print("stopped", flush=True)
    return 0


def spawn(
    assembly: Path, directory: Path, *, load_sample_data: bool = True, timeout_s: float = START_TIMEOUT_S
) -> CloudState:
    """Start the background process and wait until its state file names it; its output goes to ``cloud.log``."""
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / LOG_FILE
    command = [sys.executable, "-m", "mlops.local.server", "--assembly", str(assembly), "--state-dir", str(directory)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, *([] if load_sample_data else ["--no-sample-data"])],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the shell's process group: Ctrl-C in that shell leaves it running
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise LocalCloudError(
                f"the local cloud exited with status {process.returncode}: {tail[0]} (log {log_path})"
            )
        try:
            state = read_state(directory)
        except LocalCloudError:
            state = None
        if state is not None and state.pid == process.pid:
            return state
        time.sleep(0.2)
    process.terminate()
    process.wait()
    raise LocalCloudError(f"the local cloud was not ready after {timeout_s:.0f} s (log {log_path})")


def shut_down(directory: Path, *, timeout_s: float = 180.0) -> CloudState | None:
    """Stop the running cloud (SIGTERM) and wait for its process to end; None when none was running."""
    try:
        state = read_state(directory)
    except NoLocalCloud:
        return None
    if not answers(state.endpoint):
        # The pid is alive but no local cloud answers there: the pid was reused. Never signal a stranger.
        (directory / STATE_FILE).unlink(missing_ok=True)
        raise LocalCloudError(f"process {state.pid} is not the local cloud (nothing answers at {state.endpoint}); "
                              "removed the stale state file")  # fmt: skip
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(state.pid):
        _reap(state.pid)
        if time.monotonic() > deadline:
            raise LocalCloudError(f"the local cloud (pid {state.pid}) did not stop within {timeout_s:.0f} s")
        time.sleep(0.1)
    (directory / STATE_FILE).unlink(missing_ok=True)
    return state


def _reap(pid: int) -> None:
    """Collect the exit status when the cloud is this process's child (a test's), so it does not linger a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops.local.server", description=__doc__.splitlines()[0])
    parser.add_argument("--assembly", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--no-sample-data", action="store_true")
    args = parser.parse_args(argv)
    return serve(args.assembly, args.state_dir, load_sample_data=not args.no_sample_data)


if __name__ == "__main__":
    sys.exit(main())
