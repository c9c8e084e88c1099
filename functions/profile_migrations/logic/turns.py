"""One turn of a segment in the pipeline: one Lambda invocation migrating (or verifying)
pages of one segment until the segment ends or the invocation's time runs short.

What makes a turn safe to kill and to retry:
- one turn of a segment at a time: a turn takes the segment's turn lease in the control
  table (expiring at the invocation's own deadline) or raises :class:`SegmentBusyError`,
  so a retried invocation never interleaves with one still running;
- a turn starts from the segment's checkpoint, whatever cursor its task carries: a turn
  retried after a timeout or an out-of-memory kill redoes at most the page in flight;
- after every page, the page's report and failures go to S3 under the page's number in
  its segment (so a page done twice replaces its objects), then the checkpoint moves:
  counts live in the checkpoint, atomically with the cursor, so a kill loses no count and
  counts nothing twice.

Pacing: the run's caps (WCU/s, RCU/s for the whole run) are split evenly over the turns
of the phase holding a turn lease at this moment (whatever ``maxConcurrency`` is), and
every turn reads the caps in the run's lock (``profile-migrate throttle`` changes them)
and the count of live turns again every 5 seconds. A turn whose run's window has closed
does no more pages and returns its task with ``stopped_by: "window"``, which ends the
segment's child execution.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from profile_migrations.codec import decode_key, encode_key
from profile_migrations.environment import STOPPED_BY_WINDOW
from profile_migrations.errors import (
    InvalidRequestError,
    RunLockedError,
    SegmentBusyError,
    SegmentStoppedError,
    StoreUnavailableError,
)
from profile_migrations.logic.journal import PageJournal, undos_backwards
from profile_migrations.logic.lifecycle import caps_in_lock
from profile_migrations.logic.outcomes import FAILED
from profile_migrations.logic.pacing import Caps, Pacing, PacingAbandonedError, following
from profile_migrations.logic.report import render_lines
from profile_migrations.logic.rollback import FAILED as UNDO_FAILED
from profile_migrations.logic.rollback import Undoer, undo_journal
from profile_migrations.logic.segment import (
    WRITE_BATCHES_IN_FLIGHT,
    MigrationJob,
    SegmentScan,
    migrate_segment,
    stopped,
)
from profile_migrations.logic.verify import deep_schema, verify_segment
from profile_migrations.models.pipeline import PageFailures, PageInvalid
from profile_migrations.models.records import (
    Checkpoint,
    RollbackCheckpoint,
    TurnLease,
    VerifyCheckpoint,
)
from profile_migrations.models.results import RollbackCounters, SegmentCounters

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from profile_migrations.loader import Registry
    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.logic.ports import ControlStore, ProfileStore, RunRecordStore
    from profile_migrations.logic.rollback import UndoOutcome
    from profile_migrations.logic.segment import SegmentRun, SegmentStop
    from profile_migrations.logic.verify import VerifyRun
    from profile_migrations.models.pipeline import (
        RollbackTask,
        SegmentTask,
        TurnTask,
        VerifyTask,
    )

logger = logging.getLogger(__name__)

# Longer than one turn (15 minutes at most): every turn renews it, and a dead execution's
# lock expires within this time.
PIPELINE_LEASE_SECONDS = 20 * 60
# Added to a turn's deadline for its turn lease: the Lambda clock and the control table's
# may differ by this much (seconds).
TURN_LEASE_MARGIN_SECONDS = 5.0
# How often a turn counts the run's live turns to take its share of the caps (seconds).
TURN_COUNT_SECONDS = 60.0
# A turn waiting for capacity gives its page up (done again by the next turn) when this
# little of its invocation's time remains (seconds), rather than be killed by the timeout.
ABANDON_MARGIN_SECONDS = 10.0


@dataclass(frozen=True)
class Turn:
    """The invocation running a turn: its id (the Lambda request id), its deadline in
    seconds since the epoch, and whether time remains for another page."""

    holder: str
    deadline: float
    should_continue: Callable[[], bool]


class PageSink:
    """Collects one page's outcomes between two checkpoints (the worker reports a page's
    outcomes in one call, before the page's ``on_page``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: list[ProfileOutcome] = []

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        with self._lock:
            self._outcomes.extend(outcomes)

    def take(self) -> list[ProfileOutcome]:
        with self._lock:
            taken, self._outcomes = self._outcomes, []
        return taken


@dataclass
class _TurnPacing:
    """One turn's share of its run's caps: the caps in the run's lock while this
    execution holds it (else the task's), split over the phase's live turns.

    The caps are read at every poll (one GetItem), the count of live turns at most every
    :data:`TURN_COUNT_SECONDS`: counting is a Query of every lease of the run, and at
    1,000 turns polling it every 5 s would read about 15,000 RCU/s from one partition of
    the control table, past a partition's 3,000 RCU/s ("Partitions and data
    distribution", DynamoDB developer guide)."""

    task: TurnTask
    control: ControlStore
    lease_run: str
    phase: str
    _turns: int = 1
    _counted_at: float = -math.inf

    def whole_run(self) -> Caps:
        task = self.task
        held = caps_in_lock(self.control, task.table_name, execution_owner(task.execution))
        return held or Caps(task.max_write_capacity, task.max_read_capacity)

    def share(self) -> Caps:
        now = time.monotonic()
        if now - self._counted_at >= TURN_COUNT_SECONDS:
            self._turns = self.control.active_turns(self.lease_run, self.phase)
            self._counted_at = now
        return self.whole_run().shared(self._turns)

    def pacing(self) -> Pacing:
        stop_at = self.task.stop_at
        end = datetime.fromisoformat(stop_at).timestamp() if stop_at else None
        return Pacing.of(self.share(), end)


def _abandon(turn: Turn, pacing: Pacing) -> Callable[[], bool]:
    """Give a wait for capacity up when the writes are paused and the turn must end, or
    when the invocation is about to time out."""

    def abandon() -> bool:
        if time.time() > turn.deadline - ABANDON_MARGIN_SECONDS:
            return True
        return pacing.write.rate == 0 and not turn.should_continue()

    return abandon


@contextmanager
def _segment_turn(control: ControlStore, lease: TurnLease) -> Iterator[None]:
    if not control.acquire_turn(lease):
        raise SegmentBusyError(
            f"another turn of segment {lease.segment} ({lease.phase}) still runs; "
            "retry when it ends or its lease expires"
        )
    try:
        yield
    finally:
        control.release_turn(lease)


def execution_owner(execution: str) -> str:
    """An execution as the owner of the table's lock."""
    return f"execution {execution}"


def _lease(run_id: str, phase: str, segment: int, turn: Turn) -> TurnLease:
    return TurnLease.model_validate(
        {
            "run_id": run_id,
            "phase": phase,
            "segment": segment,
            "holder": turn.holder,
            "expires_at": turn.deadline + TURN_LEASE_MARGIN_SECONDS,
        }
    )


def migrate_turn(
    task: SegmentTask,
    registry: Registry,
    store: ProfileStore,
    records: RunRecordStore,
    control: ControlStore,
    turn: Turn,
) -> tuple[SegmentTask, SegmentCounters]:
    """Migrate a segment from its checkpoint until it ends or the turn's time runs short;
    returns the next turn's task and this turn's own counts (for metrics).

    Renews the table's lock (real runs). Raises :class:`SegmentBusyError` when another
    turn holds the segment, :class:`StoreUnavailableError` when an outage stopped it
    before any page finished (the state machine retries both), and
    :class:`SegmentStoppedError` when something unexpected stopped it (recorded in the
    checkpoint's ``error``; a resumed run continues from the checkpoint).
    """
    if not task.dry_run and not control.renew_lock(
        task.table_name, execution_owner(task.execution), time.time() + PIPELINE_LEASE_SECONDS
    ):
        raise RunLockedError(
            f"execution {task.execution} no longer holds the lock of {task.table_name!r}"
        )
    run_id = task.run_id
    paced = _TurnPacing(task, control, run_id, "migrate")
    with _segment_turn(control, _lease(run_id, "migrate", task.segment, turn)):
        start = control.checkpoint(Checkpoint, run_id, task.segment) or Checkpoint(
            segment=task.segment, cursor=task.cursor, done=task.done, counters=task.counters
        )
        pacing = paced.pacing()
        if start.done or pacing.window_closed():
            return _next(task, start, pacing), SegmentCounters()
        latest = start
        job = MigrationJob(
            chain=registry.chain,
            target_version=task.target_version,
            key_attributes=tuple(task.key_attributes),
            dry_run=task.dry_run,
            started_at=task.started_at,
            batches_in_flight=WRITE_BATCHES_IN_FLIGHT,
            journal=None
            if task.dry_run
            else PageJournal(
                lambda body: records.put_journal(run_id, task.segment, latest.pages, body)
            ),
        )
        sink = PageSink()

        def on_page(run: SegmentRun, page: SegmentCounters) -> None:
            nonlocal latest
            number = latest.pages
            outcomes = sink.take()
            records.put_page_report(run_id, task.segment, number, render_lines(outcomes))
            failures = [outcome.to_result() for outcome in outcomes if outcome.status == FAILED]
            # The turn's first page may be one a killed turn half did: replace what it left.
            if failures or number == start.pages:
                records.put_page_failures(
                    run_id, PageFailures(segment=task.segment, page=number, failures=failures)
                )
            totals = latest.counters.model_copy()
            totals.add(page)
            latest = Checkpoint(
                segment=task.segment,
                cursor=encode_key(run.cursor) if run.cursor else None,
                done=run.cursor is None,
                counters=totals,
                pages=number + 1,
            )
            control.save_checkpoint(run_id, latest)

        with following(paced.share, pacing):
            run = migrate_segment(
                _scan(task, store, start, pacing),
                job,
                sink,
                _within(turn, pacing),
                on_page,
                _abandon(turn, pacing),
            )
        _settle(
            run.stop,
            run.counters.scanned,
            task.segment,
            lambda error: control.save_checkpoint(
                run_id, latest.model_copy(update={"error": error})
            ),
        )
    return _next(task, latest, pacing, paced.whole_run()), run.counters


def _within(turn: Turn, pacing: Pacing) -> Callable[[], bool]:
    """Whether the turn may start another page: time remains, and the window is open."""
    return lambda: turn.should_continue() and not pacing.window_closed()


def _scan(
    task: TurnTask,
    store: ProfileStore,
    start: Checkpoint | VerifyCheckpoint,
    pacing: Pacing | None = None,
) -> SegmentScan:
    """The segment's pages from where ``start`` left it."""
    return SegmentScan(
        store,
        task.segment,
        task.total_segments,
        start_key=decode_key(start.cursor) if start.cursor else None,
        page_limit=task.page_size,
        pacing=pacing,
    )


def _settle(
    stop: SegmentStop | None, progress: int, segment: int, record: Callable[[str], None]
) -> None:
    """End a turn the way its stop asks. An outage ends only the turn: before any progress
    it raises :class:`StoreUnavailableError` for the state machine to retry; after some,
    the next turn resumes from the checkpoint. Anything else is recorded (``record``) and
    ends the segment with :class:`SegmentStoppedError`."""
    if stop is None:
        return
    if stop.retryable:
        if progress == 0:
            raise StoreUnavailableError(stop.message)
        return
    record(str(stop))
    raise SegmentStoppedError(f"segment {segment}: {stop}")


def _next(
    task: SegmentTask, checkpoint: Checkpoint, pacing: Pacing, caps: Caps | None = None
) -> SegmentTask:
    """The next turn's task; it carries the run's caps in force (``caps``, when read)."""
    return task.model_copy(
        update={
            "invocation": task.invocation + 1,
            "cursor": checkpoint.cursor,
            "done": checkpoint.done,
            "counters": checkpoint.counters,
            **_stopped_and_caps(task, checkpoint.done, pacing, caps),
        }
    )


def _stopped_and_caps(
    task: TurnTask, done: bool, pacing: Pacing, caps: Caps | None
) -> dict[str, object]:
    update: dict[str, object] = {
        "stopped_by": STOPPED_BY_WINDOW if not done and pacing.window_closed() else None
    }
    if caps is not None:
        update |= {"max_write_capacity": caps.write, "max_read_capacity": caps.read}
    return update


def verify_turn(
    task: VerifyTask,
    store: ProfileStore,
    records: RunRecordStore,
    control: ControlStore,
    turn: Turn,
    registry: Registry | None = None,
) -> tuple[VerifyTask, float]:
    """Verify a segment from its verification checkpoint; the same turn-taking as
    :func:`migrate_turn`; returns the next turn's task and the RCU this turn consumed
    (for metrics). Renews the run's lock when it holds one (a verify-only run holds
    none). A ``deep_verify`` task validates profiles at the target against the schema
    ``registry`` declares for it (:class:`InvalidRequestError` when there is none, or
    no registry)."""
    schema = None
    if task.deep_verify:
        if registry is None:
            raise InvalidRequestError("a deep verification needs the registry's schemas")
        schema = deep_schema(registry.chain, task.target_version, deep=True)
    control.renew_lock(
        task.table_name, execution_owner(task.execution), time.time() + PIPELINE_LEASE_SECONDS
    )
    # Each execution verifies afresh: the keys below are the execution's, not the run's.
    execution = task.execution
    paced = _TurnPacing(task, control, execution, "verify")
    with _segment_turn(control, _lease(execution, "verify", task.segment, turn)):
        start = control.checkpoint(VerifyCheckpoint, execution, task.segment) or VerifyCheckpoint(
            segment=task.segment,
            cursor=task.cursor,
            done=task.done,
            checked=task.checked,
            invalid_count=task.invalid_count,
        )
        pacing = paced.pacing()
        if start.done or pacing.window_closed():
            return _next_verify(task, start, pacing), 0.0
        latest = start

        def on_page(run: VerifyRun, checked: int) -> None:
            nonlocal latest
            number = latest.pages
            invalid = run.page_invalid
            if invalid or number == start.pages:
                records.put_page_invalid(
                    execution, PageInvalid(segment=task.segment, page=number, invalid=invalid)
                )
            latest = VerifyCheckpoint(
                segment=task.segment,
                cursor=encode_key(run.cursor) if run.cursor else None,
                done=run.cursor is None,
                checked=start.checked + run.checked,
                invalid_count=start.invalid_count + run.invalid_count,
                pages=number + 1,
                consumed_read_capacity_units=(
                    start.consumed_read_capacity_units + run.consumed_read_capacity_units
                ),
            )
            control.save_checkpoint(execution, latest)

        with following(paced.share, pacing):
            run = verify_segment(
                _scan(task, store, start, pacing),
                task.target_version,
                tuple(task.key_attributes),
                _within(turn, pacing),
                on_page,
                schema,
            )
        _settle(
            run.stop,
            run.checked,
            task.segment,
            lambda error: control.save_checkpoint(
                execution, latest.model_copy(update={"error": error})
            ),
        )
    return _next_verify(task, latest, pacing, paced.whole_run()), run.consumed_read_capacity_units


def _next_verify(
    task: VerifyTask, checkpoint: VerifyCheckpoint, pacing: Pacing, caps: Caps | None = None
) -> VerifyTask:
    return task.model_copy(
        update={
            "invocation": task.invocation + 1,
            "cursor": checkpoint.cursor,
            "done": checkpoint.done,
            "checked": checkpoint.checked,
            "invalid_count": checkpoint.invalid_count,
            **_stopped_and_caps(task, checkpoint.done, pacing, caps),
        }
    )


def rollback_turn(
    task: RollbackTask,
    store: ProfileStore,
    records: RunRecordStore,
    control: ControlStore,
    turn: Turn,
) -> tuple[RollbackTask, RollbackCounters]:
    """Undo segment ``task.segment``'s journal of run ``task.rolls_back`` (logic/rollback.py),
    its newest object first, from the segment's rollback checkpoint, until the segment's
    journal is undone or the turn's time runs short; returns the next turn's task and this
    turn's own counts. After each object, its report page and failures go to S3 under the
    rollback's id and the checkpoint moves past it; an object a killed turn half undid is
    undone again (what it restored is then ``already-restored``).

    The same turn-taking and errors as :func:`migrate_turn`."""
    if not control.renew_lock(
        task.table_name, execution_owner(task.execution), time.time() + PIPELINE_LEASE_SECONDS
    ):
        raise RunLockedError(
            f"execution {task.execution} no longer holds the lock of {task.table_name!r}"
        )
    run_id = task.run_id
    paced = _TurnPacing(task, control, run_id, "rollback")
    this_turn = RollbackCounters()
    with _segment_turn(control, _lease(run_id, "rollback", task.segment, turn)):
        latest = control.checkpoint(RollbackCheckpoint, run_id, task.segment) or (
            RollbackCheckpoint(
                segment=task.segment, position=None, done=False, counters=RollbackCounters()
            )
        )
        pacing = paced.pacing()
        keys = [] if latest.done else records.journal_keys(task.rolls_back, task.segment)
        outcomes: list[UndoOutcome] = []
        pages = _JournalPages(
            task,
            records,
            Undoer(
                store,
                tuple(task.key_attributes),
                outcomes.extend,
                pacer=pacing.write,
                workers=WRITE_BATCHES_IN_FLIGHT,
                abandon=_abandon(turn, pacing),
            ),
            outcomes,
        )
        remaining = [key for key in keys if latest.position is None or key < latest.position]
        try:
            with following(paced.share, pacing):
                for key in reversed(remaining):
                    if not turn.should_continue():
                        break
                    counts = pages.undo(key, latest.pages)
                    this_turn.add(counts)
                    totals = latest.counters.model_copy()
                    totals.add(counts)
                    latest = RollbackCheckpoint(
                        segment=task.segment,
                        position=key,
                        done=False,
                        counters=totals,
                        pages=latest.pages + 1,
                    )
                    control.save_checkpoint(run_id, latest)
                else:
                    latest = latest.model_copy(update={"done": True})
                    control.save_checkpoint(run_id, latest)
        except PacingAbandonedError:
            logger.info("journal page abandoned", extra={"segment": task.segment})
        except Exception as exc:
            _settle(
                stopped(task.segment, exc),
                this_turn.total,
                task.segment,
                lambda error: control.save_checkpoint(
                    run_id, latest.model_copy(update={"error": error})
                ),
            )
    caps = paced.whole_run()
    return task.model_copy(
        update={
            "invocation": task.invocation + 1,
            "done": latest.done,
            "max_write_capacity": caps.write,
            "max_read_capacity": caps.read,
        }
    ), this_turn


@dataclass
class _JournalPages:
    """A rollback turn's way through its segment's journal objects: each undone, then
    its report page and failures recorded under the rollback's id."""

    task: RollbackTask
    records: RunRecordStore
    undoer: Undoer
    outcomes: list[UndoOutcome]

    def undo(self, key: str, page: int) -> RollbackCounters:
        """Undo one journal object; its counts."""
        self.outcomes.clear()
        lines = self.records.read_journal(key).splitlines()
        newest_first = ((index, line) for index, line in reversed(list(enumerate(lines))) if line)
        counts, _ = undo_journal(undos_backwards(newest_first), self.undoer, lambda *_: None)
        task = self.task
        self.records.put_page_report(task.run_id, task.segment, page, render_lines(self.outcomes))
        failures = [
            outcome.to_result(task.target_version)
            for outcome in self.outcomes
            if outcome.status == UNDO_FAILED
        ]
        self.records.put_page_failures(
            task.run_id, PageFailures(segment=task.segment, page=page, failures=failures)
        )
        return counts
