"""Migrating one parallel-scan segment, page by page, with conditional batch writes.

Guarantees, per profile:
- a write happens only if every attribute it sets or removes still holds the value that was
  read (and the item still exists), so a concurrent application write is never overwritten;
  on a conflict the current item is migrated again, at most ``max_conflict_retries`` times;
- a step that raises, a value DynamoDB cannot store, or a write DynamoDB rejects fails that
  profile only, and its stored item is left exactly as it was;
- an item the store answered with a value that cannot be decoded (in a scan page or a
  conflict's returned item) is re-read with a consistent GetItem and migrated from that; if
  that answer is malformed too, the profile fails with the reason;
- a profile already at the target is skipped with no write, so re-running is safe;
- a dry run computes everything, including the write it would send, and sends nothing.
Pages are processed one at a time; nothing accumulates with the table's size. Anything
unexpected stops the segment at its last finished page with the error recorded, never the
process: the run reports it and ``--resume`` continues from the checkpoint.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from profile_migrations.clock import run_clock
from profile_migrations.codec import (
    deserialize_item,
    encode_key,
    key_value_json,
    same_value,
    serialize_attribute,
)
from profile_migrations.errors import (
    KeyChangedError,
    MigrationError,
    ProfileMigrationError,
    StoreUnavailableError,
)
from profile_migrations.logic.capacity import (
    after_update,
    get_read_units,
    item_size,
    scan_read_units,
    write_units,
)
from profile_migrations.logic.journal import Intent, Settled
from profile_migrations.logic.outcomes import FAILED, SKIPPED, SUCCESS, ProfileOutcome
from profile_migrations.logic.pacing import PacingAbandonedError, paced_batches
from profile_migrations.logic.reads import read_item
from profile_migrations.models.limits import RESULTS_CAP
from profile_migrations.models.records import Checkpoint
from profile_migrations.models.results import ProfileStatus, SegmentCounters
from profile_migrations.store import (
    MAX_WRITES_PER_BATCH,
    ProfileWrite,
    RawItem,
    ScanPage,
    WriteBatchResult,
    WriteStatus,
)
from profile_migrations.versions import profile_version

if TYPE_CHECKING:
    from profile_migrations.logic.pacing import CapacityPacer, Pacing
    from profile_migrations.logic.ports import OutcomeSink, ProfileStore, WriteJournal
    from profile_migrations.registry import MigrationChain

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONFLICT_RETRIES = 3
# A pipeline turn's write batches in flight at once: a page of 500 profiles is 20
# batches, and a turn waiting on them one after another spends most of its billed
# duration waiting on DynamoDB. Each batch still waits for the pacer. The local runner
# sends one at a time per worker: its workers already overlap, and on DynamoDB Local
# (one process) four in flight per worker starved the application's own writes (2,402
# application writes during a run fell to 793, tests/integration/
# test_safety_concurrent_writers.py).
WRITE_BATCHES_IN_FLIGHT = 4
# What the first page of a segment is sized by, before any page has shown what its items
# cost: the least a write bills, and an eventually consistent read of a 1 KB item.
FIRST_WRITE_UNITS_PER_ITEM = 1.0
FIRST_READ_UNITS_PER_ITEM = 1 / 8


@dataclass(frozen=True)
class MigrationJob:
    """Everything a worker needs to migrate profiles; identical for every segment of a run."""

    chain: MigrationChain
    target_version: int
    key_attributes: tuple[str, ...]
    dry_run: bool
    started_at: str
    max_conflict_retries: int = DEFAULT_MAX_CONFLICT_RETRIES
    batches_in_flight: int = 1
    # Where a real run records each write before sending it (logic/journal.py); None for
    # dry runs and runs without undo.
    journal: WriteJournal | None = None


@dataclass(frozen=True)
class SegmentStop:
    """Why a segment stopped before its end: ``error_type`` names the exception's class,
    ``retryable`` is True for a store outage (running again later is expected to pass) and
    False for anything unexpected (a bug, or an answer nothing here anticipated)."""

    error_type: str
    message: str
    retryable: bool

    @classmethod
    def of(cls, exc: Exception) -> SegmentStop:
        return cls(type(exc).__name__, str(exc), isinstance(exc, StoreUnavailableError))

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


@dataclass
class SegmentRun:
    """How far a segment got: its counters, its first failures, and where to resume."""

    segment: int
    counters: SegmentCounters = field(default_factory=SegmentCounters)
    failures: list[ProfileOutcome] = field(default_factory=list)
    cursor: RawItem | None = None
    done: bool = False
    stop: SegmentStop | None = None

    def checkpoint(self, before: SegmentCounters) -> Checkpoint:
        """Where to resume this segment, with its totals including ``before`` (what earlier
        turns or runs counted)."""
        totals = before.model_copy()
        totals.add(self.counters)
        return Checkpoint(
            segment=self.segment,
            cursor=encode_key(self.cursor) if self.cursor else None,
            done=self.done,
            counters=totals,
        )

    def keep_failures(self, outcomes: list[ProfileOutcome]) -> None:
        room = RESULTS_CAP - len(self.failures)
        if room > 0:
            self.failures.extend(outcomes[:room])


@dataclass(slots=True)
class _Pending:
    """A write to send, the item it updates, and the outcome it gives once written."""

    write: ProfileWrite
    success: ProfileOutcome
    raw: RawItem
    _units: float | None = None

    @property
    def units(self) -> float:
        """The WCU the write is expected to cost (logic/capacity.py), computed when first
        asked: only a capped run's pacing, or an answer without the capacity it consumed,
        needs it (sizing an item walks every nested value)."""
        if self._units is None:
            raw, write = self.raw, self.write
            self._units = write_units(
                item_size(raw), item_size(after_update(raw, write.set_values, write.removed))
            )
        return self._units


class PageMigrator:
    """Migrates the items of one page and reports every outcome to the sink. With a
    ``pacer``, each batch of writes waits for its expected WCU first (logic/pacing.py);
    ``abandon`` says when to give up such a wait (the page is then left unfinished:
    :class:`PacingAbandonedError`); ``workers`` share the pacer, and a batch costs at
    most a second of one share."""

    def __init__(
        self,
        job: MigrationJob,
        store: ProfileStore,
        sink: OutcomeSink,
        pacer: CapacityPacer | None = None,
        abandon: Callable[[], bool] | None = None,
        workers: int = 1,
    ) -> None:
        self._job = job
        self._store = store
        self._sink = sink
        self._pacer = pacer
        self._abandon = abandon
        self._workers = workers

    @property
    def dry_run(self) -> bool:
        return self._job.dry_run

    def migrate_page(self, items: list[RawItem]) -> tuple[SegmentCounters, list[ProfileOutcome]]:
        counters = SegmentCounters(scanned=len(items))
        outcomes: list[ProfileOutcome] = []
        pending: list[_Read] = [_Read(raw) for raw in items]
        for attempt in range(self._job.max_conflict_retries + 1):
            writes: list[_Pending] = []
            for read in pending:
                decided = self._decide(read)
                if isinstance(decided, ProfileOutcome):
                    outcomes.append(decided)
                else:
                    writes.append(decided)
            if not writes:
                break
            if self._job.dry_run:
                outcomes.extend(write.success for write in writes)
                break
            pending = self._write(writes, outcomes, counters)
            if pending and attempt == self._job.max_conflict_retries:
                outcomes.extend(self._gave_up(read) for read in pending)
        from_versions: set[int] = set()
        for outcome in outcomes:
            if outcome.status == SUCCESS:
                counters.migrated += 1
                if outcome.from_version is not None:
                    from_versions.add(outcome.from_version)
            elif outcome.status == SKIPPED:
                counters.skipped += 1
            else:
                counters.failed += 1
        counters.from_versions = sorted(from_versions)
        self._sink.record(outcomes)
        return counters, [outcome for outcome in outcomes if outcome.status == FAILED]

    def _write(
        self, writes: list[_Pending], outcomes: list[ProfileOutcome], counters: SegmentCounters
    ) -> list[_Read]:
        """Send the writes in batches, up to the job's ``batches_in_flight`` at once, each
        batch paced; return what the store answered for those that met a concurrent change
        (to migrate again), each with the key it was written under. When a batch raises,
        the batches already sent finish first, then the error propagates."""
        batches = self._batches(writes)
        journal = self._job.journal
        # One record for the round's writes, before any is sent: a pipeline turn's journal
        # is an S3 object per round of a page, not per batch.
        if journal is not None:
            journal.intend(
                [Intent(pending.write, pending.success.from_version) for pending in writes]
            )
        in_flight = min(self._job.batches_in_flight, len(batches))
        if in_flight <= 1:
            sent = [self._send(batch) for batch in batches]
        else:
            with ThreadPoolExecutor(in_flight, thread_name_prefix="write-batch") as pool:
                sent = list(pool.map(self._send, batches))
        conflicted: list[_Read] = []
        for batch, (result, consumed) in zip(batches, sent, strict=True):
            counters.throttle_retries += result.throttle_retries
            counters.consumed_write_capacity_units += consumed
            for pending, answer in zip(batch, result.outcomes, strict=True):
                success = pending.success
                if answer.status is WriteStatus.WRITTEN:
                    outcomes.append(success)
                elif answer.status is WriteStatus.CONFLICT:
                    counters.conflicts += 1
                    conflicted.append(
                        _Read(answer.current, pending.write.key, success.from_version)
                    )
                else:
                    outcomes.append(
                        self._outcome(
                            pending.write.key, success.from_version, FAILED, answer.message
                        )
                    )
        return conflicted

    def _batches(self, writes: list[_Pending]) -> list[list[_Pending]]:
        """The writes in batches of at most :data:`MAX_WRITES_PER_BATCH`, each costing at
        most a second of this worker's share of the cap (at least one write each)."""
        budget = self._pacer.batch_budget(self._workers) if self._pacer else math.inf
        return paced_batches(writes, budget, MAX_WRITES_PER_BATCH)

    def _send(self, batch: list[_Pending]) -> tuple[WriteBatchResult, float]:
        """One batch through the pacer; the store's answer and the WCU the batch consumed:
        DynamoDB's figure when it gave one, else what AWS bills for each answer
        (logic/capacity.py). Called from several threads at once."""
        paced = self._pacer is not None and self._pacer.rate is not None
        expected = sum(pending.units for pending in batch) if paced else 0.0
        if self._pacer is not None:
            self._pacer.acquire(expected, self._abandon)
        journal = self._job.journal
        result = self._store.conditional_update([pending.write for pending in batch])
        if journal is not None:
            journal.settle(
                [
                    Settled(pending.write.key, answer.status is WriteStatus.WRITTEN)
                    for pending, answer in zip(batch, result.outcomes, strict=True)
                ]
            )
        consumed = result.consumed_write_units
        if consumed is None:
            consumed = sum(
                _billed(pending, answer.status, answer.current)
                for pending, answer in zip(batch, result.outcomes, strict=True)
            )
        if self._pacer is not None:
            self._pacer.settle(expected, consumed)
        return result, consumed

    def _decide(self, read: _Read) -> ProfileOutcome | _Pending:
        """The outcome of a profile that needs no write, or the write and its success outcome."""
        job = self._job
        readable = self._readable(read)
        if isinstance(readable, ProfileOutcome):
            return readable
        raw, profile = readable
        from_version: int | None = None
        try:
            from_version = profile_version(profile)
            if from_version == job.target_version:
                return self._outcome(raw, from_version, SKIPPED)
            migrated = job.chain.apply(profile, job.target_version)
            write = self._diff(raw, profile, migrated)
        except MigrationError as exc:
            return self._outcome(raw, from_version, FAILED, str(exc))
        return _Pending(write, self._outcome(raw, from_version, SUCCESS), raw)

    def _readable(self, read: _Read) -> ProfileOutcome | tuple[RawItem, dict[str, Any]]:
        """The item and its profile; see :func:`read_item` for when it is re-read. An item
        gone by then was deleted by the application; one still unreadable fails."""
        reading = read_item(self._store, read.raw, self._job.key_attributes, read.key)
        if reading.raw is None:
            return self._outcome(reading.key or {}, None, SKIPPED, "deleted during the run")
        if reading.profile is None:
            return self._outcome(
                reading.key or reading.raw,
                read.from_version,
                FAILED,
                f"{reading.problem}; item left as it is",
            )
        return reading.raw, reading.profile

    def _diff(self, raw: RawItem, old: dict[str, Any], new: dict[str, Any]) -> ProfileWrite:
        for name in self._job.key_attributes:
            if name not in new or not same_value(old[name], new[name]):
                raise KeyChangedError(f"a step changed or removed key attribute {name!r}")
        set_values = {
            name: serialize_attribute(name, value, old[name], raw[name])
            if name in old
            else serialize_attribute(name, value)
            for name, value in new.items()
            if name not in old or not same_value(old[name], value)
        }
        removed = tuple(name for name in old if name not in new)
        expected = {name: raw.get(name) for name in (*set_values, *removed)}
        return ProfileWrite(
            key={name: raw[name] for name in self._job.key_attributes},
            set_values=set_values,
            removed=removed,
            expected=expected,
        )

    def _gave_up(self, read: _Read) -> ProfileOutcome:
        version: int | None
        try:
            version = profile_version(deserialize_item(read.raw or {}))
        except ProfileMigrationError:
            version = read.from_version
        return self._outcome(
            read.key or read.raw or {},
            version,
            FAILED,
            f"the profile changed concurrently {self._job.max_conflict_retries + 1} times; "
            "left as it was for the next run",
        )

    def _outcome(
        self,
        raw: RawItem,
        from_version: int | None,
        status: ProfileStatus,
        error: str | None = None,
    ) -> ProfileOutcome:
        key = {name: key_value_json(raw.get(name)) for name in self._job.key_attributes}
        return ProfileOutcome(key, from_version, self._job.target_version, status, error)


def _billed(pending: _Pending, status: WriteStatus, current: RawItem | None) -> float:
    """WCU AWS bills for a write answered ``status``: the update's when written, the
    current item's size when its condition failed, nothing when refused as invalid."""
    if status is WriteStatus.WRITTEN:
        return pending.units
    if status is WriteStatus.CONFLICT:
        return write_units(item_size(current), 0)
    return 0.0


@dataclass(frozen=True, slots=True)
class _Read:
    """An item as the store answered it (None: a conflict's answer without the item) and,
    once written, the key it was written under (the key to re-read it by) and the version
    it was read at."""

    raw: RawItem | None
    key: RawItem | None = None
    from_version: int | None = None


@dataclass(frozen=True)
class SegmentScan:
    """Where a segment's pages come from: ``segment`` of ``total_segments`` parallel-scan
    segments of ``store``, from the cursor ``start_key`` (None: the segment's start), at
    most ``page_limit`` items a page (None: DynamoDB's 1 MB pages), and how fast
    (``pacing``, shared by the run's workers; None: unpaced)."""

    store: ProfileStore
    segment: int
    total_segments: int
    start_key: RawItem | None = None
    page_limit: int | None = None
    pacing: Pacing | None = None


@dataclass
class PageReader:
    """Reads a segment's pages through the read pacer, each page small enough to cost at
    most a few seconds of either cap at the units per item the last page cost (so no page
    bursts, and a stop waits for a short page); counts the RCU the pages consumed."""

    scan: SegmentScan
    consistent: bool = False
    projection: tuple[str, ...] | None = None
    last_limit: int | None = None
    read_units_per_item: float = FIRST_READ_UNITS_PER_ITEM
    write_units_per_item: float = FIRST_WRITE_UNITS_PER_ITEM
    consumed: float = 0.0

    def read(self, cursor: RawItem | None) -> ScanPage:
        """The page after ``cursor``, sized for the caps (its size is kept in
        ``last_limit``), read as this reader's ``consistent`` says."""
        scan, pacing = self.scan, self.scan.pacing
        limit = scan.page_limit
        if pacing is not None:
            limit = pacing.read.page_limit(limit, self.read_units_per_item, pacing.workers)
            limit = pacing.write.page_limit(limit, self.write_units_per_item, pacing.workers)
        self.last_limit = limit
        return self._scan(cursor, limit, self.consistent)

    def read_again_consistent(self, cursor: RawItem | None) -> ScanPage:
        """The page :meth:`read` last read from ``cursor``, read again strongly
        consistent (twice an eventually consistent read's cost)."""
        return self._scan(cursor, self.last_limit, consistent=True)

    def _scan(self, cursor: RawItem | None, limit: int | None, consistent: bool) -> ScanPage:
        scan, pacing = self.scan, self.scan.pacing
        per_item = self.read_units_per_item * (2 if consistent and not self.consistent else 1)
        expected = per_item * (limit or 0)
        if pacing is not None:
            pacing.read.acquire(expected)
        page = scan.store.scan_page(
            scan.segment,
            scan.total_segments,
            cursor,
            limit,
            self.projection,
            consistent_read=consistent,
        )
        consumed = page.consumed_read_units
        if consumed is None:
            consumed = scan_read_units(page.items, consistent)
        if pacing is not None:
            pacing.read.settle(expected, consumed)
        self.consumed += consumed
        if page.items and consistent == self.consistent:
            self.read_units_per_item = consumed / len(page.items)
        return page

    def get_item(self, key: RawItem) -> RawItem | None:
        """A strongly consistent GetItem through the read pacer, its RCU counted (what
        AWS bills for the item's size: the store's answer does not say)."""
        pacing = self.scan.pacing
        if pacing is not None:
            pacing.read.acquire(1.0)
        item = self.scan.store.get_item(key)
        consumed = get_read_units(item)
        if pacing is not None:
            pacing.read.settle(1.0, consumed)
        self.consumed += consumed
        return item

    def wrote(self, counters: SegmentCounters) -> None:
        """Learn a page's write cost per item, for the next page's size."""
        if counters.scanned:
            self.write_units_per_item = counters.consumed_write_capacity_units / counters.scanned


PageCallback = Callable[[SegmentRun, SegmentCounters], None]


def migrate_segment(
    scan: SegmentScan,
    job: MigrationJob,
    sink: OutcomeSink,
    should_continue: Callable[[], bool] | None = None,
    on_page: PageCallback | None = None,
    abandon: Callable[[], bool] | None = None,
) -> SegmentRun:
    """Migrate a segment from its start key until it ends or ``should_continue`` says stop.

    With ``scan.pacing``, reads and writes wait for the run's caps. A wait is given up
    (the page in hand left unfinished, its checkpoint unmoved, done again on resume) when
    ``abandon()`` turns true; by default, when the writes are paused (a cap of 0) and
    ``should_continue`` says stop. Profiles written before the page was given up are then
    counted as skipped when the page is done again.

    ``on_page`` sees the segment's progress and the page's own counts after each finished
    page (its cursor is then a safe checkpoint). Returns the cursor to resume from (None
    once the segment is done). Stopping between pages loses nothing: a page is finished
    before the cursor moves past it. When DynamoDB stays unavailable, or anything
    unexpected is raised, the segment stops at its last finished page with ``stop`` saying
    why; nothing is raised.
    """
    run = SegmentRun(segment=scan.segment, cursor=scan.start_key)
    pacing = scan.pacing
    migrator = PageMigrator(
        job,
        scan.store,
        sink,
        pacer=pacing.write if pacing is not None else None,
        abandon=abandon or _paused_and_stopping(pacing, should_continue),
        workers=pacing.workers if pacing is not None else 1,
    )
    with run_clock(job.started_at):
        try:
            _walk_pages(scan, migrator, run, should_continue, on_page)
        except PacingAbandonedError:
            logger.info("page abandoned", extra={"segment": scan.segment})
        # Whatever stops a segment (a bug, an answer nothing here expected) is reported with
        # the segment's progress; raised, it would take the other segments and the report down.
        except Exception as exc:
            run.stop = stopped(scan.segment, exc)
    return run


def _paused_and_stopping(
    pacing: Pacing | None, should_continue: Callable[[], bool] | None
) -> Callable[[], bool] | None:
    if pacing is None or should_continue is None:
        return None
    return lambda: pacing.write.rate == 0 and not should_continue()


def stopped(segment: int, exc: Exception) -> SegmentStop:
    """Record why a segment stopped; the traceback goes to the debug log only, so no user
    sees one, while ``--log-level DEBUG`` shows it."""
    stop = SegmentStop.of(exc)
    logger.warning(
        "segment stopped",
        extra={"segment": segment, "error_type": stop.error_type, "error": stop.message},
    )
    logger.debug("segment stopped: traceback", extra={"segment": segment}, exc_info=exc)
    return stop


def _walk_pages(
    scan: SegmentScan,
    migrator: PageMigrator,
    run: SegmentRun,
    should_continue: Callable[[], bool] | None,
    on_page: PageCallback | None,
) -> None:
    segment = run.segment
    reader = PageReader(scan)
    while True:
        read_before = reader.consumed
        page = reader.read(run.cursor)
        counters, failures = migrator.migrate_page(page.items)
        counters.consumed_read_capacity_units = reader.consumed - read_before
        reader.wrote(counters)
        run.counters.add(counters)
        run.keep_failures(failures)
        run.cursor = page.last_evaluated_key
        # Before on_page: the checkpoint of a segment's last page must say it is done, or a
        # resumed run would scan the whole segment again.
        run.done = run.cursor is None
        logger.info(
            "page migrated",
            extra={
                "segment": segment,
                "scanned": counters.scanned,
                "migrated": counters.migrated,
                "failed": counters.failed,
                "skipped": counters.skipped,
                "conflicts": counters.conflicts,
                "dry_run": migrator.dry_run,
            },
        )
        if on_page is not None:
            on_page(run, counters)
        if run.done:
            return
        if should_continue is not None and not should_continue():
            return
