"""Cost model of the Step Functions pipeline on AWS: dollars and minutes per run.

Counts come from what the end-to-end test of the synthesized state machine measures
(``tests/e2e/test_pipeline.py``, moto's interpreter running the ASL): the parent enters 6
states (Plan, ChooseMode, MigrateSegments, ChooseVerify, VerifySegments, Aggregate); each
segment's child execution enters 2 states per Lambda turn (the task and its Choice) plus 1
(its Succeed), so 1 segment = 12 states and 4 Lambda invocations, 4 segments = 30 and 10,
as the test counts. Lambda invocations are Plan + Aggregate + one per turn.

Per profile: one conditional PartiQL UPDATE (1 WRU per KB of the new item, rounded up; the
condition does not add any), an eventually consistent scan read (0.5 RRU per 4 KB) to
migrate and a strongly consistent one (1 RRU per 4 KB; the key+version projection still
reads the whole item) to verify. Per turn: an S3 PUT of the report (multipart above
8 MiB) and one of the turn's record; Aggregate lists and gets the records. The control
table (``<table>-migrations``): a checkpoint write per migrated page, a lock renewal and a
checkpoint read per turn, and a handful of lock, history and step records per run. The
backup a real run takes first (an on-demand backup unless point-in-time recovery is on) is
billed per GB-month for as long as it is kept: shown apart, not in a run's dollars.

Lambda duration per profile = the client CPU the local runner measured per profile
(migrate phase: the runner's CPU less a verify-only run's; scaled to the item size by the
framework's measured CPU at 1 KB and 4 KB) at 1024 MB's share of a vCPU, plus the waits
for DynamoDB given in :class:`Assumptions` (not measured: there is no AWS here).
Prices: :mod:`bench.prices`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.prices import PRICES, Prices
from profile_migrations.logic.pipeline import DEFAULT_MAX_CONCURRENCY, default_pipeline_segments
from profile_migrations.store import MAX_WRITES_PER_BATCH

# Mirrors infra/constants.py (not imported: it needs aws_cdk).
SEGMENT_MEMORY_MB = 1024
SEGMENT_TIMEOUT_S = 15 * 60
STOP_MARGIN_S = 60
PLAN_MEMORY_MB = 256
AGGREGATE_MEMORY_MB = 1024
READ_THREADS = 16  # Aggregate reads records 16 at a time (dal/s3.py)
# Lambda gives a function one full vCPU at 1,769 MB, in proportion below.
MB_PER_VCPU = 1_769
PARENT_STATES = 6
STATES_PER_TURN = 2
STATES_PER_CHILD = 1
SCAN_PAGE_BYTES = 1024 * 1024
MULTIPART_PART_BYTES = 8 * 1024 * 1024  # boto3's upload_fileobj threshold and part size
KB = 1024
RRU_BYTES = 4 * KB
CONTROL_WRITES_PER_RUN = 12  # lock taken and released, history entries, applied steps
CONTROL_READS_PER_RUN = 6  # lock, history and applied-step reads before the run
METRICS_PER_TABLE = 6  # scanned, migrated, failed, skipped, conflicts, throttle retries
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30.44
REPORT_RETENTION_DAYS = 90

PROFILE_COUNTS = (1_000_000, 10_000_000, 100_000_000)
ITEM_SIZES = (1 * KB, 4 * KB)
WRITE_CAPACITIES = (4_000, 40_000)  # WCU/s: a new on-demand table's start; the table quota


@dataclass(frozen=True)
class MeasuredInputs:
    """What the local benchmark measured, as the model's inputs."""

    migrate_cpu_us_per_profile: float  # runner CPU less verify-only CPU, per profile
    verify_cpu_us_per_profile: float  # verify-only CPU less the CLI's startup, per profile
    measured_item_bytes: float  # mean size of the profiles those were measured on
    framework_us_by_item_bytes: tuple[tuple[float, float], ...]  # (item bytes, us/profile)
    report_bytes_per_profile: float  # JSON Lines report bytes per profile

    def migrate_cpu_us(self, item_bytes: float) -> float:
        """Client CPU per profile at ``item_bytes``: the measured figure, scaled as the
        framework's in-memory cost grows with the item (assumed proportional: the SDK
        parses and builds the same attribute trees)."""
        scale = _interpolate(self.framework_us_by_item_bytes, item_bytes) / _interpolate(
            self.framework_us_by_item_bytes, self.measured_item_bytes
        )
        return self.migrate_cpu_us_per_profile * scale


@dataclass(frozen=True)
class Assumptions:
    """What the model assumes and nothing here measures. Change them here."""

    batch_latency_s: float = 0.015  # one BatchExecuteStatement of 25 conditional UPDATEs
    scan_page_latency_s: float = 0.060  # one 1 MB Scan page, same region
    turn_overhead_s: float = 1.5  # per turn: cold start, DescribeTable-free init, S3 PUTs
    plan_duration_s: float = 1.0
    aggregate_base_s: float = 2.0
    record_get_s: float = 0.03  # one S3 GET of a run record
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    read_capacity_per_write_capacity: float = 3.0  # on-demand starts at 12,000 RRU : 4,000 WRU
    log_bytes_per_state: int = 1_000  # state machine events, level ALL, no execution data
    log_bytes_per_invocation: int = 3_000  # START/END/REPORT, handler lines, EMF metrics
    log_bytes_per_page: int = 400  # one "page migrated" INFO line per migrated page


@dataclass(frozen=True)
class Scenario:
    profiles: int
    item_bytes: int
    write_capacity: int  # table write capacity, WCU (or on-demand WRU) per second


@dataclass
class ScenarioCost:
    scenario: Scenario
    segments: int
    concurrent: int
    migrate_turns: int
    verify_turns: int
    lambda_invocations: int
    state_transitions: int
    transitions_per_million: float
    profiles_per_second_per_lambda: float
    migrate_profiles_per_second: float
    limited_by: str
    write_request_units: float
    read_request_units: float
    lambda_gb_seconds: float
    minutes: float
    backup_dollars_per_month: float
    dollars: dict[str, float] = field(default_factory=dict)

    @property
    def write_bill(self) -> float:
        return self.dollars["dynamodb_writes"]

    @property
    def orchestration(self) -> float:
        return sum(value for name, value in self.dollars.items() if name != "dynamodb_writes")

    @property
    def orchestration_share(self) -> float:
        return self.orchestration / self.write_bill

    @property
    def total(self) -> float:
        return sum(self.dollars.values())

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document.update(
            orchestration=self.orchestration,
            orchestration_share=self.orchestration_share,
            total=self.total,
        )
        return document


def _interpolate(points: tuple[tuple[float, float], ...], x: float) -> float:
    """Piecewise-linear through ``points`` (sorted by x), extended past both ends."""
    ordered = sorted(points)
    if len(ordered) == 1:
        return ordered[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(ordered):
        if x <= x1 or (x1, y1) == ordered[-1]:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ordered[-1][1]


def _turns(segment_profiles: float, rate_per_lambda: float) -> int:
    per_turn = rate_per_lambda * (SEGMENT_TIMEOUT_S - STOP_MARGIN_S)
    return max(1, math.ceil(segment_profiles / per_turn))


def _s3_put_requests(report_bytes: float) -> int:
    if report_bytes <= MULTIPART_PART_BYTES:
        return 1
    return math.ceil(report_bytes / MULTIPART_PART_BYTES) + 2


def scenario_cost(
    scenario: Scenario,
    measured: MeasuredInputs,
    assumptions: Assumptions | None = None,
    prices: Prices = PRICES,
) -> ScenarioCost:
    """One run's counts, dollars and minutes (plan, migrate, verify, aggregate)."""
    a = assumptions or Assumptions()
    n, size = scenario.profiles, scenario.item_bytes
    vcpu = SEGMENT_MEMORY_MB / MB_PER_VCPU
    gb = SEGMENT_MEMORY_MB / 1024
    segments = default_pipeline_segments(n * size)
    concurrent = min(segments, a.max_concurrency)
    segment_profiles = n / segments
    items_per_page = max(1, SCAN_PAGE_BYTES // size)
    wru_per_profile = math.ceil(size / KB)
    rru_per_profile = size / RRU_BYTES  # scans are billed on the bytes read, summed

    # Migrate: CPU at the function's share of a vCPU, plus the waits for DynamoDB.
    migrate_s = (
        measured.migrate_cpu_us(size) / 1e6 / vcpu
        + a.batch_latency_s / MAX_WRITES_PER_BATCH
        + a.scan_page_latency_s / items_per_page
    )
    lambda_rate = 1 / migrate_s
    write_limit = scenario.write_capacity / wru_per_profile
    # maxConcurrency lowered to what the table absorbs, as the README advises, so no
    # function waits on throttled writes.
    concurrent = min(concurrent, math.ceil(write_limit / lambda_rate))
    migrate_rate = min(concurrent * lambda_rate, write_limit)
    limited_by = (
        "table write capacity"
        if write_limit < min(segments, a.max_concurrency) * lambda_rate
        else f"Lambda ({concurrent} at once)"
    )
    migrate_per_lambda = migrate_rate / concurrent
    migrate_turns = _turns(segment_profiles, migrate_per_lambda)
    migrate_seconds = n / migrate_per_lambda + segments * migrate_turns * a.turn_overhead_s

    # Verify: key+version pages, strongly consistent; bounded by the read capacity.
    verify_s = measured.verify_cpu_us_per_profile / 1e6 / vcpu + a.scan_page_latency_s / (
        items_per_page
    )
    read_limit = scenario.write_capacity * a.read_capacity_per_write_capacity / rru_per_profile
    verify_rate = min(concurrent / verify_s, read_limit)
    verify_per_lambda = verify_rate / concurrent
    verify_turns = _turns(segment_profiles, verify_per_lambda)
    verify_seconds = n / verify_per_lambda + segments * verify_turns * a.turn_overhead_s

    waves = math.ceil(segments / concurrent)
    records = segments * (migrate_turns + verify_turns)
    aggregate_s = a.aggregate_base_s + records * a.record_get_s / READ_THREADS
    wall_s = (
        a.plan_duration_s
        + waves * (segment_profiles / migrate_per_lambda + migrate_turns * a.turn_overhead_s)
        + waves * (segment_profiles / verify_per_lambda + verify_turns * a.turn_overhead_s)
        + aggregate_s
    )
    states = PARENT_STATES + segments * (
        2 * STATES_PER_CHILD + STATES_PER_TURN * (migrate_turns + verify_turns)
    )
    invocations = 2 + records
    gb_seconds = (
        (migrate_seconds + verify_seconds) * gb
        + a.plan_duration_s * PLAN_MEMORY_MB / 1024
        + aggregate_s * AGGREGATE_MEMORY_MB / 1024
    )
    write_units = n * wru_per_profile
    read_units = n * rru_per_profile * 0.5 + n * rru_per_profile
    report_bytes_per_turn = segment_profiles / migrate_turns * measured.report_bytes_per_profile
    s3_puts = segments * migrate_turns * (_s3_put_requests(report_bytes_per_turn) + 1) + (
        segments * verify_turns
    )
    s3_lists = math.ceil(segments * migrate_turns / 1000) + math.ceil(
        segments * verify_turns / 1000
    )
    report_gb = n * measured.report_bytes_per_profile / 1e9
    pages = n / items_per_page
    log_gb = (
        states * a.log_bytes_per_state
        + invocations * a.log_bytes_per_invocation
        + pages * a.log_bytes_per_page
    ) / 1e9
    hours = math.ceil(wall_s / 3600)
    control_writes = pages + segments * migrate_turns + CONTROL_WRITES_PER_RUN
    control_reads = segments * migrate_turns + CONTROL_READS_PER_RUN
    dollars = {
        "dynamodb_writes": write_units * prices.dynamodb_per_write_request_unit,
        "dynamodb_scans": read_units * prices.dynamodb_per_read_request_unit,
        "control_table": control_writes * prices.dynamodb_per_write_request_unit
        + control_reads * prices.dynamodb_per_read_request_unit,
        "step_functions": states * prices.step_functions_per_state_transition,
        "lambda": gb_seconds * prices.lambda_per_gb_second_arm64
        + invocations * prices.lambda_per_request,
        "s3": (s3_puts + s3_lists) * prices.s3_per_put_or_list_request
        + records * prices.s3_per_get_request
        + report_gb * prices.s3_per_gb_month * REPORT_RETENTION_DAYS / DAYS_PER_MONTH,
        "cloudwatch": log_gb * prices.cloudwatch_logs_per_gb_ingested
        + METRICS_PER_TABLE * hours / HOURS_PER_MONTH * prices.cloudwatch_per_custom_metric_month
        + (1 + 2 * segments) * prices.xray_per_trace_recorded,
    }
    return ScenarioCost(
        scenario=scenario,
        segments=segments,
        concurrent=concurrent,
        migrate_turns=segments * migrate_turns,
        verify_turns=segments * verify_turns,
        lambda_invocations=invocations,
        state_transitions=states,
        transitions_per_million=states * 1e6 / n,
        profiles_per_second_per_lambda=lambda_rate,
        migrate_profiles_per_second=migrate_rate,
        limited_by=limited_by,
        write_request_units=write_units,
        read_request_units=read_units,
        lambda_gb_seconds=gb_seconds,
        minutes=wall_s / 60,
        backup_dollars_per_month=n * size / 1024**3 * prices.dynamodb_backup_per_gb_month,
        dollars=dollars,
    )


def cost_table(
    measured: MeasuredInputs, assumptions: Assumptions | None = None
) -> list[ScenarioCost]:
    """Every scenario: 1 M, 10 M and 100 M profiles of 1 KB and 4 KB, at each capacity."""
    return [
        scenario_cost(Scenario(profiles, size, capacity), measured, assumptions)
        for profiles in PROFILE_COUNTS
        for size in ITEM_SIZES
        for capacity in WRITE_CAPACITIES
    ]
