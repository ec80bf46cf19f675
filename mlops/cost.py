"""Monthly cost of a stage for a traffic profile: ``mlops cost``.

The model is arithmetic over three inputs: the stage config (memory, retention, refresh
interval, Batch sizing), what the stage's synthesized template bills for
(``mlops/cost_template.py``: every resource type priced or listed unbilled with a reason, the
pipelines' steps, the schedules) and a traffic profile (what the workload does). Every price
comes from ``mlops/pricing.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from functions.feature_store.materialization import MAX_SHARDS, SHARD_ROWS, shard_count
from infra.config import StageConfig
from mlops import pricing
from mlops.cost_template import (
    PRICED_TYPES,
    SECONDS_PER_MONTH,
    UNBILLED_TYPES,
    CostModelError,
    Inventory,
    PipelineRun,
    inventory_from_template,
    runs_per_month,
)

__all__ = [
    "PRICED_TYPES",
    "PROFILES",
    "UNBILLED_TYPES",
    "CostEstimate",
    "CostModelError",
    "Inventory",
    "LineItem",
    "TrafficProfile",
    "estimate",
    "inventory_from_template",
    "render",
    "runs_per_month",
    "sagemaker_always_on_usd",
    "with_overrides",
]

MINUTES_PER_MONTH = SECONDS_PER_MONTH // 60
HOURS_PER_MONTH = 730  # AWS bills instance-months as 730 hours
# X-Ray's default sampling rule: the first request each second, then 5% of the rest.
XRAY_RESERVOIR_PER_SECOND = 1
XRAY_FIXED_RATE = 0.05
# DynamoDB caches a table's data key per caller connection for up to 5 minutes.
KMS_DECRYPTS_PER_CONTAINER_MONTH = SECONDS_PER_MONTH / 300
# Firehose delivers a buffer every 60 s or 5 MB (the capture stream's BufferingHints).
FIREHOSE_BUFFER_MB = 5
# How long a warm Lambda container lives before a cold start replaces it (an assumption; AWS does not say).
CONTAINER_LIFETIME_HOURS = 2
# A captured prediction's log line (measured: docs/operations.md, "Prediction captures").
CAPTURE_BYTES_PER_RECORD = 360


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
    # Rows of a training set: from the stage's batch_threshold_rows on, Train runs on AWS Batch.
    training_rows: int = 50_000
    model_size_mb: float = 5.0
    response_bytes_per_record: int = 64
    log_bytes_per_request: int = 1500  # handler JSON log lines + API access log line
    # API Gateway execution logging at INFO (the stage's MethodSettings): about a dozen lines a request.
    api_execution_log_bytes_per_request: int = 1500
    # Requests that send entity ids: the handler reads each record's features from the online store.
    entity_request_share: float = 0.5
    # Feature pipeline: runs a month, rows each, parts each (1: one file; more: a partitioned batch).
    feature_runs_per_month: int = 30
    feature_rows_per_run: int = 5_000
    feature_parts_per_run: int = 1
    feature_step_seconds_per_100k_rows: float = 1.0  # measured order: validating 1M rows took 3.9 s
    entities: int = 1_000
    # Runs that search hyperparameters first (a request's tune, or a search space on_every_run), of the above.
    tuned_runs_per_month: int = 0
    trials_per_tuned_run: int = 8  # SearchSpace.max_trials' default
    batch_inference_runs_per_month: int = 4
    batch_inference_parts_per_run: int = 10
    batch_inference_seconds_per_part: float = 20.0
    monitor_seconds: float = 10.0
    alarm_notifications_per_month: int = 100
    # Metric series the functions emit for one model: inference 7, canary 3 (billed by the hour, so the
    # versions a month rolls out add about one set), monitor 12 + one per feature (4 here), guard and evaluate.
    custom_metrics: int = 30
    image_gb: float = 0.8  # compressed size of the two function images in ECR

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, int | float) and value < 0:
                raise CostModelError(f"{name} must not be negative, got {value}")
        if self.records_per_request == 0 and self.requests_per_month > 0:
            raise CostModelError("records_per_request must be at least 1 when there are requests")
        if self.entity_request_share > 1:
            raise CostModelError(f"entity_request_share must be within 0..1, got {self.entity_request_share}")
        for name in ("feature_parts_per_run", "batch_inference_parts_per_run"):
            if getattr(self, name) < 1:
                raise CostModelError(f"{name} must be at least 1, got {getattr(self, name)}")


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
        training_rows=1_000_000,
        feature_runs_per_month=720,
        feature_rows_per_run=20_000,
        entities=100_000,
        batch_inference_runs_per_month=30,
        batch_inference_parts_per_run=50,
    ),
    "large": TrafficProfile(
        name="large",
        requests_per_month=50_000_000,
        records_per_request=50,
        training_runs_per_month=120,
        data_volume_gb=200,
        train_seconds=600,
        training_rows=10_000_000,
        feature_runs_per_month=30,
        feature_rows_per_run=10_000_000,
        feature_parts_per_run=100,
        entities=1_000_000,
        batch_inference_runs_per_month=120,
        batch_inference_parts_per_run=200,
    ),
}


@dataclass(frozen=True)
class LineItem:
    service: str
    what: str
    usd: float
    types: tuple[str, ...] = ()  # the template's resource types this item prices


@dataclass(frozen=True)
class CostEstimate:
    stage: str
    profile: TrafficProfile
    items: list[LineItem] = field(default_factory=list)
    rest_api_usd: float = 0.0
    http_api_usd: float = 0.0
    unpriced: tuple[str, ...] = ()

    @property
    def total_usd(self) -> float:
        return sum(item.usd for item in self.items)

    @property
    def total_with_http_api_usd(self) -> float:
        return self.total_usd - self.rest_api_usd + self.http_api_usd

    def priced_types(self) -> set[str]:
        return {t for item in self.items for t in item.types}


# -- the estimate ------------------------------------------------------------------------------


def sagemaker_always_on_usd(instances: int = 1) -> float:
    """An ml.m5.large real-time endpoint running all month (``instances`` behind it)."""
    return instances * HOURS_PER_MONTH * pricing.SAGEMAKER_ML_M5_LARGE_HOUR.usd


@dataclass
class _Usage:
    """Lambda and Step Functions usage summed over the workload, per function."""

    gb_seconds: float = 0.0
    invocations: float = 0.0
    transitions: float = 0.0
    executions: float = 0.0  # state machine executions, Distributed Map children included
    by_what: dict[str, tuple[float, float]] = field(default_factory=dict)  # what -> (invocations, GB-s)

    def invoke(self, what: str, times: float, seconds: float, memory_mb: int) -> None:
        gb_s = times * seconds * memory_mb / 1024
        self.gb_seconds += gb_s
        self.invocations += times
        calls, total = self.by_what.get(what, (0.0, 0.0))
        self.by_what[what] = (calls + times, total + gb_s)


def estimate(config: StageConfig, inventory: Inventory, profile: TrafficProfile) -> CostEstimate:
    """Line items in USD/month for ``profile`` on the stage ``config``."""
    p = pricing
    items: list[LineItem] = []

    def add(service: str, what: str, usd: float, *types: str) -> None:
        items.append(LineItem(service, what, usd, tuple(t for t in types if inventory.count(t))))

    memory = inventory.function_memory_mb

    def memory_of(handler: str) -> int:
        if handler not in memory:
            raise CostModelError(f"the template has no function with handler {handler!r}")
        return memory[handler]

    usage = _Usage()

    # -- inference: API Gateway -> Lambda ------------------------------------------------------
    n = profile.requests_per_month
    records = n * profile.records_per_request
    duration_s = (profile.inference_base_ms + profile.inference_ms_per_record * profile.records_per_request) / 1000
    if n and duration_s > config.inference.timeout_s:
        raise CostModelError(
            f"profile {profile.name}: a request takes {duration_s:.1f}s, over the stage's inference timeout "
            f"of {config.inference.timeout_s}s"
        )
    inference_mb = memory_of("inference")
    inference_gb_s = n * duration_s * inference_mb / 1024
    add(
        "Lambda",
        f"inference: {n:,} requests x {duration_s * 1000:.0f} ms x {inference_mb} MB",
        inference_gb_s * p.LAMBDA_GB_SECOND.usd + n * p.LAMBDA_REQUEST.usd,
        "AWS::Lambda::Function",
    )
    rest = n * p.REST_API_REQUEST.usd
    add("API Gateway", f"REST API: {n:,} requests", rest, "AWS::ApiGateway::RestApi")
    response_gb = records * profile.response_bytes_per_record / 1e9
    add("Data transfer", f"responses out: {response_gb:,.2f} GB", response_gb * p.DATA_TRANSFER_OUT_GB.usd)
    # Warm containers each poll the registry every model_refresh_s (0 = every request).
    containers = max(1.0, n * duration_s / SECONDS_PER_MONTH) if n else 0.0
    registry_reads = containers * SECONDS_PER_MONTH / config.model_refresh_s if config.model_refresh_s else float(n)
    # A prediction by entity id reads the model's serving view: one strongly consistent item per record.
    online_reads = n * profile.entity_request_share * profile.records_per_request
    add(
        "DynamoDB",
        f"reads: registry {registry_reads:,.0f}, online store {online_reads:,.0f} (records by entity id)",
        (registry_reads + online_reads) * p.DDB_READ_REQUEST.usd,
        "AWS::DynamoDB::Table",
    )

    # -- pipelines: Step Functions -> Lambda (and Batch) ---------------------------------------
    batch_jobs = batch_job_seconds = 0.0

    def pipeline(kind: str, runs: float, seconds_of: dict[str, float], items_of: dict[str, float]) -> PipelineRun:
        """Add ``runs`` runs of a state machine's path; a step's time by its state's name, else its function's."""
        if kind not in inventory.runs:
            raise CostModelError(f"the template has no state machine for the {kind.replace('_', ' ')} pipeline")
        shape = inventory.runs[kind]

        def add_run(run: PipelineRun, times: float) -> None:
            nonlocal batch_jobs, batch_job_seconds
            for state, handler in run.steps:
                seconds = seconds_of.get(state, seconds_of.get(handler, profile.step_seconds))
                usage.invoke(kind, times, seconds, memory_of(handler))
            usage.transitions += times * run.transitions
            usage.executions += times
            batch_jobs += times * run.batch_jobs
            batch_job_seconds += times * sum(seconds_of.get(state, profile.step_seconds) for state in run.batch_states)
            for map_state, child in run.map_children:
                add_run(child, times * items_of.get(map_state, 1))

        add_run(shape, runs)
        return shape

    def feature_step_seconds(rows: float) -> float:
        return profile.step_seconds + profile.feature_step_seconds_per_100k_rows * rows / 100_000

    feature_runs = profile.feature_runs_per_month
    rows_per_run = profile.feature_rows_per_run
    parts = profile.feature_parts_per_run
    rows_per_part = profile.feature_rows_per_run / parts
    feature_kind = "feature" if parts == 1 else "feature_batch"
    per_file = feature_step_seconds(profile.feature_rows_per_run)
    pipeline(
        feature_kind,
        feature_runs,
        {
            **{h: per_file for h in ("feature_validate", "feature_transform", "feature_write_offline")},
            "feature_materialize": per_file,
            "feature_validate_partition": feature_step_seconds(rows_per_part),
            "feature_transform_partition": feature_step_seconds(rows_per_part),
        },
        {
            "ValidatePartitions": parts,
            "TransformPartitions": parts,
            # each view's pending rows in entity-key shards (a batch run materializes through a Map)
            "MaterializeShards": inventory.online_views * shard_count(rows_per_run, SHARD_ROWS, MAX_SHARDS),
        },
    )

    runs = profile.training_runs_per_month
    tuned = profile.tuned_runs_per_month
    if tuned > runs:
        raise CostModelError(f"tuned_runs_per_month ({tuned}) cannot exceed training_runs_per_month ({runs})")
    on_batch = profile.training_rows >= config.batch_threshold_rows
    limit = config.batch.timeout_s if on_batch else config.training.timeout_s
    if runs and profile.train_seconds > limit:
        raise CostModelError(
            f"profile {profile.name}: train_seconds {profile.train_seconds:g} exceeds the stage's "
            f"{'Batch' if on_batch else 'training'} timeout of {limit}s"
        )
    # On Batch the fit, the evaluation and the trials take the profile's train time, the other data prep a step's.
    fits = ("Train", "Evaluate", "RunTrial", "TrainOnBatch", "EvaluateOnBatch", "TrialOnBatch")
    train_seconds = {s: profile.train_seconds for s in fits}
    backend = "_batch" if on_batch else ""
    pipeline(f"training{backend}", runs - tuned, train_seconds, {})
    pipeline(f"training_tuned{backend}", tuned, train_seconds, {"RunTrials": profile.trials_per_tuned_run})
    batch_runs = profile.batch_inference_runs_per_month
    pipeline(
        "batch_inference",
        batch_runs,
        {"batch_predict": profile.batch_inference_seconds_per_part},
        {"PredictPartitions": profile.batch_inference_parts_per_run},
    )

    # Functions outside the state machines: schedules (monitor, guard), triggers and each promotion's rollout.
    for handler, times in inventory.scheduled_invocations.items():
        seconds = profile.monitor_seconds if handler == "monitor" else profile.step_seconds
        usage.invoke("scheduled", times, seconds, memory_of(handler))
    triggers = runs + feature_runs  # each training run and each stored feature file asks the guard
    usage.invoke("events", triggers + runs, profile.step_seconds, memory_of("retrain_guard"))  # + each run's end
    for handler in ("deploy_model", "pre_traffic_hook", "rollout_outcome"):
        usage.invoke("events", runs, profile.step_seconds, memory_of(handler))

    schedules = ", ".join(f"{h} {t:,.0f}" for h, t in sorted(inventory.scheduled_invocations.items()))

    def usage_of(*whats: str) -> tuple[float, float]:
        calls = sum(usage.by_what.get(w, (0.0, 0.0))[0] for w in whats)
        gb_s = sum(usage.by_what.get(w, (0.0, 0.0))[1] for w in whats)
        return calls, gb_s

    for label, whats in (
        (
            f"feature pipeline: {feature_runs:,} runs of {rows_per_run:,} rows in {parts} part(s)",
            (feature_kind,),
        ),
        (
            f"training: {runs} runs ({'AWS Batch' if on_batch else 'Lambda'} trains"
            + (f"; {tuned} tuned x {profile.trials_per_tuned_run} trials)" if tuned else ")"),
            ("training", "training_batch", "training_tuned", "training_tuned_batch"),
        ),
        (f"batch inference: {batch_runs} runs x {profile.batch_inference_parts_per_run} parts", ("batch_inference",)),
        (f"scheduled ({schedules}) and event-driven functions (guard, rollout)", ("scheduled", "events")),
    ):
        calls, gb_s = usage_of(*whats)
        add(
            "Lambda",
            f"{label}: {calls:,.0f} invocations",
            gb_s * p.LAMBDA_GB_SECOND.usd + calls * p.LAMBDA_REQUEST.usd,
            "AWS::Lambda::Function",
        )
    add(
        "Step Functions",
        f"{usage.transitions:,.0f} state transitions ({usage.executions:,.0f} executions, Map children included)",
        usage.transitions * p.SFN_STANDARD_TRANSITION.usd,
        "AWS::StepFunctions::StateMachine",
    )
    jobs = batch_jobs
    job_hours = batch_job_seconds / 3600
    add(
        "Fargate",
        f"Batch training jobs: {jobs:,.0f} ({job_hours:,.2f} h) x {inventory.batch_vcpus:g} vCPU, "
        f"{inventory.batch_memory_gb:g} GB",
        job_hours
        * (inventory.batch_vcpus * p.FARGATE_VCPU_HOUR.usd + inventory.batch_memory_gb * p.FARGATE_GB_HOUR.usd),
        "AWS::Batch::JobDefinition",
    )
    add(
        "VPC",
        f"{inventory.interface_endpoint_azs} interface endpoint-AZs x {HOURS_PER_MONTH} h (Batch's private subnets)",
        inventory.interface_endpoint_azs * HOURS_PER_MONTH * p.INTERFACE_ENDPOINT_AZ_HOUR.usd
        + jobs * 0.01 * p.INTERFACE_ENDPOINT_GB.usd,  # ~10 MB of API calls and logs per job
        "AWS::EC2::VPCEndpoint",
    )

    # -- DynamoDB writes -----------------------------------------------------------------------
    pipeline_steps = usage_of("training", "training_batch", "training_tuned", "training_tuned_batch", feature_kind)[0]
    # Each tracked step records its start and end; each run has its own item plus registry writes.
    metadata_writes = 2 * pipeline_steps + 4 * (runs + feature_runs)
    # Materialize writes the latest row per entity of each chunk of feature_chunk_rows, per view.
    views = inventory.online_views
    chunks = max(1, math.ceil(rows_per_run / config.feature_chunk_rows))
    online_writes = feature_runs * views * (min(rows_per_run, profile.entities * chunks) + 1)
    # Each run takes and gives back a lease per view (one materializing run of a view at a time).
    online_writes += feature_runs * views * 2
    guard_writes = 3 * triggers  # lock, cooldown and budget
    add(
        "DynamoDB",
        f"writes: metadata/registry {metadata_writes:,.0f}, online store {online_writes:,.0f}, guard {guard_writes:,}",
        (metadata_writes + online_writes + guard_writes) * p.DDB_WRITE_REQUEST.usd,
        "AWS::DynamoDB::Table",
    )
    # Materialize compares each entity's stored version before it writes (BatchGetItem, eventually consistent:
    # half a read unit an item of up to 4 KB).
    compare_reads = 0.5 * feature_runs * views * min(rows_per_run, profile.entities * chunks)
    add(
        "DynamoDB",
        f"reads: materialization's version check {compare_reads:,.0f} read units",
        compare_reads * p.DDB_READ_REQUEST.usd,
        "AWS::DynamoDB::Table",
    )
    table_gb = 0.01 + runs * 2e-5 + profile.entities * views * 1e-6  # online items ~1 KB
    add(
        "DynamoDB",
        f"storage + point-in-time recovery: {table_gb:,.2f} GB ({inventory.count('AWS::DynamoDB::Table')} tables)",
        table_gb * (p.DDB_STORAGE_GB_MONTH.usd + p.DDB_PITR_GB_MONTH.usd),
        "AWS::DynamoDB::Table",
    )

    # -- S3 ------------------------------------------------------------------------------------
    capture_gb = records * CAPTURE_BYTES_PER_RECORD / 1e9
    # Versioned buckets keep every model and every capture: a year of both is the steady state assumed here.
    stored_gb = profile.data_volume_gb + 12 * runs * profile.model_size_mb / 1024 + 12 * capture_gb
    add(
        "S3",
        f"{stored_gb:,.1f} GB stored (data, a year of models and of captures)",
        stored_gb * p.S3_STANDARD_GB_MONTH.usd,
        "AWS::S3::Bucket",
    )
    capture_objects = max(min(float(n), MINUTES_PER_MONTH), capture_gb * 1000 / FIREHOSE_BUFFER_MB) if n else 0.0
    monitor_runs = inventory.scheduled_invocations.get("monitor", 0.0)
    # Each monitor run reads the captures of its quality window (drift reads a subset of them).
    window_objects = capture_objects / MINUTES_PER_MONTH * config.monitor_quality_window_minutes
    gets = (
        runs * max(1, round(profile.data_volume_gb * 8))  # ~128 MB objects read to build a training set
        + monitor_runs * window_objects
        + pipeline_steps * 2  # staged inputs
        + batch_runs * profile.batch_inference_parts_per_run
    )
    puts = (
        runs * 6
        + capture_objects
        + monitor_runs
        + pipeline_steps * 2
        + batch_runs * profile.batch_inference_parts_per_run
    )
    access_log_gb = (gets + puts) * 350 / 1e9  # server access log records, about 350 bytes each
    add(
        "S3",
        f"requests: {gets:,.0f} GET, {puts:,.0f} PUT (captures, pipelines, monitor); "
        f"access logs {access_log_gb:,.2f} GB",
        gets * p.S3_GET_REQUEST.usd + puts * p.S3_PUT_REQUEST.usd + access_log_gb * p.S3_STANDARD_GB_MONTH.usd,
        "AWS::S3::Bucket",
    )
    add(
        "Firehose",
        f"captures: {records:,} predictions, at most {capture_gb:,.2f} GB (the log's gzip batches are less)",
        capture_gb * p.FIREHOSE_INGEST_GB.usd,
        "AWS::KinesisFirehose::DeliveryStream",
    )
    add("ECR", f"function images {profile.image_gb:g} GB", profile.image_gb * p.ECR_STORAGE_GB_MONTH.usd)

    # -- security and observability ----------------------------------------------------------
    kms_requests = containers * KMS_DECRYPTS_PER_CONTAINER_MONTH + usage.invocations * 4
    keys = inventory.count("AWS::KMS::Key")
    add(
        "KMS",
        f"{keys} customer-managed key(s), {kms_requests:,.0f} requests",
        keys * p.KMS_KEY_MONTH.usd + kms_requests * p.KMS_REQUEST.usd,
        "AWS::KMS::Key",
    )
    secrets = inventory.count("AWS::SecretsManager::Secret")
    cold_starts = containers * HOURS_PER_MONTH / CONTAINER_LIFETIME_HOURS
    add(
        "Secrets Manager",
        f"{secrets} secret(s), {cold_starts:,.0f} reads (one per inference cold start)",
        secrets * p.SECRET_MONTH.usd + (cold_starts if secrets else 0) * p.SECRET_API_CALL.usd,
        "AWS::SecretsManager::Secret",
    )
    other_invocations = usage.invocations  # every invocation but inference's
    log_gb = (
        n * profile.log_bytes_per_request + records * CAPTURE_BYTES_PER_RECORD + other_invocations * 2000
    ) / 1e9 + usage.transitions * 2000 / 1e9  # state machines log ALL: each state's input and output
    stored_log_gb = log_gb * config.log_retention_days / 30
    add(
        "CloudWatch",
        f"logs: {log_gb:,.2f} GB ingested (captures {capture_gb:,.2f}), {stored_log_gb:,.2f} GB kept "
        f"({config.log_retention_days} d, {inventory.count('AWS::Logs::LogGroup')} log groups)",
        log_gb * p.LOGS_INGEST_GB.usd + stored_log_gb * p.LOGS_STORAGE_GB_MONTH.usd,
        "AWS::Logs::LogGroup",
    )
    execution_log_gb = n * profile.api_execution_log_bytes_per_request / 1e9
    add(
        "CloudWatch",
        f"API execution logs (INFO): {execution_log_gb:,.2f} GB ingested; API Gateway's own log group "
        "never expires (a year kept)",
        execution_log_gb * (p.LOGS_INGEST_GB.usd + 12 * p.LOGS_STORAGE_GB_MONTH.usd),
    )
    flow_gb = job_hours * 0.0001  # a Fargate task's few flows, aggregated every 10 minutes
    add(
        "CloudWatch",
        f"VPC flow log: {flow_gb:,.4f} GB vended logs",
        flow_gb * (p.VENDED_LOGS_INGEST_GB.usd + config.log_retention_days / 30 * p.LOGS_STORAGE_GB_MONTH.usd),
        "AWS::EC2::FlowLog",
    )
    dashboards = inventory.count("AWS::CloudWatch::Dashboard")
    add(
        "CloudWatch",
        f"{inventory.alarm_metrics + inventory.high_resolution_alarm_metrics} alarm metric(s), {dashboards} "
        f"dashboard(s), {profile.custom_metrics} custom metrics",
        inventory.alarm_metrics * p.ALARM_MONTH.usd
        + inventory.high_resolution_alarm_metrics * p.HIGH_RESOLUTION_ALARM_MONTH.usd
        + dashboards * p.DASHBOARD_MONTH.usd
        + profile.custom_metrics * p.CUSTOM_METRIC_MONTH.usd,
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    )
    traces = min(n, XRAY_RESERVOIR_PER_SECOND * SECONDS_PER_MONTH + XRAY_FIXED_RATE * n) + other_invocations
    add("X-Ray", f"traces: {traces:,.0f} (default sampling; every pipeline step)", traces * p.XRAY_TRACE.usd)

    # -- events and messaging ------------------------------------------------------------------
    custom_events = 2 * runs  # the registry's alias moves and each rollout's outcome
    add(
        "EventBridge",
        f"{custom_events:,} custom events; {inventory.scheduler_invocations:,.0f} Scheduler invocations "
        f"({inventory.count('AWS::Events::Rule')} rules, {inventory.count('AWS::Scheduler::Schedule')} schedule(s))",
        custom_events * p.CUSTOM_EVENT.usd + inventory.scheduler_invocations * p.SCHEDULER_INVOCATION.usd,
        "AWS::Events::Rule",
        "AWS::Scheduler::Schedule",
    )
    queues = inventory.count("AWS::SQS::Queue")
    add(
        "SQS/SNS",
        f"{queues} dead-letter queue(s) (empty while nothing fails); {profile.alarm_notifications_per_month} "
        "alarm notifications",
        0 * p.SQS_REQUEST.usd + profile.alarm_notifications_per_month * p.SNS_PUBLISH.usd,
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
    )
    catalog = inventory.count("AWS::Glue::Database") + inventory.count("AWS::Glue::Table")
    catalog_requests = runs  # a training set's read of its views' tables
    add(
        "Glue",
        f"Data Catalog: {catalog} objects, {catalog_requests:,} requests",
        catalog * p.GLUE_CATALOG_OBJECT_MONTH.usd + catalog_requests * p.GLUE_CATALOG_REQUEST.usd,
        "AWS::Glue::Database",
        "AWS::Glue::Table",
    )

    return CostEstimate(
        stage=config.name,
        profile=profile,
        items=items,
        rest_api_usd=rest,
        http_api_usd=n * p.HTTP_API_REQUEST.usd,
        unpriced=inventory.unpriced,
    )


def with_overrides(profile: TrafficProfile, **overrides: float | int | None) -> TrafficProfile:
    """``profile`` with the given fields replaced (``None`` keeps the profile's value)."""
    return replace(profile, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


def render(estimate_: CostEstimate) -> list[str]:
    """The estimate as plain-text lines (also pasted into docs/cost.md)."""
    profile = estimate_.profile
    dates = sorted({price.as_of for price in pricing.ALL.values()})
    lines = [
        f"stage {estimate_.stage}, profile {profile.name}: {profile.requests_per_month:,} requests/month x "
        f"{profile.records_per_request} records, {profile.training_runs_per_month} training runs/month, "
        f"{profile.feature_runs_per_month} feature runs/month, {profile.data_volume_gb:g} GB data",
        f"prices: {pricing.REGION} on-demand, recorded {' and '.join(dict.fromkeys([dates[0], dates[-1]]))} "
        "(mlops/pricing.py)",
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
    if estimate_.unpriced:
        lines.append(f"NOT PRICED (the total leaves them out): {'; '.join(estimate_.unpriced)}")
    return lines
