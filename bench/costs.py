"""Cost model of the Step Functions pipeline on AWS: dollars and minutes per run.

Counts come from what the end-to-end test of the synthesized state machine measures
(``tests/e2e/test_pipeline.py``, moto's interpreter running the ASL): on the way of a
successful run the parent enters 9 states (Plan, ChooseMode, MigrateSegments,
ChooseVerify, VerifySegments, Aggregate, ChooseRollback, ChooseOutcome, RunSucceeded);
each segment's child execution enters 2 states per Lambda turn (the task and its Choice)
plus 1 (the Pass that ends it), so 4 segments = 33 states and 10 Lambda invocations, as
the test counts.
Lambda invocations are Plan + Aggregate + one per turn.

Per profile: one conditional PartiQL UPDATE (1 WRU per KB of the new item, rounded up; the
condition does not add any), and two eventually consistent scan reads (0.5 RRU per 4 KB,
summed over a page; the key+version projection of verification still reads the whole
item), one to migrate and one to verify. Per profile verification finds away from the
target (``Scenario.invalid_profiles``, none in a healthy run): one strongly consistent
GetItem (1 RRU per 4 KB of the item, rounded up) before it is reported. Per page (1 MB of
items), in each phase: a checkpoint written to the control table (``<table>-migrations``);
to migrate, also an S3 PUT of the page's gzip-compressed report and a "page migrated" log
line. Per turn: the turn lease taken and released, the lock renewed, the checkpoint read,
and an S3 PUT of the record of the turn's first page (failures, or what verification
found); a page where verification finds profiles away from the target adds a record.
Aggregate lists and gets the records and queries the checkpoints. Per run: a handful of
lock, history and step records, and the run's document in S3. The backup a real run takes
first (an on-demand backup unless point-in-time recovery is on) is billed per GB-month for
as long as it is kept: shown apart, not in a run's dollars.

Lambda duration per profile = the client CPU the local runner measured per profile
(migrate phase: the runner's CPU less a verify-only run's; scaled to the item size by the
framework's measured CPU at 1 KB and 4 KB) plus the CPU of compressing its report line and
of rendering and compressing its journal entry, at 1024 MB's share of a vCPU, plus the
waits for DynamoDB and S3 (the journal's PUT included) given in :class:`Assumptions` (not
measured: there is no AWS here). A page's write batches go
``WRITE_BATCHES_IN_FLIGHT`` at a time (``logic/segment.py``), each as slow as one sent
alone: a page of n profiles waits ceil(ceil(n / 25) / in flight) batch latencies. Every
other call is waited for in turn, and no call overlaps the CPU.

Report storage: the size of a page's report as ``dal/s3.py`` stores it (gzip), measured
when the model runs on synthetic pages of the scenario's profiles per page
(:func:`report_compression`), not a fixed ratio. Their keys are random UUIDv4 ``userId``
values, as CICADA's (Cognito subs), one profile per user: the sequential keys of the local
benchmark's sample profiles compress about six times better and would flatter the figure.

The write-ahead journal (``logic/journal.py``), measured the same way
(:func:`journal_sample`): every migrate page's writes (one round in a healthy run) are one
gzip-compressed JSON Lines object, stored before the first of them is sent. It costs one
more S3 PUT per page, whose latency (:class:`Assumptions`) and the CPU of rendering and
compressing the entries lengthen the turn, and storage for as long as the bucket keeps
``runs/``. The PUTs and the storage are the ``journal`` line of the dollars, apart from
orchestration; the longer turns are Lambda's, so orchestration's. Reading the journal back
costs only when a run is rolled back, which a run's dollars leave out.
Prices: :mod:`bench.prices`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.prices import PRICES, Prices
from bench.workload import BENCH_STARTED_AT, CapturingStore, NullSink, item_size, migration_job
from profile_migrations.clock import run_clock
from profile_migrations.codec import serialize_item
from profile_migrations.dal.s3 import compress_report
from profile_migrations.devtools.sample_profiles import sample_profile
from profile_migrations.logic.journal import Intent, render_journal
from profile_migrations.logic.outcomes import SUCCESS, ProfileOutcome
from profile_migrations.logic.pipeline import DEFAULT_MAX_CONCURRENCY, default_pipeline_segments
from profile_migrations.logic.report import render_lines
from profile_migrations.logic.segment import WRITE_BATCHES_IN_FLIGHT, PageMigrator
from profile_migrations.migrations import CURRENT_PROFILE_VERSION
from profile_migrations.store import MAX_WRITES_PER_BATCH

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from profile_migrations.logic.journal import Settled
    from profile_migrations.store import RawItem

# Mirrors infra/constants.py (not imported: it needs aws_cdk).
SEGMENT_MEMORY_MB = 1024
SEGMENT_TIMEOUT_S = 15 * 60
STOP_MARGIN_S = 60
PLAN_MEMORY_MB = 256
AGGREGATE_MEMORY_MB = 1024
READ_THREADS = 16  # Aggregate reads records 16 at a time (dal/s3.py)
# Lambda gives a function one full vCPU at 1,769 MB, in proportion below.
MB_PER_VCPU = 1_769
PARENT_STATES = 9
STATES_PER_TURN = 2
STATES_PER_CHILD = 1
SCAN_PAGE_BYTES = 1024 * 1024
KB = 1024
RRU_BYTES = 4 * KB
EVENTUALLY_CONSISTENT = 0.5  # of a strongly consistent read's RRU
CHECKPOINT_KINDS = 2  # a segment's migrate and verify checkpoints, which Aggregate queries
CONTROL_WRITES_PER_TURN = 3  # turn lease taken and released, lock renewed
CONTROL_READS_PER_TURN = 1  # the segment's checkpoint, where the turn starts
CONTROL_WRITES_PER_RUN = 12  # lock taken and released, history entries, applied steps
CONTROL_READS_PER_RUN = 6  # lock, history and applied-step reads before the run
S3_PUTS_PER_RUN = 1  # the run's document (output.json)
LIST_KEYS = 1_000  # keys one S3 LIST answers
METRICS_PER_TABLE = 6  # scanned, migrated, failed, skipped, conflicts, throttle retries
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30.44
# Mirrors infra/constants.py RUN_RECORDS_EXPIRATION_DAYS: the bucket deletes everything
# under runs/ (records, reports, journal) after this many days.
RUN_RECORDS_EXPIRATION_DAYS = 90
REPORT_RETENTION_DAYS = RUN_RECORDS_EXPIRATION_DAYS
JOURNAL_RETENTION_DAYS = RUN_RECORDS_EXPIRATION_DAYS
# Shorter journal retentions shown beside the bucket's (a lifecycle rule of its own for
# runs/<run id>/journal/ would give them; not in infra/).
JOURNAL_RETENTION_LEVERS = (RUN_RECORDS_EXPIRATION_DAYS, 30, 7)

PROFILE_COUNTS = (1_000_000, 10_000_000, 100_000_000)
ITEM_SIZES = (1 * KB, 4 * KB)
WRITE_CAPACITIES = (4_000, 40_000)  # WCU/s: a new on-demand table's start; the table quota
REPORT_SAMPLE_SEED = 12
REPORT_SAMPLE_FROM_VERSION = 1  # the version every sample profile is seeded at
REPORT_SAMPLE_PROFILE_ID = "profile-0"  # the sample profiles' first profileId
# Compressions timed per page; the fastest is kept, as the least disturbed by the machine.
REPORT_SAMPLE_TIMINGS = 20
JOURNAL_SAMPLE_TIMINGS = 20  # the same for a page's journal (rendered and compressed)
# What journal_sample pads profiles with: an activity log in profileData.history, one map
# per event of a game's account (a name from this list, a millisecond time in the year
# before the run, the id of what it refers to as a UUIDv4, and points).
HISTORY_EVENTS = (
    "login",
    "logout",
    "match_started",
    "match_finished",
    "level_up",
    "quest_accepted",
    "quest_completed",
    "item_purchased",
    "item_equipped",
    "item_sold",
    "achievement_unlocked",
    "friend_added",
    "guild_joined",
    "daily_reward_claimed",
    "chest_opened",
    "skill_learned",
    "pvp_won",
    "pvp_lost",
    "dungeon_cleared",
    "boss_defeated",
    "trade_completed",
    "mail_received",
    "season_tier_reached",
    "item_crafted",
)
HISTORY_FROM = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
HISTORY_SPAN_S = 365 * 24 * 3600
HISTORY_MAX_POINTS = 99_999


@dataclass(frozen=True)
class MeasuredInputs:
    """What the local benchmark measured, as the model's inputs."""

    migrate_cpu_us_per_profile: float  # runner CPU less verify-only CPU, per profile
    verify_cpu_us_per_profile: float  # verify-only CPU less the CLI's startup, per profile
    measured_item_bytes: float  # mean size of the profiles those were measured on
    framework_us_by_item_bytes: tuple[tuple[float, float], ...]  # (item bytes, us/profile)
    # JSON Lines report bytes per profile of the sample profiles' short sequential keys; the
    # model stores UUID-keyed pages' gzip size instead (report_compression)
    report_bytes_per_profile: float
    # Whether the runner's measured CPU includes journaling its writes (a local run's
    # FileJournal renders the same entries, uncompressed): then the model adds only the
    # journal's compression, not its rendering. False for runs measured before the journal
    # (2026-11-30), as the one BENCHMARKS.md quotes.
    journal_in_migrate_cpu: bool = False

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> MeasuredInputs:
        """The inputs as a results file stores them (``costs.inputs``)."""
        points = tuple((float(x), float(y)) for x, y in document["framework_us_by_item_bytes"])
        return cls(**{**document, "framework_us_by_item_bytes": points})

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

    # one BatchExecuteStatement of 25 conditional UPDATEs, as long with others in flight
    batch_latency_s: float = 0.015
    scan_page_latency_s: float = 0.060  # one 1 MB Scan page, same region
    get_item_latency_s: float = 0.005  # one strongly consistent GetItem, same region
    # one S3 PUT of a page's report: assumed for the uncompressed 30-130 KB and kept for
    # the gzip-compressed 6-25 KB, not lowered for the smaller body
    s3_put_latency_s: float = 0.030
    # a page's journal object (gzip, 400-450 KB) takes that latency plus its bytes at this
    # rate, one PUT stream from a function (S3 often gives several times as much)
    s3_put_bytes_per_s: float = 20e6
    control_write_latency_s: float = 0.005  # one checkpoint PutItem to the control table
    checkpoint_bytes: int = 1_000  # one checkpoint record: keys, cursor, counters as JSON
    # per turn: cold start, init, turn lease, lock renewal, checkpoint read, record PUT
    turn_overhead_s: float = 1.5
    plan_duration_s: float = 1.0
    aggregate_base_s: float = 2.0
    record_get_s: float = 0.03  # one S3 GET of a run record
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    read_capacity_per_write_capacity: float = 3.0  # on-demand starts at 12,000 RRU : 4,000 WRU
    log_bytes_per_state: int = 1_000  # state machine events, level ALL, no execution data
    log_bytes_per_invocation: int = 3_000  # START/END/REPORT, handler lines, EMF metrics
    # one "page migrated" line per migrated page (511 bytes in the end-to-end test's run,
    # with Powertools' keys) plus CloudWatch's 26 bytes per event; as much per page where
    # verification re-read profiles
    log_bytes_per_page: int = 540


@dataclass(frozen=True)
class ReportCompression:
    """A page's report as ``dal/s3.py`` stores it, measured on a synthetic page."""

    profiles_per_page: int
    json_lines_bytes_per_profile: float  # render_lines, as the turn hands it to S3
    gzip_bytes_per_profile: float  # the object stored: what S3 bills storage for
    ratio: float  # JSON Lines bytes / gzip bytes
    gzip_cpu_us_per_profile: float  # compressing, on one core of this machine


@functools.cache
def report_compression(profiles_per_page: int) -> ReportCompression:
    """Compress one synthetic page of ``profiles_per_page`` outcomes with the function the
    pipeline stores reports with. The page is what a healthy run's page reports: every
    profile migrated from the sample's version to the current one, each keyed by a random
    UUIDv4 ``userId`` (seeded, so the sizes are the same at every run; only the CPU time
    varies) and the sample's first ``profileId``."""
    rng = random.Random(REPORT_SAMPLE_SEED)
    outcomes = [
        ProfileOutcome(
            {
                "userId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "profileId": REPORT_SAMPLE_PROFILE_ID,
            },
            REPORT_SAMPLE_FROM_VERSION,
            CURRENT_PROFILE_VERSION,
            SUCCESS,
        )
        for _ in range(profiles_per_page)
    ]
    body = render_lines(outcomes)
    timings = []
    for _ in range(REPORT_SAMPLE_TIMINGS):
        started = time.process_time_ns()
        compressed = compress_report(body)
        timings.append(time.process_time_ns() - started)
    return ReportCompression(
        profiles_per_page=profiles_per_page,
        json_lines_bytes_per_profile=len(body) / profiles_per_page,
        gzip_bytes_per_profile=len(compressed) / profiles_per_page,
        ratio=len(body) / len(compressed),
        gzip_cpu_us_per_profile=min(timings) / 1e3 / profiles_per_page,
    )


@dataclass(frozen=True)
class JournalSample:
    """A migrate page's journal as ``dal/s3.py`` stores it, measured on a synthetic page."""

    item_bytes: int  # the scenario's item size the profiles are padded to
    profiles_per_page: int
    mean_item_bytes: float  # the padded profiles' mean size before migration (item_size)
    json_lines_bytes_per_profile: float  # render_journal, as PageJournal hands it to S3
    gzip_bytes_per_profile: float  # the object stored: what S3 bills storage for
    ratio: float  # JSON Lines bytes / gzip bytes
    cpu_us_per_profile: float  # Intent, render_journal and gzip, one core here
    gzip_cpu_us_per_profile: float  # the gzip part of it

    @property
    def object_bytes(self) -> float:
        return self.gzip_bytes_per_profile * self.profiles_per_page


class _CapturedJournal:
    """A WriteJournal that keeps the entries a page's writes are journaled with."""

    def __init__(self) -> None:
        self.entries: list[Intent] = []

    def intend(self, entries: Sequence[Intent]) -> None:
        self.entries.extend(entries)

    def settle(self, outcomes: Sequence[Settled]) -> None:
        return None


def _history_event(rng: random.Random) -> dict[str, Any]:
    at = datetime.fromtimestamp(HISTORY_FROM + rng.uniform(0, HISTORY_SPAN_S), UTC)
    return {
        "M": {
            "event": {"S": rng.choice(HISTORY_EVENTS)},
            "at": {"S": at.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
            "ref": {"S": str(uuid.UUID(int=rng.getrandbits(128), version=4))},
            "points": {"N": str(rng.randint(0, HISTORY_MAX_POINTS))},
        }
    }


def _padded_profile(raw: RawItem, item_bytes: int, rng: random.Random) -> RawItem:
    """``raw`` with ``profileData.history`` holding as many events, oldest first, as keep
    the item within ``item_bytes`` (``item_size``)."""
    events: list[dict[str, Any]] = []
    while True:
        event = _history_event(rng)
        grown = {**raw["profileData"]["M"], "history": {"L": [*events, event]}}
        if item_size({**raw, "profileData": {"M": grown}}) > item_bytes:
            break
        events.append(event)
    events.sort(key=lambda event: event["M"]["at"]["S"])
    return {**raw, "profileData": {"M": {**raw["profileData"]["M"], "history": {"L": events}}}}


def journal_page(item_bytes: int, profiles: int) -> list[RawItem]:
    """A scan page of ``profiles`` version-1 profiles of about ``item_bytes`` each: the
    shapes of ``sample_profile`` (every branch of CICADA's chain), each keyed by a random
    UUIDv4 ``userId`` and the first ``profileId``, padded with an activity log
    (:func:`_history_event`). Seeded: the same page at every run."""
    rng = random.Random(REPORT_SAMPLE_SEED)
    page = []
    for index in range(profiles):
        profile = sample_profile(index, rng)
        profile["userId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        profile["profileId"] = REPORT_SAMPLE_PROFILE_ID
        page.append(_padded_profile(serialize_item(profile), item_bytes, rng))
    return page


@functools.cache
def journal_sample(
    item_bytes: int, profiles_per_page: int, timings: int = JOURNAL_SAMPLE_TIMINGS
) -> JournalSample:
    """Migrate one synthetic page (:func:`journal_page`) with CICADA's chain through the
    segment worker, as a pipeline turn does (every write answered as applied), capture the
    entries its journal receives, and store them as ``PageJournal`` and ``dal/s3.py`` do
    (``render_journal``, then ``compress_report``). The CPU is the fastest of ``timings``
    passes over the page's writes of ``Intent``, ``render_journal`` and
    ``compress_report``: what the turn adds, before the writes are sent."""
    page = journal_page(item_bytes, profiles_per_page)
    journal = _CapturedJournal()
    store = CapturingStore()
    job = dataclasses.replace(migration_job(dry_run=False), journal=journal)
    with run_clock(BENCH_STARTED_AT):
        PageMigrator(job, store, NullSink()).migrate_page(page)
    if len(journal.entries) != profiles_per_page:
        raise RuntimeError(
            f"expected {profiles_per_page} journal entries, got {len(journal.entries)}"
        )
    body = render_journal(journal.entries)
    compressed = compress_report(body)
    versions = [entry.version for entry in journal.entries]
    totals, gzips = [], []
    for _ in range(timings):
        started = time.process_time_ns()
        rendered = render_journal(
            [Intent(write, version) for write, version in zip(store.writes, versions, strict=True)]
        )
        rendered_at = time.process_time_ns()
        compress_report(rendered)
        ended = time.process_time_ns()
        totals.append(ended - started)
        gzips.append(ended - rendered_at)
    return JournalSample(
        item_bytes=item_bytes,
        profiles_per_page=profiles_per_page,
        mean_item_bytes=sum(item_size(raw) for raw in page) / profiles_per_page,
        json_lines_bytes_per_profile=len(body) / profiles_per_page,
        gzip_bytes_per_profile=len(compressed) / profiles_per_page,
        ratio=len(body) / len(compressed),
        cpu_us_per_profile=min(totals) / 1e3 / profiles_per_page,
        gzip_cpu_us_per_profile=min(gzips) / 1e3 / profiles_per_page,
    )


# The dollars' lines outside orchestration: the migrated table's writes, and the journal.
NOT_ORCHESTRATION = frozenset({"dynamodb_writes", "journal"})


@dataclass(frozen=True)
class Scenario:
    profiles: int
    item_bytes: int
    write_capacity: int  # table write capacity, WCU (or on-demand WRU) per second
    # profiles verification finds away from the target, each re-read with a consistent
    # GetItem (0 after a healthy run; profiles an eventually consistent page shows stale are
    # re-read too, but only those migrated within about a second before their page)
    invalid_profiles: int = 0


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
    report: ReportCompression
    journal: JournalSample | None  # None: the pipeline as it was before the journal
    journal_retention_days: float
    # Lambda's seconds per migrated profile spent on the journal: its CPU at the function's
    # share of a vCPU and its share of the page's PUT
    journal_lambda_s_per_profile: float
    dollars: dict[str, float] = field(default_factory=dict)

    @property
    def write_bill(self) -> float:
        return self.dollars["dynamodb_writes"]

    @property
    def orchestration(self) -> float:
        """Everything but the migrated table's writes and the journal's line: the same
        scope as before the journal, whose longer turns are in it (Lambda)."""
        return sum(value for name, value in self.dollars.items() if name not in NOT_ORCHESTRATION)

    @property
    def orchestration_share(self) -> float:
        return self.orchestration / self.write_bill

    @property
    def journal_share(self) -> float:
        """The journal's PUTs and storage, per write-bill dollar."""
        return self.dollars.get("journal", 0.0) / self.write_bill

    @property
    def all_but_writes_share(self) -> float:
        """Orchestration and the journal together, per write-bill dollar."""
        return (self.total - self.write_bill) / self.write_bill

    @property
    def total(self) -> float:
        return sum(self.dollars.values())

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document.update(
            orchestration=self.orchestration,
            orchestration_share=self.orchestration_share,
            journal_share=self.journal_share,
            all_but_writes_share=self.all_but_writes_share,
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


def _write_wait_s(profiles_per_page: int, batch_latency_s: float) -> float:
    """How long a page's writes keep its turn waiting: its batches of 25 go
    ``WRITE_BATCHES_IN_FLIGHT`` at a time, each round as long as one batch."""
    batches = math.ceil(profiles_per_page / MAX_WRITES_PER_BATCH)
    return math.ceil(batches / WRITE_BATCHES_IN_FLIGHT) * batch_latency_s


def _journal_s(journal: JournalSample | None, measured: MeasuredInputs, a: Assumptions) -> float:
    """A migrate turn's seconds per profile for the journal: its CPU at the function's share
    of a vCPU (only the compression when the measured runner already rendered entries) and
    the profile's share of its page's PUT, waited for before the page's writes go."""
    if journal is None:
        return 0.0
    cpu_us = (
        journal.gzip_cpu_us_per_profile
        if measured.journal_in_migrate_cpu
        else journal.cpu_us_per_profile
    )
    put_s = a.s3_put_latency_s + journal.object_bytes / a.s3_put_bytes_per_s
    vcpu = SEGMENT_MEMORY_MB / MB_PER_VCPU
    return cpu_us / 1e6 / vcpu + put_s / journal.profiles_per_page


def _journal_dollars(
    journal: JournalSample | None, profiles: int, retention_days: float, prices: Prices
) -> float:
    """One PUT per migrate page (one round of writes: a healthy run has no conflicts to
    write again) and the objects' storage for ``retention_days``."""
    if journal is None:
        return 0.0
    puts = profiles / journal.profiles_per_page
    gb = profiles * journal.gzip_bytes_per_profile / 1e9
    return (
        puts * prices.s3_per_put_or_list_request
        + gb * prices.s3_per_gb_month * retention_days / DAYS_PER_MONTH
    )


def scenario_cost(
    scenario: Scenario,
    measured: MeasuredInputs,
    assumptions: Assumptions | None = None,
    prices: Prices = PRICES,
    journal_retention_days: float | None = JOURNAL_RETENTION_DAYS,
    sample_journal: Callable[[int, int], JournalSample] | None = None,
) -> ScenarioCost:
    """One run's counts, dollars and minutes (plan, migrate, verify, aggregate), its journal
    kept ``journal_retention_days`` (None: a pipeline without the journal, to compare) and
    measured by ``sample_journal`` (default :func:`journal_sample`)."""
    a = assumptions or Assumptions()
    n, size, invalid = scenario.profiles, scenario.item_bytes, scenario.invalid_profiles
    vcpu = SEGMENT_MEMORY_MB / MB_PER_VCPU
    segments = default_pipeline_segments(n * size)
    concurrent = min(segments, a.max_concurrency)
    segment_profiles = n / segments
    items_per_page = max(1, SCAN_PAGE_BYTES // size)
    pages = n / items_per_page  # in each phase: both scan the same 1 MB pages
    wru_per_profile = math.ceil(size / KB)
    # Scans are billed on the bytes read, summed over the page; a GetItem per item, rounded up.
    scan_rru_per_profile = size / RRU_BYTES * EVENTUALLY_CONSISTENT
    get_rru = math.ceil(size / RRU_BYTES)
    report = report_compression(items_per_page)
    journal = (
        None
        if journal_retention_days is None
        else (sample_journal or journal_sample)(size, items_per_page)
    )

    # Migrate: CPU (the runner's, and compressing the report) at the function's share of a
    # vCPU, plus the waits for DynamoDB and S3, plus the journal's CPU and PUT.
    migrate_s = (
        (measured.migrate_cpu_us(size) + report.gzip_cpu_us_per_profile) / 1e6 / vcpu
        + (
            _write_wait_s(items_per_page, a.batch_latency_s)
            + a.scan_page_latency_s
            + a.s3_put_latency_s
            + a.control_write_latency_s
        )
        / items_per_page
        + _journal_s(journal, measured, a)
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

    # Verify: key+version pages, a checkpoint per page, a consistent GetItem per profile
    # found away from the target; bounded by the read capacity.
    invalid_share = invalid / n
    verify_s = (
        measured.verify_cpu_us_per_profile / 1e6 / vcpu
        + (a.scan_page_latency_s + a.control_write_latency_s) / items_per_page
        + invalid_share * a.get_item_latency_s
    )
    read_limit = (
        scenario.write_capacity
        * a.read_capacity_per_write_capacity
        / (scan_rru_per_profile + invalid_share * get_rru)
    )
    verify_rate = min(concurrent / verify_s, read_limit)
    verify_per_lambda = verify_rate / concurrent
    verify_turns = _turns(segment_profiles, verify_per_lambda)
    verify_seconds = n / verify_per_lambda + segments * verify_turns * a.turn_overhead_s

    waves = math.ceil(segments / concurrent)
    turns = segments * (migrate_turns + verify_turns)
    # At most one more record per page where verification found profiles.
    invalid_pages = min(pages, invalid)
    records = turns + invalid_pages
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
    invocations = 2 + turns
    gb_seconds = (
        (migrate_seconds + verify_seconds) * SEGMENT_MEMORY_MB / 1024
        + a.plan_duration_s * PLAN_MEMORY_MB / 1024
        + aggregate_s * AGGREGATE_MEMORY_MB / 1024
    )
    write_units = n * wru_per_profile
    read_units = 2 * n * scan_rru_per_profile + invalid * get_rru
    s3_puts = pages + records + S3_PUTS_PER_RUN
    s3_lists = math.ceil(segments * migrate_turns / LIST_KEYS) + math.ceil(
        (segments * verify_turns + invalid_pages) / LIST_KEYS
    )
    report_gb = n * report.gzip_bytes_per_profile / 1e9
    log_gb = (
        states * a.log_bytes_per_state
        + invocations * a.log_bytes_per_invocation
        + (pages + invalid_pages) * a.log_bytes_per_page
    ) / 1e9
    hours = math.ceil(wall_s / 3600)
    control_writes = 2 * pages + turns * CONTROL_WRITES_PER_TURN + CONTROL_WRITES_PER_RUN
    checkpoint_query_rru = math.ceil(segments * CHECKPOINT_KINDS * a.checkpoint_bytes / RRU_BYTES)
    control_reads = turns * CONTROL_READS_PER_TURN + CONTROL_READS_PER_RUN + checkpoint_query_rru
    dollars = {
        "dynamodb_writes": write_units * prices.dynamodb_per_write_request_unit,
        # The migrated table's reads: both scans and verification's re-reads.
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
        "journal": _journal_dollars(journal, n, journal_retention_days or 0, prices),
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
        report=report,
        journal=journal,
        journal_retention_days=journal_retention_days or 0,
        journal_lambda_s_per_profile=_journal_s(journal, measured, a),
        dollars=dollars,
    )


def cost_table(
    measured: MeasuredInputs,
    assumptions: Assumptions | None = None,
    journal_retention_days: float | None = JOURNAL_RETENTION_DAYS,
    sample_journal: Callable[[int, int], JournalSample] | None = None,
) -> list[ScenarioCost]:
    """Every scenario: 1 M, 10 M and 100 M profiles of 1 KB and 4 KB, at each capacity."""
    return [
        scenario_cost(
            Scenario(profiles, size, capacity),
            measured,
            assumptions,
            journal_retention_days=journal_retention_days,
            sample_journal=sample_journal,
        )
        for profiles in PROFILE_COUNTS
        for size in ITEM_SIZES
        for capacity in WRITE_CAPACITIES
    ]


@dataclass(frozen=True)
class RetentionLever:
    """The worst scenario's shares with the journal kept ``days``."""

    days: float
    journal_share: float
    all_but_writes_share: float
    largest_journal_dollars: float  # the journal line of the costliest scenario

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def retention_levers(
    measured: MeasuredInputs,
    assumptions: Assumptions | None = None,
    days: tuple[float, ...] = JOURNAL_RETENTION_LEVERS,
    sample_journal: Callable[[int, int], JournalSample] | None = None,
) -> list[RetentionLever]:
    """What keeping the journal fewer days would give (orchestration does not change)."""
    levers = []
    for kept in days:
        table = cost_table(measured, assumptions, kept, sample_journal)
        costliest = max(table, key=lambda cost: cost.total)
        levers.append(
            RetentionLever(
                days=kept,
                journal_share=max(cost.journal_share for cost in table),
                all_but_writes_share=max(cost.all_but_writes_share for cost in table),
                largest_journal_dollars=costliest.dollars["journal"],
            )
        )
    return levers
