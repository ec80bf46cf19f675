"""Run Lambda handlers in-process, one isolated "container" per function.

moto's own invoke needs Docker. The local cloud replaces moto's
``LambdaFunction._invoke_lambda`` with ``InProcessLambdaRuntime.invoke``,
so every invocation (``lambda.invoke``, Step Functions tasks, EventBridge
targets, the local API gateway) reaches the real handler module:

- the handler string comes from the template (``ImageConfig.Command`` for
  image functions, ``Handler`` for zip functions);
- the invoked version's environment (the template's for ``$LATEST`` until
  it is updated; a published version keeps the one it was published with)
  plus the variables Lambda itself sets is what ``os.environ`` holds for the
  invoking thread only (``ThreadEnviron``): other threads, a test or another
  cloud, see the process environment unchanged;
- each function version gets its own copy of the ``functions`` package
  modules, so module-level caches (settings read at cold start, clients,
  loaded models) are per version, as in separate containers (``sys.modules``
  is swapped for the call: invocations run one at a time in the process);
- its AWS calls are signed with its role's session (``acting_as``, iam.py);
- stdout is captured per invocation: it becomes the function's log,
  Embedded Metric Format lines become CloudWatch metrics (``metric_sink``), and
  ``log_listeners`` receive it as the log group's events (subscription filters, ``logs.py``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import io
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType
from typing import Any, TextIO

from mlops.local.assembly import AssemblyError
from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext

PACKAGES = ("functions",)
_SUBMODULE_PREFIXES = tuple(f"{p}." for p in PACKAGES)


class HandlerResolutionError(ImportError):
    """A handler string does not name an importable function."""


@dataclass
class LocalFunction:
    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    memory_mb: int
    timeout_s: int
    log: list[str] = field(default_factory=list)
    invocations: int = 0
    log_group: str = ""  # the template's LoggingConfig.LogGroup; empty: Lambda's default group
    role_arn: str = ""  # the execution role: its session signs the function's AWS calls (iam.py)

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"


@dataclass
class LambdaContext:
    """The attributes handlers (and Powertools) read from Lambda's context object."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    function_version: str
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def _our_modules() -> dict[str, ModuleType]:
    """The project's modules now in ``sys.modules``. Inlined test, one C-level ``startswith`` per
    name: sys.modules holds thousands of names and is scanned twice per invocation."""
    return {
        name: module for name, module in sys.modules.items() if name.startswith(_SUBMODULE_PREFIXES) or name in PACKAGES
    }


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """Loads a project module as Python does, its compiled code kept for the process: each function version's
    cold start executes the module again (its own module object and state, as in its own container), but
    compiles its source only once per file (keyed by path, size and mtime: an edited file is compiled again).
    Code objects are immutable, so sharing them shares no state; without bytecode files (PYTHONDONTWRITEBYTECODE,
    a read-only checkout) every cold start compiled every module it imports."""

    _compiled: dict[tuple[str, int, int], Any] = {}

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        code = self._compiled.get(key)
        if code is None:
            code = self._compiled[key] = super().get_code(fullname)
        return code


class _SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the project's modules as the path finder does, loaded by ``_SharedCodeLoader``."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not (fullname in PACKAGES or fullname.startswith(_SUBMODULE_PREFIXES)):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader and spec.origin:
            spec.loader = _SharedCodeLoader(fullname, spec.origin)
        return spec


@contextmanager
def _shared_code() -> Iterator[None]:
    """``_SharedCodeFinder`` first on ``sys.meta_path`` while a cloud runs (once, however many clouds run)."""
    if any(isinstance(finder, _SharedCodeFinder) for finder in sys.meta_path):
        yield
        return
    finder = _SharedCodeFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def resolve_handler(handler: str) -> tuple[str, str]:
    """Split ``package.module.function`` and check the module file exists."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise HandlerResolutionError(f"handler {handler!r} is not of the form module.function")
    return module_name, function_name


class _InvocationStdout(io.TextIOBase):
    """sys.stdout (or sys.stderr) stand-in: writes go to the active invocation's buffer, else through. Lambda
    sends both streams to the function's log, so both stand-ins share one per-thread buffer (``local``)."""

    def __init__(self, passthrough: TextIO, local: threading.local | None = None, *, is_stderr: bool = False) -> None:
        self.passthrough = passthrough
        self.local = local if local is not None else threading.local()
        self.is_stderr = is_stderr

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        if buffer is None:
            return self._outside().write(text)
        return int(buffer.write(text))

    def _outside(self) -> TextIO:
        """Where a write from outside any invocation goes: the process's stream of now when that is not this
        stand-in (a CLI command or a logging handler holding this object after the cloud's turn), else the
        stream this stand-in replaced (``passthrough``, the running invocation's outer stream)."""
        current = sys.stderr if self.is_stderr else sys.stdout
        return self.passthrough if current is self else current

    def flush(self) -> None:
        self._outside().flush()


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` while a local cloud runs: a thread running an invocation reads and writes its own copy
    (the process environment plus the function's), every other thread the process environment itself. So a
    test or a second cloud reading the environment while a function runs elsewhere never sees that function's
    variables, and nothing it sets is lost when the invocation ends."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _current(self) -> MutableMapping[str, str]:
        stack: list[dict[str, str]] | None = getattr(self._local, "stack", None)
        return stack[-1] if stack else self.base

    @contextmanager
    def overlaid(self, variables: Mapping[str, str]) -> Iterator[None]:
        """This thread sees the environment it sees now plus ``variables`` until the block ends."""
        stack: list[dict[str, str]] = self._local.__dict__.setdefault("stack", [])
        stack.append({**self._current(), **variables})
        try:
            yield
        finally:
            stack.pop()

    def __getitem__(self, key: str) -> str:
        return self._current()[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._current()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def copy(self) -> dict[str, str]:
        return dict(self._current())


@contextmanager
def _thread_environ() -> Iterator[ThreadEnviron]:
    """Make ``os.environ`` a ThreadEnviron (once, however many clouds run)."""
    if isinstance(os.environ, ThreadEnviron):
        yield os.environ
        return
    base = os.environ
    # Deliberate (B003): the mapping is replaced, the process environment itself stays as it is.
    os.environ = ThreadEnviron(base)  # type: ignore[assignment]  # noqa: B003
    try:
        yield os.environ  # type: ignore[misc]
    finally:
        os.environ = base  # noqa: B003


def _repoint_stream_handlers(
    target: Callable[[Any], Any | None],
) -> list[tuple[logging.StreamHandler[Any], Any]]:
    """Point every logging StreamHandler whose stream ``target`` maps to a stream (not None) at that stream;
    returns (handler, former stream) to undo it."""
    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    changed: list[tuple[logging.StreamHandler[Any], Any]] = []
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and (stream := target(handler.stream)) is not None:
                changed.append((handler, handler.setStream(stream)))
    return changed


# One lock for every runtime in the process: an invocation swaps sys.modules process-wide and
# restores what it saved, so two invocations of two local clouds at once (a module's cloud still running an
# execution while a test's own cloud invokes) would save each other's environment and leave it behind.
_INVOCATIONS = threading.RLock()


class InProcessLambdaRuntime:
    def __init__(self, *, region: str, metric_sink: Callable[[dict[str, Any]], None]) -> None:
        self.region = region
        self.functions: dict[str, LocalFunction] = {}
        self._metric_sink = metric_sink
        self._modules: dict[str, dict[str, ModuleType]] = {}
        self._lock = _INVOCATIONS
        # Directories the function image ships (e.g. the project at /var/task/project) -> where they are here.
        self.image_paths: dict[str, str] = {}
        self._stdout: _InvocationStdout | None = None
        self._stderr: _InvocationStdout | None = None
        self._environ: ThreadEnviron | None = None
        # Called with (log group, log stream, text) after each invocation, as CloudWatch Logs ingests it.
        self.log_listeners: list[Callable[[str, str, str], None]] = []
        # Whose credentials sign the AWS calls made inside a block: given a role ARN (or None) and a session name,
        # a context manager (the cloud's LocalIam.acting_as); by default the caller's own.
        self.acting_as: Callable[[str | None, str], AbstractContextManager[None]] = lambda _r, _n: nullcontext()

    def register(self, function: LocalFunction) -> None:
        resolve_handler(function.handler)
        self.functions[function.name] = function

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Route stdout through the per-invocation capture, and the environment through the per-thread one,
        while the cloud runs."""
        original, original_err = sys.stdout, sys.stderr
        self._stdout = _InvocationStdout(original)
        self._stderr = _InvocationStdout(original_err, local=self._stdout.local, is_stderr=True)
        sys.stdout, sys.stderr = self._stdout, self._stderr  # type: ignore[assignment]
        # A logging handler made before the cloud started (e.g. a Powertools Logger of a handler module the CLI
        # imported) writes to the stream it was given: route it through the capture too, so what a function logs
        # through it lands in the function's log, and anything else passes through as before.
        # So is one a function made while an earlier cloud of this process ran (Powertools keeps one Logger per
        # service, and its handler still writes to that cloud's stand-in, which would pass it to the console).
        stand_ins = {id(original): self._stdout, id(original_err): self._stderr}

        def ours(stream: Any) -> Any | None:
            if isinstance(stream, _InvocationStdout):
                return self._stderr if stream.is_stderr else self._stdout
            return stand_ins.get(id(stream))

        _repoint_stream_handlers(ours)
        # A project loaded outside an invocation (the CLI beside this cloud) waits for the running one's modules.
        loader = importlib.import_module("functions.project.loader")
        unguarded = loader.import_guard
        loader.import_guard = self._lock
        try:
            with _thread_environ() as environ, _shared_code():
                self._environ = environ
                yield
        finally:
            loader.import_guard = unguarded
            # Every handler writing to this cloud's stand-ins (those repointed above, and those the functions
            # made meanwhile) writes to the real streams again: nothing is left writing to a cloud that stopped.
            restore = {id(self._stdout): original, id(self._stderr): original_err}
            _repoint_stream_handlers(lambda stream: restore.get(id(stream)))
            sys.stdout, sys.stderr = original, original_err
            self._stdout = self._stderr = None
            self._environ = None

    def invoke(
        self,
        function_name: str,
        event: Any,
        *,
        version: str = "$LATEST",
        environment: dict[str, str] | None = None,
    ) -> tuple[str, bool, str]:
        """Run the handler of one version; returns (payload JSON, errored, log text) as moto expects."""
        function = self.functions[function_name]
        env = function.environment if environment is None else environment
        with (
            self._lock,
            self._sandbox(f"{function.name}:{version}"),
            self._environment(function, version, env),
            self.acting_as(function.role_arn or None, function.name),
        ):
            buffer = io.StringIO()
            assert self._stdout is not None, "the runtime is not installed"
            # Re-installed per call: test runners swap sys.stdout between phases.
            assert self._stderr is not None
            outer_stdout, sys.stdout = sys.stdout, self._stdout  # type: ignore[assignment]
            outer_stderr, sys.stderr = sys.stderr, self._stderr  # type: ignore[assignment]
            # While it runs, another thread's writes (a CLI command, a test) pass through to the streams current
            # now, not to those of when the cloud started (a test runner's capture of an earlier phase); after it,
            # to those again (a capture of now may be closed by then).
            passthrough = self._stdout.passthrough, self._stderr.passthrough
            if outer_stdout is not self._stdout:
                self._stdout.passthrough = outer_stdout
            if outer_stderr is not self._stderr:
                self._stderr.passthrough = outer_stderr
            # An invocation can start another on its thread (a rule delivering its PutEvents to a Lambda target):
            # the inner one's output is its own, and the outer one's buffer is back when it returns.
            outer_buffer = getattr(self._stdout.local, "buffer", None)
            self._stdout.local.buffer = buffer
            request_id = str(uuid.uuid4())
            errored = False
            try:
                module_name, attribute = resolve_handler(function.handler)
                entry = getattr(importlib.import_module(module_name), attribute)
                context = LambdaContext(
                    function_name=function.name,
                    invoked_function_arn=function.arn if version == "$LATEST" else f"{function.arn}:{version}",
                    memory_limit_in_mb=function.memory_mb,
                    aws_request_id=request_id,
                    log_group_name=function.log_group_name,
                    log_stream_name=f"local/{request_id}",
                    function_version=version,
                    deadline=time.monotonic() + function.timeout_s,
                )
                started = time.monotonic()
                result = entry(event, context)
                elapsed = time.monotonic() - started
                if elapsed > function.timeout_s:
                    # Lambda stops a function at its timeout; here it cannot be stopped mid-way, so its answer is
                    # discarded and the invocation fails as Lambda reports it.
                    errored = True
                    message = f"{request_id} Task timed out after {function.timeout_s:.2f} seconds"
                    payload = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message})
                    buffer.write(f"{message}\n")
                else:
                    payload = json.dumps(result)
            except Exception as exc:  # reported to the caller as Lambda does, not swallowed
                errored = True
                payload = json.dumps(
                    {
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "stackTrace": traceback.format_exception(exc),
                    }
                )
                buffer.write(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc))}")
            finally:
                self._stdout.local.buffer = outer_buffer
                self._stdout.passthrough, self._stderr.passthrough = passthrough
                sys.stdout, sys.stderr = outer_stdout, outer_stderr
                function.invocations += 1
            logs = buffer.getvalue()
        function.log.extend(logs.splitlines())
        self._publish_metrics(logs)
        for listener in self.log_listeners:
            listener(function.log_group_name, f"local/{request_id}", logs)
        return payload, errored, logs

    def _publish_metrics(self, logs: str) -> None:
        for raw in logs.splitlines():
            line = raw.strip()
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            try:
                document = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(document, dict) and "CloudWatchMetrics" in document.get("_aws", {}):
                self._metric_sink(document)

    def image_path(self, value: str) -> str:
        """A path inside the function image, as this machine has it (``image_paths``: image dir -> local dir)."""
        for inside, local in self.image_paths.items():
            if value == inside or value.startswith(f"{inside}/"):
                return local + value[len(inside) :]
        return value

    def _localized(self, environment: Mapping[str, str]) -> dict[str, str]:
        return {name: self.image_path(value) for name, value in environment.items()}

    @contextmanager
    def isolated(self, name: str, environment: Mapping[str, str], *, role_arn: str | None = None) -> Iterator[None]:
        """Run code as another container would (e.g. a Batch job): one at a time, with its own
        copy of the project's modules (kept under ``name``), exactly ``environment`` added, and its AWS calls
        signed as ``role_arn`` (the job role) when given."""
        assert self._environ is not None, "the runtime is not installed"
        variables = {**self._localized(environment), "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        session = re.sub(r"[^\w+=,.@-]", "-", name)  # an STS session name's alphabet
        with self._lock, self._sandbox(name), self.acting_as(role_arn, session), self._environ.overlaid(variables):
            yield

    @contextmanager
    def _sandbox(self, key: str) -> Iterator[None]:
        outside = _our_modules()
        for name in outside:
            del sys.modules[name]
        sys.modules.update(self._modules.get(key, {}))
        try:
            yield
        finally:
            mine = _our_modules()
            self._modules[key] = mine
            for name in mine:
                del sys.modules[name]
            sys.modules.update(outside)

    def _environment(
        self, function: LocalFunction, version: str, environment: dict[str, str]
    ) -> AbstractContextManager[None]:
        """The invocation's environment (the version's variables and Lambda's own), for its thread only."""
        assert self._environ is not None, "the runtime is not installed"
        return self._environ.overlaid(
            {
                **self._localized(environment),
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": version,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
            }
        )


# -- provisioner: a function in moto (configuration, versions) and in this runtime (its code) ----------------
def provisioners(context: ProvisioningContext, runtime: InProcessLambdaRuntime) -> Provisioners:
    return {"AWS::Lambda::Function": partial(_lambda_function, context, runtime)}


def _lambda_function(
    context: ProvisioningContext, runtime: InProcessLambdaRuntime, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    name = props.get("FunctionName") or context.name(stack, logical_id, 64)
    image = props.get("PackageType") == "Image"
    handler = props.get("ImageConfig", {}).get("Command", [None])[0] if image else props.get("Handler")
    if not handler:
        raise AssemblyError(f"{stack}/{logical_id}: no handler (ImageConfig.Command or Handler)")
    environment = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
    kwargs: dict[str, Any] = {
        "FunctionName": name,
        "Role": props["Role"],
        "Timeout": int(props.get("Timeout", 3)),
        "MemorySize": int(props.get("MemorySize", 128)),
        "Environment": {"Variables": environment},
    }
    if image:
        kwargs.update(
            PackageType="Image", Code={"ImageUri": props["Code"]["ImageUri"]}, ImageConfig=props["ImageConfig"]
        )
    else:
        context.notes.append(f"{stack}/{logical_id}: zip function; its handler runs from this checkout's import path")
        kwargs.update(Runtime=props["Runtime"], Handler=handler, Code={"ZipFile": _placeholder_zip()})
    arn = context.client("lambda").create_function(**kwargs)["FunctionArn"]
    runtime.register(
        LocalFunction(
            name=name,
            arn=arn,
            handler=handler,
            environment=environment,
            memory_mb=kwargs["MemorySize"],
            timeout_s=kwargs["Timeout"],
            log_group=str(props.get("LoggingConfig", {}).get("LogGroup", "")),
            role_arn=str(props["Role"]),
        )
    )
    return PhysicalResource(name, {"Arn": arn})


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "code runs in-process from the checkout")
    return buffer.getvalue()
