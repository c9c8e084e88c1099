"""Pacing accuracy on DynamoDB Local: how closely a run holds the write cap it is given.

For each cap (50, 200 and 800 WCU/s) a real local run (lock, history, its caps followed
from the control table: what ``profile-migrate run --max-write-capacity N`` runs, with
default settings) migrates a fresh table of sample profiles, sized to last about 25 s at
the cap, through a store that notes when each batch of writes was sent and answered and
how many writes DynamoDB accepted. Every sample profile is one WCU (at most 515 bytes once
migrated, under the 1 KB a write unit covers), which each run checks against the WCU it
reports. Two figures per cap:

- **achieved / cap**: the WCU the run reports consumed, over the wall seconds of its
  migrate phase (from the runner's own phase callbacks), divided by the cap;
- **busiest 1-s window / cap**: the most WCU DynamoDB certainly accepted within any
  1-second window (the batches sent and answered in it: see :func:`busiest_window`),
  over the cap.

The pacer lets through at most ``cap x w`` plus one batch of writes (25 WCU here) in any
``w`` seconds (logic/pacing.py), so the busiest 1-s window may reach ``(cap + 25) / cap``:
1.5 at 50 WCU/s, 1.125 at 200, 1.03 at 800. That bound is printed beside each figure,
with the slowest answer DynamoDB gave a batch (seconds): the longer the answers, the less
precisely a window's writes are known.

First, an unpaced run (after an uncounted one that warms the engine's JIT up) measures
how many WCU/s DynamoDB Local gives a run on this machine. A cap above that cannot be
reached: the table is then sized to the unpaced rate and says the engine, not the pacer,
limited the run.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bench.engine import BENCH_CREDENTIALS, BENCH_REGION
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.loader import load_registry
from profile_migrations.logic.lifecycle import Protection, local_owner
from profile_migrations.logic.pacing import Caps
from profile_migrations.logic.runner import (
    DEFAULT_LOCAL_WORKERS,
    MIGRATE_PHASE,
    LocalRun,
    run_local,
)
from profile_migrations.models.requests import RunRequest
from profile_migrations.store import MAX_WRITES_PER_BATCH, WriteStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bench.engine import BenchEngine
    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.logic.ports import ProtectableStore
    from profile_migrations.models.results import BackupResult
    from profile_migrations.store import (
        ProfileWrite,
        RawItem,
        ScanPage,
        TableInfo,
        WriteBatchResult,
    )

logger = logging.getLogger(__name__)

CAPS = (50.0, 200.0, 800.0)  # WCU/s
SECONDS_AT_CAP = 25.0
SECONDS_AT_CAP_QUICK = 10.0
WARM_UP_PROFILES = 2_000
UNPACED_PROFILES = 10_000
UNPACED_PROFILES_QUICK = 4_000
WINDOW_SECONDS = 1.0
# One batch of writes, in WCU: what the pacer may let through above the cap in a window.
BATCH_UNITS = float(MAX_WRITES_PER_BATCH)


@dataclass(frozen=True, slots=True)
class AcceptedWrites:
    """One batch of writes: when it was sent and when DynamoDB answered it
    (``time.monotonic()``), and how many of its writes DynamoDB accepted, at some moment
    between the two."""

    sent: float
    answered: float
    count: int


class RecordingStore:
    """A table (logic/ports.py's ProtectableStore) that notes every batch of writes DynamoDB
    answered, with how many writes it accepted; every call goes through. Thread-safe: a
    run's workers write at once."""

    def __init__(self, table: ProtectableStore) -> None:
        self._table = table
        self.table_name = table.table_name
        self._lock = threading.Lock()
        self._accepted: list[AcceptedWrites] = []

    @property
    def accepted(self) -> list[AcceptedWrites]:
        """The batches so far, in the order DynamoDB answered them."""
        with self._lock:
            return list(self._accepted)

    def written(self) -> int:
        """Writes accepted so far."""
        return sum(batch.count for batch in self.accepted)

    def last_write_at(self) -> float | None:
        """When the last batch that wrote anything was answered; None before the first."""
        return next((batch.answered for batch in reversed(self.accepted) if batch.count), None)

    def describe(self) -> TableInfo:
        return self._table.describe()

    def protect(self, backup_name: str) -> BackupResult:
        return self._table.protect(backup_name)

    def scan_page(
        self,
        segment: int,
        total_segments: int,
        start_key: RawItem | None = None,
        limit: int | None = None,
        projection: Sequence[str] | None = None,
        consistent_read: bool = False,
    ) -> ScanPage:
        return self._table.scan_page(
            segment, total_segments, start_key, limit, projection, consistent_read
        )

    def get_item(self, key: RawItem) -> RawItem | None:
        return self._table.get_item(key)

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        sent = time.monotonic()
        result = self._table.conditional_update(writes)
        answered = time.monotonic()
        count = sum(outcome.status is WriteStatus.WRITTEN for outcome in result.outcomes)
        with self._lock:
            self._accepted.append(AcceptedWrites(sent, answered, count))
        return result


class PhaseClock:
    """A run's listener (logic/ports.py's RunListener) that times its phases, in
    ``time.monotonic()`` seconds."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    def phase_started(self, phase: str, segments: int, estimated_items: int) -> None:
        self.started[phase] = time.monotonic()

    def page_done(self, phase: str, segment: int, items: int) -> None:
        """Pages are not timed."""

    def phase_finished(self, phase: str) -> None:
        self.finished[phase] = time.monotonic()

    def seconds(self, phase: str) -> float:
        """How long ``phase`` took; KeyError when it did not both start and finish."""
        return self.finished[phase] - self.started[phase]


class _Discard:
    """An outcome sink (logic/ports.py's OutcomeSink) that keeps nothing."""

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        """Outcomes are not kept: the run's counters are the figures."""


def busiest_window(accepted: Sequence[AcceptedWrites], seconds: float = WINDOW_SECONDS) -> int:
    """The most writes DynamoDB certainly accepted within one window of ``seconds``
    (half-open, of any start): those of the batches both sent and answered in it.

    A batch's writes were accepted at some moment between its sending and its answer, so
    only a batch wholly inside a window certainly wrote in it; when answers are quick (a
    few ms on an idle machine) that is every batch answered in it. Counting by answers
    alone would put batches a slow engine answered together (an overloaded machine's
    answers take seconds) into one window however the pacer spaced them.

    A window can slide right until its start meets the first sending it holds without
    losing any batch, so the busiest window is one starting at a sending; each is tried."""
    batches = sorted(accepted, key=lambda batch: batch.sent)
    busiest = 0
    for first, opening in enumerate(batches):
        end = opening.sent + seconds
        inside = 0
        for batch in batches[first:]:
            if batch.sent >= end:
                break
            if batch.answered < end:
                inside += batch.count
        busiest = max(busiest, inside)
    return busiest


def slowest_answer(accepted: Sequence[AcceptedWrites]) -> float:
    """The longest a batch of writes waited for DynamoDB's answer, in seconds (0: none)."""
    return max((batch.answered - batch.sent for batch in accepted), default=0.0)


@dataclass(frozen=True)
class PacingSample:
    """One run: its cap (None: unpaced), table size, migrate phase's wall seconds, the WCU
    it reported consumed, the most WCU accepted in any 1-s window, and the slowest answer
    to a batch of writes (seconds)."""

    cap: float | None
    profiles: int
    migrate_s: float
    consumed_wcu: float
    busiest_window_wcu: int
    slowest_answer_s: float

    @property
    def achieved(self) -> float:
        """WCU per second over the migrate phase."""
        return self.consumed_wcu / self.migrate_s

    @property
    def ratio(self) -> float | None:
        return None if self.cap is None else self.achieved / self.cap

    @property
    def busiest_ratio(self) -> float | None:
        return None if self.cap is None else self.busiest_window_wcu / self.cap

    @property
    def bound(self) -> float | None:
        """The busiest window the pacer allows, over the cap: ``(cap + one batch) / cap``."""
        return None if self.cap is None else (self.cap + BATCH_UNITS) / self.cap

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document.update(
            achieved_wcu_per_s=self.achieved,
            achieved_over_cap=self.ratio,
            busiest_window_over_cap=self.busiest_ratio,
            busiest_window_bound=self.bound,
        )
        return document


@dataclass
class PacingResult:
    seconds_at_cap: float
    unpaced: PacingSample
    capped: list[PacingSample] = field(default_factory=list)

    def limited_by(self, sample: PacingSample) -> str:
        """``pacer`` when the engine gave an unpaced run more than the cap, else ``engine``."""
        cap = sample.cap
        return "pacer" if cap is None or self.unpaced.achieved > cap else "engine"

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds_at_cap": self.seconds_at_cap,
            "window_seconds": WINDOW_SECONDS,
            "unpaced": self.unpaced.to_json(),
            "capped": [
                {**sample.to_json(), "limited_by": self.limited_by(sample)}
                for sample in self.capped
            ],
        }


def run_paced(engine: BenchEngine, table: str, profiles: int, cap: float | None) -> PacingSample:
    """A real run of ``table`` at ``cap`` WCU/s (None: unpaced), in this process, with the
    CLI's defaults; checks every profile was migrated, one WCU each."""
    client = make_dynamodb_client(
        engine.endpoint_url,
        BENCH_REGION,
        max_connections=DEFAULT_LOCAL_WORKERS * 2,
        credentials=BENCH_CREDENTIALS,
    )
    store = RecordingStore(ProfileTable(client, table))
    clock = PhaseClock()
    response = run_local(
        LocalRun(
            request=RunRequest(),
            registry=load_registry(),
            store=store,
            sink=_Discard(),
            listener=clock,
            protection=Protection(
                control=ControlTable(client, control_table_name(table)),
                owner=local_owner(),
                where=engine.endpoint_url,
            ),
            caps=Caps(write=cap),
        )
    )
    summary = response.summary
    if not response.success or summary is None or summary.success_count != profiles:
        raise RuntimeError(f"the run at cap {cap} did not migrate every profile: {response.error}")
    if summary.consumed_write_capacity_units != store.written():
        raise RuntimeError(
            f"the run at cap {cap} consumed {summary.consumed_write_capacity_units} WCU for "
            f"{store.written()} writes: the profiles are not one WCU each"
        )
    return PacingSample(
        cap=cap,
        profiles=profiles,
        migrate_s=clock.seconds(MIGRATE_PHASE),
        consumed_wcu=summary.consumed_write_capacity_units,
        busiest_window_wcu=busiest_window(store.accepted),
        slowest_answer_s=slowest_answer(store.accepted),
    )


def _measured(engine: BenchEngine, profiles: int, cap: float | None, label: str) -> PacingSample:
    with engine.seeded_table(profiles, label, keep_profiles=False) as table:
        sample = run_paced(engine, table, profiles, cap)
    logger.info(
        "pacing: cap %s, %d profiles: %.0f WCU/s over %.1f s, busiest second %d WCU",
        "none" if cap is None else f"{cap:g}",
        profiles,
        sample.achieved,
        sample.migrate_s,
        sample.busiest_window_wcu,
    )
    return sample


def measure_pacing(engine: BenchEngine, quick: bool) -> PacingResult:
    """The unpaced rate, then one run per cap of :data:`CAPS`, each on a fresh table sized
    to last about ``SECONDS_AT_CAP`` seconds at the lower of the cap and that rate."""
    seconds = SECONDS_AT_CAP_QUICK if quick else SECONDS_AT_CAP
    logger.info("pacing: warm-up, unpaced, %d profiles (not counted)", WARM_UP_PROFILES)
    _measured(engine, WARM_UP_PROFILES, None, "pacing-warmup")
    unpaced_profiles = UNPACED_PROFILES_QUICK if quick else UNPACED_PROFILES
    result = PacingResult(seconds, _measured(engine, unpaced_profiles, None, "pacing-unpaced"))
    for cap in CAPS:
        profiles = round(min(cap, result.unpaced.achieved) * seconds)
        result.capped.append(_measured(engine, profiles, cap, f"pacing-{cap:g}"))
    return result


def render_pacing(result: PacingResult) -> str:
    unpaced = result.unpaced
    header = [
        "cap WCU/s",
        "profiles (1 WCU each)",
        "migrate phase s",
        "achieved WCU/s",
        "achieved / cap",
        "busiest 1-s window WCU",
        "busiest window / cap",
        "allowed: (cap + 25) / cap",
        "slowest answer s",
        "limited by",
    ]
    rows = [
        [
            f"{sample.cap:,.0f}",
            f"{sample.profiles:,}",
            f"{sample.migrate_s:,.1f}",
            f"{sample.achieved:,.1f}",
            f"{sample.ratio:.3f}",
            f"{sample.busiest_window_wcu:,}",
            f"{sample.busiest_ratio:.2f}",
            f"{sample.bound:.3f}",
            f"{sample.slowest_answer_s:.2f}",
            result.limited_by(sample),
        ]
        for sample in result.capped
    ]
    rows.append(
        [
            "none (unpaced)",
            f"{unpaced.profiles:,}",
            f"{unpaced.migrate_s:,.1f}",
            f"{unpaced.achieved:,.1f}",
            "",
            f"{unpaced.busiest_window_wcu:,}",
            "",
            "",
            f"{unpaced.slowest_answer_s:.2f}",
            "engine",
        ]
    )
    lines = [_row(header), _row(["---"] * len(header)), *(_row(row) for row in rows)]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
