"""Monthly cost of a stage for a traffic profile: ``mlops cost``.

The model is arithmetic over three inputs: the stage config (memory, retention,
refresh interval), the stage's synthesized stack (how many keys, alarms, log
groups, pipeline states it has) and a traffic profile (what the workload does).
Every price comes from ``mlops/pricing.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from infra.config import StageConfig
from mlops import pricing

SECONDS_PER_MONTH = 30 * 24 * 3600
HOURS_PER_MONTH = 730  # AWS bills instance-months as 730 hours
# X-Ray's default sampling rule: the first request each second, then 5% of the rest.
XRAY_RESERVOIR_PER_SECOND = 1
XRAY_FIXED_RATE = 0.05
# DynamoDB caches a table's data key per caller connection for up to 5 minutes.
KMS_DECRYPTS_PER_CONTAINER_MONTH = SECONDS_PER_MONTH / 300


class CostModelError(ValueError):
    """A traffic profile value is invalid or does not fit the stage; the message names it."""


@dataclass(frozen=True)
class TrafficProfile:
    """What the workload does in a month; durations and sizes are assumptions to replace with measurements."""

    name: str
    requests_per_month: int
    records_per_request: int
    training_runs_per_month: int
    data_volume_gb: float
    # Inference handler time: fixed part plus per record (measure with `make bench`).
    inference_base_ms: float = 25.0
    inference_ms_per_record: float = 0.2
    train_seconds: float = 120.0
    step_seconds: float = 5.0
    model_size_mb: float = 5.0
    response_bytes_per_record: int = 64
    log_bytes_per_request: int = 1500  # handler JSON log lines + API access log line
    custom_metrics: int = 10
    image_gb: float = 0.6  # compressed size of the one function image in ECR

    def __post_init__(self) -> None:
        for name in ("requests_per_month", "records_per_request", "training_runs_per_month", "custom_metrics"):
            if getattr(self, name) < 0:
                raise CostModelError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in (
            "data_volume_gb",
            "inference_base_ms",
            "inference_ms_per_record",
            "train_seconds",
            "step_seconds",
            "model_size_mb",
            "image_gb",
        ):
            if getattr(self, name) < 0:
                raise CostModelError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.records_per_request == 0 and self.requests_per_month > 0:
            raise CostModelError("records_per_request must be at least 1 when there are requests")


PROFILES: dict[str, TrafficProfile] = {
    "small": TrafficProfile(
        name="small", requests_per_month=100_000, records_per_request=10, training_runs_per_month=4, data_volume_gb=1
    ),
    "medium": TrafficProfile(
        name="medium",
        requests_per_month=5_000_000,
        records_per_request=20,
        training_runs_per_month=30,
        data_volume_gb=20,
        train_seconds=240,
    ),
    "large": TrafficProfile(
        name="large",
        requests_per_month=50_000_000,
        records_per_request=50,
        training_runs_per_month=120,
        data_volume_gb=200,
        train_seconds=600,
    ),
}


@dataclass(frozen=True)
class Inventory:
    """What the synthesized stage stack contains that is billed per resource or per run."""

    kms_keys: int
    alarms: int
    pipeline_states: int
    pipeline_training_steps: int  # steps sized by config.training (Train, Evaluate)
    pipeline_other_steps: int  # steps sized by config.pipeline_step


@dataclass(frozen=True)
class LineItem:
    service: str
    what: str
    usd: float


@dataclass(frozen=True)
class CostEstimate:
    stage: str
    profile: TrafficProfile
    items: list[LineItem] = field(default_factory=list)
    rest_api_usd: float = 0.0
    http_api_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return sum(item.usd for item in self.items)

    @property
    def total_with_http_api_usd(self) -> float:
        return self.total_usd - self.rest_api_usd + self.http_api_usd


def inventory_from_template(template_path: Path, pipeline_asl: Path) -> Inventory:
    """Count billed resources in a synthesized stage template and states in the pipeline ASL."""
    resources = json.loads(template_path.read_text())["Resources"].values()
    states = json.loads(pipeline_asl.read_text())["States"]
    tasks = [s for s in states.values() if s["Type"] == "Task"]
    training = [s for name, s in states.items() if s["Type"] == "Task" and name in ("Train", "Evaluate")]
    return Inventory(
        kms_keys=sum(r["Type"] == "AWS::KMS::Key" for r in resources),
        alarms=sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in resources),
        pipeline_states=len(states),
        pipeline_training_steps=len(training),
        # Run bookkeeping tasks (StartRun, FinishRun) plus LoadData and Register; failure handlers don't run.
        pipeline_other_steps=len(tasks) - len(training) - sum(name.startswith("Record") for name in states),
    )


def sagemaker_always_on_usd(instances: int = 1) -> float:
    """An ml.m5.large real-time endpoint running all month (``instances`` behind it)."""
    return instances * HOURS_PER_MONTH * pricing.SAGEMAKER_ML_M5_LARGE_HOUR.usd


def estimate(config: StageConfig, inventory: Inventory, profile: TrafficProfile) -> CostEstimate:
    """Line items in USD/month for ``profile`` on the stage ``config``."""
    p = pricing
    items: list[LineItem] = []

    def add(service: str, what: str, usd: float) -> None:
        items.append(LineItem(service, what, usd))

    # -- inference: API Gateway -> Lambda -------------------------------------------------
    n = profile.requests_per_month
    duration_s = (profile.inference_base_ms + profile.inference_ms_per_record * profile.records_per_request) / 1000
    if n and duration_s > config.inference.timeout_s:
        raise CostModelError(
            f"profile {profile.name}: a request takes {duration_s:.1f}s, over the stage's inference timeout "
            f"of {config.inference.timeout_s}s"
        )
    inference_gb_s = n * duration_s * config.inference.memory_mb / 1024
    add(
        "Lambda",
        f"inference: {n:,} requests x {duration_s * 1000:.0f} ms x {config.inference.memory_mb} MB",
        inference_gb_s * p.LAMBDA_GB_SECOND.usd + n * p.LAMBDA_REQUEST.usd,
    )
    rest = n * p.REST_API_REQUEST.usd
    add("API Gateway", f"REST API: {n:,} requests", rest)
    response_gb = n * profile.records_per_request * profile.response_bytes_per_record / 1e9
    add("Data transfer", f"responses out: {response_gb:,.2f} GB", response_gb * p.DATA_TRANSFER_OUT_GB.usd)
    # Warm containers each poll the registry every model_refresh_s (0 = every request).
    containers = max(1.0, n * duration_s / SECONDS_PER_MONTH) if n else 0.0
    registry_reads = containers * SECONDS_PER_MONTH / config.model_refresh_s if config.model_refresh_s else float(n)
    add("DynamoDB", f"registry reads: {registry_reads:,.0f}", registry_reads * p.DDB_READ_REQUEST.usd)
    traces = min(n, XRAY_RESERVOIR_PER_SECOND * SECONDS_PER_MONTH + XRAY_FIXED_RATE * n)
    add("X-Ray", f"traces: {traces:,.0f} (default sampling)", traces * p.XRAY_TRACE.usd)

    # -- training: Step Functions -> Lambda, S3, DynamoDB -----------------------------------
    runs = profile.training_runs_per_month
    if runs and profile.train_seconds > config.training.timeout_s:
        raise CostModelError(
            f"profile {profile.name}: train_seconds {profile.train_seconds:g} exceeds the stage's training "
            f"timeout of {config.training.timeout_s}s"
        )
    training_gb_s = runs * (
        inventory.pipeline_training_steps * profile.train_seconds * config.training.memory_mb / 1024
        + inventory.pipeline_other_steps * profile.step_seconds * config.pipeline_step.memory_mb / 1024
    )
    invocations = runs * (inventory.pipeline_training_steps + inventory.pipeline_other_steps)
    add(
        "Lambda",
        f"training: {runs} runs, {invocations:,} step invocations",
        training_gb_s * p.LAMBDA_GB_SECOND.usd + invocations * p.LAMBDA_REQUEST.usd,
    )
    # Every state of the definition counted once per run (an upper bound: failure states don't run).
    transitions = runs * (inventory.pipeline_states + 1)
    add("Step Functions", f"{transitions:,} state transitions", transitions * p.SFN_STANDARD_TRANSITION.usd)
    # Each step records its start and end; the run has its own item (metadata) plus registry writes.
    writes = runs * (2 * invocations / max(runs, 1) + 4)
    add("DynamoDB", f"metadata/registry writes: {writes:,.0f}", writes * p.DDB_WRITE_REQUEST.usd)

    # -- storage -------------------------------------------------------------------------
    # Versioned buckets keep every model: a year of runs is the steady state assumed here.
    stored_gb = profile.data_volume_gb + 12 * runs * profile.model_size_mb / 1024
    add("S3", f"{stored_gb:,.1f} GB stored (data + a year of models)", stored_gb * p.S3_STANDARD_GB_MONTH.usd)
    objects_read = runs * max(1, round(profile.data_volume_gb * 8))  # ~128 MB objects
    add("S3", "requests (pipeline reads/writes)", objects_read * p.S3_GET_REQUEST.usd + runs * 6 * p.S3_PUT_REQUEST.usd)
    table_gb = 0.01 + runs * 2e-5  # run and step items are small; the registry holds versions
    add(
        "DynamoDB",
        "storage + point-in-time recovery",
        table_gb * (p.DDB_STORAGE_GB_MONTH.usd + p.DDB_PITR_GB_MONTH.usd),
    )
    add("ECR", f"function image {profile.image_gb:g} GB", profile.image_gb * p.ECR_STORAGE_GB_MONTH.usd)

    # -- security and observability --------------------------------------------------------
    kms_requests = containers * KMS_DECRYPTS_PER_CONTAINER_MONTH + invocations * 4
    add(
        "KMS",
        f"{inventory.kms_keys} customer-managed key(s), {kms_requests:,.0f} requests",
        inventory.kms_keys * p.KMS_KEY_MONTH.usd + kms_requests * p.KMS_REQUEST.usd,
    )
    log_gb = n * profile.log_bytes_per_request / 1e9 + runs * 0.001
    stored_log_gb = log_gb * config.log_retention_days / 30
    add(
        "CloudWatch",
        f"logs: {log_gb:,.2f} GB ingested, {stored_log_gb:,.2f} GB kept ({config.log_retention_days} d)",
        log_gb * p.LOGS_INGEST_GB.usd + stored_log_gb * p.LOGS_STORAGE_GB_MONTH.usd,
    )
    add(
        "CloudWatch",
        f"{inventory.alarms} alarm(s), {profile.custom_metrics} custom metrics",
        inventory.alarms * p.ALARM_MONTH.usd + profile.custom_metrics * p.CUSTOM_METRIC_MONTH.usd,
    )

    return CostEstimate(
        stage=config.name,
        profile=profile,
        items=items,
        rest_api_usd=rest,
        http_api_usd=n * p.HTTP_API_REQUEST.usd,
    )


def with_overrides(profile: TrafficProfile, **overrides: float | int | None) -> TrafficProfile:
    """``profile`` with the given fields replaced (``None`` keeps the profile's value)."""
    return replace(profile, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


def render(estimate_: CostEstimate) -> list[str]:
    """The estimate as plain-text lines (also pasted into docs/cost.md)."""
    profile = estimate_.profile
    lines = [
        f"stage {estimate_.stage}, profile {profile.name}: {profile.requests_per_month:,} requests/month x "
        f"{profile.records_per_request} records, {profile.training_runs_per_month} training runs/month, "
        f"{profile.data_volume_gb:g} GB data",
        f"prices: {pricing.REGION} on-demand, recorded {pricing.LAMBDA_GB_SECOND.as_of} (mlops/pricing.py)",
        "",
        f"{'service':<15} {'USD/month':>10}  what",
    ]
    for item in estimate_.items:
        lines.append(f"{item.service:<15} {item.usd:>10.2f}  {item.what}")
    lines += [
        f"{'total':<15} {estimate_.total_usd:>10.2f}  with the REST API (as deployed)",
        f"{'':<15} {estimate_.total_with_http_api_usd:>10.2f}  if the API were an HTTP API "
        f"(saves {estimate_.rest_api_usd - estimate_.http_api_usd:.2f})",
        f"{'SageMaker':<15} {sagemaker_always_on_usd(1):>10.2f}  one ml.m5.large real-time endpoint 24x7, "
        f"inference only ({sagemaker_always_on_usd(2):.2f} with two instances for availability)",
    ]
    return lines
