"""Tracking API for notebooks and scripts: runs with params, metrics (with steps), tags and artifacts.

A tracked run is a run of the pipeline ``experiment`` in the stack's metadata store, so it is listed
beside the pipeline's runs and the CLI's experiments (``mlops runs list --pipeline experiment``) and
compared with them (``mlops runs compare``); its artifacts go to the stack's artifact bucket under
``runs/<run id>/artifacts/``. The same code writes to a deployed stack and to a local cloud::

    from mlops.tracking import Tracker

    tracker = Tracker.from_stack("Mlops-dev")          # a deployed stage (your AWS credentials)
    tracker = Tracker.local()                           # the local cloud `mlops local up` serves
    tracker = Tracker.from_cloud(cloud)                 # an in-process LocalCloud (tests)
    tracker = Tracker.from_endpoint(url, outputs=...)   # any endpoint: clients built for it

    with tracker.start_run("forest-depth", tags={"owner": "ana"}) as run:
        run.log_params({"max_depth": 6})
        for epoch, loss in enumerate(losses):
            run.log_metric("loss", loss, step=epoch)
        run.log_metric("macro_f1", 0.81)
        run.log_artifact("confusion.png")

The context manager ends the run SUCCEEDED, or FAILED with the exception (which it re-raises).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from functions.metadata.metadata_store import MetadataStore, Node, PipelineRun, run_node
from functions.shared.objects import ObjectStore, S3Uri

if TYPE_CHECKING:
    from mlops.local import LocalCloud

PIPELINE = "experiment"
# The stack outputs a tracker needs (infra/stacks/mlops_stack.py).
OUTPUTS = ("MetadataTableName", "ArtifactBucketName")


class TrackingError(ValueError):
    """A value the tracking API cannot record (a non-finite metric, an empty name, a run already ended)."""


class Tracker:
    """Where tracked runs are written: one stack's metadata table and artifact bucket."""

    def __init__(self, *, dynamodb: Any, s3: Any, metadata_table: str, artifact_bucket: str) -> None:
        self.metadata = MetadataStore(dynamodb, metadata_table)
        self.objects = ObjectStore(s3)
        self.artifact_bucket = artifact_bucket

    # -- where ------------------------------------------------------------------------------------------------
    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], clients: Callable[[str], Any]) -> Tracker:
        """A stack's outputs (``MetadataTableName``, ``ArtifactBucketName``) and a boto3 client factory."""
        missing = [key for key in OUTPUTS if key not in outputs]
        if missing:
            raise TrackingError(f"stack outputs missing: {', '.join(missing)} (deploy the current version)")
        return cls(
            dynamodb=clients("dynamodb"),
            s3=clients("s3"),
            metadata_table=str(outputs["MetadataTableName"]),
            artifact_bucket=str(outputs["ArtifactBucketName"]),
        )

    @classmethod
    def from_stack(cls, stack_name: str, session: Any = None) -> Tracker:
        """A deployed stack (``Mlops-<stage>``), through ``session`` (default: your AWS configuration's)."""
        import boto3

        from mlops.operator import stack_outputs

        session = session or boto3.Session()
        return cls.from_outputs(stack_outputs(session.client("cloudformation"), stack_name), session.client)

    @classmethod
    def from_cloud(cls, cloud: LocalCloud) -> Tracker:
        """An in-process local cloud: the stage's MLOps stack (the one with a metadata table)."""
        [outputs] = [o for o in cloud.outputs.values() if "MetadataTableName" in o and "RegistryTableName" in o]
        return cls.from_outputs(outputs, cloud.client)

    @classmethod
    def local(cls) -> Tracker:
        """The persistent local cloud (``mlops local up``), found through its state file."""
        from mlops.local.server import clients, read_state

        state = read_state()
        return cls.from_outputs(state.stack_outputs(), clients(state))

    @classmethod
    def from_endpoint(
        cls, endpoint_url: str, *, outputs: Mapping[str, Any], region: str = "us-east-1", credentials: Any = None
    ) -> Tracker:
        """Any AWS-compatible endpoint (a local cloud served over HTTP): clients built for ``endpoint_url``."""
        import boto3
        from botocore.config import Config

        from mlops.local.iam import OPERATOR

        creds = credentials or OPERATOR
        session = boto3.Session(
            aws_access_key_id=creds.access_key,
            aws_secret_access_key=creds.secret_key,
            aws_session_token=creds.token,
            region_name=region,
        )
        config = Config(s3={"addressing_style": "path"})

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]

        return cls.from_outputs(outputs, client)

    # -- runs -------------------------------------------------------------------------------------------------
    def start_run(
        self,
        experiment: str,
        *,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        note: str = "",
    ) -> TrackedRun:
        """Start a run of ``experiment``: recorded RUNNING now, beside the pipeline's runs."""
        if not experiment or not experiment.strip():
            raise TrackingError("an experiment needs a name")
        run_id = run_id or f"track-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.metadata.start_run(run_id=run_id, pipeline=PIPELINE, execution_arn="tracking",
                                trigger={"type": "tracking", "note": note}, experiment=experiment)  # fmt: skip
        node = run_node(run_id, PIPELINE)
        self.metadata.annotate(Node(node.id, "run", {**node.attributes, "experiment": experiment}))
        run = TrackedRun(self, run_id, experiment)
        if tags:
            run.set_tags(tags)
        return run

    def get_run(self, run_id: str) -> PipelineRun:
        return self.metadata.get_run(run_id)

    def runs(self, experiment: str, *, limit: int = 20) -> list[PipelineRun]:
        """The newest runs of ``experiment`` first: tracked ones and ``mlops experiment run``'s."""
        return self.metadata.list_runs(PIPELINE, limit=limit, experiment=experiment)

    def artifact(self, run_id: str, name: str) -> bytes:
        """A run's artifact, checked against the sha256 recorded when it was logged."""
        recorded = self.get_run(run_id).artifacts.get(name)
        if recorded is None:
            raise KeyError(f"run {run_id!r} has no artifact {name!r}")
        data = self.objects.get_bytes(S3Uri.parse(recorded["uri"]))
        if hashlib.sha256(data).hexdigest() != recorded["sha256"]:
            raise TrackingError(f"artifact {name!r} of run {run_id!r} does not match its recorded sha256")
        return data


class TrackedRun:
    """One run being tracked; ``end`` (or leaving the ``with`` block) finishes it."""

    def __init__(self, tracker: Tracker, run_id: str, experiment: str) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.experiment = experiment
        self.ended = False

    def log_param(self, name: str, value: Any) -> None:
        self.log_params({name: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._open()
        self.tracker.metadata.log_params(self.run_id, {_name(k, "param"): v for k, v in params.items()})

    def log_metric(self, name: str, value: float, *, step: int | None = None) -> None:
        """A metric; with ``step``, a point of its series too (the run keeps the latest value as the metric)."""
        self._open()
        name, value = _name(name, "metric"), _finite(name, value)
        if step is None:
            self.tracker.metadata.log_metrics(self.run_id, {name: value})
            return
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise TrackingError(f"metric {name!r}: step must be a whole number >= 0, got {step!r}")
        self.tracker.metadata.log_metric_at(self.run_id, name, value, step)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        for name, value in metrics.items():
            self.log_metric(name, value, step=step)

    def set_tag(self, name: str, value: str) -> None:
        self.set_tags({name: value})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._open()
        self.tracker.metadata.set_tags(self.run_id, {_name(k, "tag"): str(v) for k, v in tags.items()})

    def log_artifact(self, source: str | Path | bytes, name: str | None = None) -> str:
        """Upload a file (or bytes, then ``name`` is required) to the run's artifacts; its S3 URI."""
        self._open()
        if isinstance(source, bytes):
            if not name:
                raise TrackingError("an artifact given as bytes needs a name")
            data = source
        else:
            path = Path(source)
            if not path.is_file():
                raise TrackingError(f"no file {path} to log as an artifact")
            data, name = path.read_bytes(), name or path.name
        name = _name(name, "artifact")
        uri = S3Uri(self.tracker.artifact_bucket, f"runs/{self.run_id}/artifacts/{name}")
        self.tracker.objects.put_bytes(uri, data)
        self.tracker.metadata.log_artifact(self.run_id, name, uri=str(uri), sha256=hashlib.sha256(data).hexdigest(),
                                           size=len(data))  # fmt: skip
        return str(uri)

    def end(self, status: str = "SUCCEEDED", error: dict[str, str] | None = None) -> None:
        if status not in ("SUCCEEDED", "FAILED"):
            raise TrackingError(f"a run ends SUCCEEDED or FAILED, not {status!r}")
        self._open()
        self.tracker.metadata.finish_run(self.run_id, status=status, error=error)
        self.ended = True

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.ended:
            return
        if exc is None:
            self.end()
        else:  # recorded, then re-raised: the caller sees its own error
            self.end("FAILED", {"Error": type(exc).__name__, "Cause": str(exc)})

    def _open(self) -> None:
        if self.ended:
            raise TrackingError(f"run {self.run_id} has ended")


def _name(name: str, kind: str) -> str:
    if not isinstance(name, str) or not name.strip() or "#" in name:
        raise TrackingError(f"a {kind} name must be a non-empty string without '#', got {name!r}")
    if kind != "artifact" and "/" in name:
        raise TrackingError(f"a {kind} name has no '/', got {name!r}")
    if kind == "artifact" and (name.startswith("/") or ".." in name.split("/")):
        raise TrackingError(f"artifact name {name!r} must be a relative path without '..'")
    return name


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TrackingError(f"metric {name!r} must be a finite number, got {value!r}")
    return float(value)
