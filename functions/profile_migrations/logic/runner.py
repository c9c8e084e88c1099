"""The local runner: the whole job in one process, segments in a thread pool.

Order of work: validate the request against the registry, read the table's key schema,
then, for a real run, begin the run's lifecycle (logic/lifecycle.py: steps checked, lock,
backup, history; or the unfinished run resumed); migrate every segment (unless
verify-only), checkpointing after every page; verify every segment (unless dry run);
finish the lifecycle. Anything wrong with the request is raised before the first write.
"""

from __future__ import annotations

import logging
import math
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from profile_migrations import environment
from profile_migrations.clock import iso_timestamp, now_timestamp
from profile_migrations.codec import decode_key
from profile_migrations.errors import RunLockedError, SegmentsUnfinishedError
from profile_migrations.logic.lifecycle import (
    NewRun,
    begin,
    caps_in_lock,
    finish,
    keep_lease,
    kept_caps,
)
from profile_migrations.logic.pacing import Caps, Pacing, caps_for, following
from profile_migrations.logic.segment import (
    MigrationJob,
    SegmentRun,
    SegmentScan,
    SegmentStop,
    migrate_segment,
)
from profile_migrations.logic.summary import (
    FINISHED_WITH_FAILURES,
    build_response,
    stopped_by_window,
    stopped_early,
    summarize,
    verification_of,
)
from profile_migrations.logic.verify import VerifyRun, deep_schema, verify_segment
from profile_migrations.models.records import Checkpoint
from profile_migrations.models.results import SegmentCounters

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from profile_migrations.loader import Registry
    from profile_migrations.logic.lifecycle import Protection
    from profile_migrations.logic.ports import (
        ControlStore,
        OutcomeSink,
        ProtectableStore,
        RunListener,
        WriteJournal,
    )
    from profile_migrations.models.requests import RunRequest
    from profile_migrations.models.results import MigrationResponse, Summary, Verification
    from profile_migrations.store import TableInfo

logger = logging.getLogger(__name__)

ITEMS_PER_LOCAL_SEGMENT = 5_000
MAX_LOCAL_SEGMENTS = 16
DEFAULT_LOCAL_WORKERS = 4
DEFAULT_LOCAL_PAGE_LIMIT = 500
MIGRATE_PHASE = "migrate"
DRY_RUN_PHASE = "dry run"
VERIFY_PHASE = "verify"

T = TypeVar("T")


@dataclass(frozen=True)
class LocalRunOptions:
    """``page_limit`` bounds a scan page below DynamoDB's 1 MB, so even a small table's
    segments fill whole pages: peak memory is then workers x one page, whatever the
    table's size, and checkpoints come every 500 profiles."""

    workers: int = DEFAULT_LOCAL_WORKERS
    page_limit: int | None = DEFAULT_LOCAL_PAGE_LIMIT


@dataclass(frozen=True)
class LocalRun:
    """One local run: what to do (``request``, ``registry``), to which table (``store``),
    where each profile's outcome goes (``sink``, read back at ``report_uri``), how
    (``options``), who watches (``listener``), and, for a real run, how the table is
    protected (``protection``; without it a run takes no lock, keeps no history and
    takes no backup, which the tests of the bare worker use). ``started_at`` fixes the
    run's clock (default: now). Setting ``stop`` (the CLI does on Ctrl-C) stops every
    segment at the end of the page in hand; the run then answers ``Interrupted`` and
    ``--resume`` continues it. ``caps`` are the run's caps (None: the default, half the
    provisioned write capacity of a provisioned table, no cap on an on-demand one);
    ``stop_at`` is the end of the run's window, in seconds since the epoch (None: no
    window): at its end every worker finishes the page in hand and the run stops,
    resumable, with ``stoppedBy: "window"``. A real run records each write in
    ``journal`` (read back at ``journal_uri``) before sending it."""

    request: RunRequest
    registry: Registry
    store: ProtectableStore
    sink: OutcomeSink
    report_uri: str | None = None
    options: LocalRunOptions = field(default_factory=LocalRunOptions)
    listener: RunListener | None = None
    started_at: str | None = None
    protection: Protection | None = None
    stop: threading.Event | None = None
    caps: Caps | None = None
    stop_at: float | None = None
    journal: WriteJournal | None = None
    journal_uri: str | None = None


@dataclass(frozen=True)
class _Layout:
    """The run as laid out: its id, clock, segments, and where each segment resumes."""

    run_id: str
    started_at: str
    total_segments: int
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)


@dataclass(frozen=True)
class _Checkpointing:
    control: ControlStore
    run_id: str

    def save(self, run: SegmentRun, base: SegmentCounters) -> None:
        self.control.save_checkpoint(self.run_id, run.checkpoint(base))


@dataclass(frozen=True)
class _Execution:
    """Everything the phases of one run share; ``lock_lost`` tells that a real run's lock
    is no longer its own."""

    run: LocalRun
    target: int
    table: TableInfo
    layout: _Layout
    pacing: Pacing
    checkpointing: _Checkpointing | None = None
    lock_lost: threading.Event | None = None

    def should_continue(self) -> bool:
        """False once the run must stop between pages: its lock lost, a stop asked, or its
        window closed."""
        lost = self.lock_lost is not None and self.lock_lost.is_set()
        stopped = self.run.stop is not None and self.run.stop.is_set()
        return not (lost or stopped or self.pacing.window_closed())


def new_local_run_id() -> str:
    return f"local-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def default_local_segments(item_count: int, workers: int) -> int:
    """About 5,000 items a segment, at least one per worker and at most 16 (or one per
    worker, if more): every worker stays busy, so throughput and peak memory depend on
    the number of workers, not on the table's size."""
    wanted = math.ceil(item_count / ITEMS_PER_LOCAL_SEGMENT)
    return max(workers, min(max(MAX_LOCAL_SEGMENTS, workers), wanted))


def run_local(run: LocalRun) -> MigrationResponse:
    """Run a whole migration (or dry run, or verification) against one table.

    Raises :class:`MigrationInputError` before any write when the request cannot run
    (including a table locked by another owner, or a changed step). A run cut short by
    persistent throttling, or by anything unexpected in a segment, returns its partial
    counts with ``success: false``, ``errorType`` and ``error`` naming what stopped it;
    ``--resume`` continues it from the segments' checkpoints.
    """
    target = run.request.target_version or run.registry.current_version
    run.registry.chain.check_target(target)
    deep_schema(run.registry.chain, target, run.request.deep_verify)
    table = run.store.describe()
    new = NewRun(
        run_id=new_local_run_id(),
        started_at=run.started_at or now_timestamp(),
        total_segments=run.request.total_segments
        or default_local_segments(table.item_count, run.options.workers),
    )
    logger.info(
        "run started",
        extra={
            "table": table.name,
            "target_version": target,
            "segments": new.total_segments,
            "dry_run": run.request.dry_run,
            "verify_only": run.request.verify_only,
        },
    )
    pacing = Pacing.of(caps_for(table, run.caps), run.stop_at, run.options.workers)
    if run.protection is None or run.request.dry_run or run.request.verify_only:
        layout = _Layout(new.run_id, new.started_at, new.total_segments)
        response = _execute(_Execution(run, target, table, layout, pacing))
    else:
        response = _guarded(
            run,
            run.protection,
            _Execution(
                run, target, table, _Layout(new.run_id, new.started_at, new.total_segments), pacing
            ),
        )
    logger.info("run finished", extra={"table": table.name, "success": response.success})
    return response


def _guarded(run: LocalRun, protection: Protection, planned: _Execution) -> MigrationResponse:
    """A real run between :func:`begin` and :func:`finish`, its lease kept and its caps
    followed meanwhile (``profile-migrate throttle`` changes them in the lock); the layout
    comes from what :func:`begin` decided (a new run, or the one it resumed)."""
    new = NewRun(planned.layout.run_id, planned.layout.started_at, planned.layout.total_segments)
    table = planned.table
    protection.control.ensure_exists()  # the history kept_caps reads is there
    kept = kept_caps(protection.control, table.name, run.caps, protection.resume)
    if kept is not None:
        planned.pacing.apply(kept)
    begun = begin(
        protection, run.store, run.registry.chain, planned.target, new, planned.pacing.caps
    )
    entry = begun.entry
    layout = _Layout(
        entry.run_id,
        entry.started_at,
        entry.total_segments,
        protection.control.checkpoints(Checkpoint, entry.run_id) if begun.resumed else {},
    )
    caps = partial(caps_in_lock, protection.control, table.name, protection.owner)
    with (
        keep_lease(protection, table.name) as lock_lost,
        following(caps, planned.pacing),
    ):
        checkpointing = _Checkpointing(protection.control, entry.run_id)
        execution = replace(
            planned, layout=layout, checkpointing=checkpointing, lock_lost=lock_lost
        )
        response = _execute(execution)
        response.backup = begun.backup
        if lock_lost.is_set():
            stopped_early(
                response,
                RunLockedError.__name__,
                "the run lost its lock (released by `unlock`?) and stopped",
            )
    finish(protection, entry, response)
    if begun.note:
        response.message = f"{begun.note} {response.message}"
    return response


def _execute(execution: _Execution) -> MigrationResponse:
    request = execution.run.request
    summary: Summary | None = None
    verification: Verification | None = None
    stops: list[SegmentStop] = []
    if not request.verify_only:
        summary, stops = _migrate_all(execution)
    if not request.dry_run and not stops:
        verification, stops = _verify_all(execution)
    response = build_response(execution.target, summary, verification)
    real = execution.checkpointing is not None
    response.run_id = execution.layout.run_id if real else None
    if response.summary is not None:
        caps = execution.pacing.caps
        response.summary.max_write_capacity = caps.write
        response.summary.max_read_capacity = caps.read
        if real and not request.dry_run:
            response.summary.journal_uri = execution.run.journal_uri
    if execution.run.stop is not None and execution.run.stop.is_set():
        stopped_early(
            response,
            environment.RUN_ERROR_INTERRUPTED,
            "stopped on request (Ctrl-C) at the end of the pages in hand; "
            "`--resume` continues the run from its checkpoints",
        )
    elif stops and execution.pacing.window_closed():
        stopped_by_window(
            response,
            f"the run's window ended at {_moment(execution.pacing.stop_at)}; every segment "
            "stopped at the end of its page in hand; `--resume` continues the run",
        )
    elif stops:
        stopped_early(response, stops[0].error_type, stops[0].message)
    if real and response.error_type and response.error_type not in FINISHED_WITH_FAILURES:
        response.resumable = True
    return response


def _moment(epoch: float | None) -> str:
    return iso_timestamp(datetime.fromtimestamp(epoch or 0, UTC))


def _each_segment(execution: _Execution, phase: str, work: Callable[[int], T]) -> list[T]:
    listener = execution.run.listener
    segments = execution.layout.total_segments
    if listener is not None:
        listener.phase_started(phase, segments, execution.table.item_count)
    workers = execution.run.options.workers
    with ThreadPoolExecutor(max_workers=max(1, min(workers, segments))) as pool:
        results = list(pool.map(work, range(segments)))
    if listener is not None:
        listener.phase_finished(phase)
    return results


def _migrate_all(execution: _Execution) -> tuple[Summary, list[SegmentStop]]:
    run, layout = execution.run, execution.layout
    job = MigrationJob(
        chain=run.registry.chain,
        target_version=execution.target,
        key_attributes=execution.table.key_attributes,
        dry_run=run.request.dry_run,
        started_at=layout.started_at,
        journal=run.journal if execution.checkpointing is not None else None,
    )
    phase = DRY_RUN_PHASE if job.dry_run else MIGRATE_PHASE
    checkpointing = execution.checkpointing

    def work(segment: int) -> SegmentRun:
        checkpoint = layout.checkpoints.get(segment)
        base = checkpoint.counters if checkpoint else SegmentCounters()
        if checkpoint is not None and checkpoint.done:
            return SegmentRun(segment=segment, counters=base.model_copy(), done=True)

        def on_page(segment_run: SegmentRun, page: SegmentCounters) -> None:
            if checkpointing is not None:
                checkpointing.save(segment_run, base)
            if run.listener is not None:
                run.listener.page_done(phase, segment, page.scanned)

        scan = SegmentScan(
            run.store,
            segment,
            layout.total_segments,
            start_key=decode_key(checkpoint.cursor) if checkpoint and checkpoint.cursor else None,
            page_limit=run.options.page_limit,
            pacing=execution.pacing,
        )
        segment_run = migrate_segment(
            scan,
            job,
            run.sink,
            should_continue=execution.should_continue,
            on_page=on_page,
        )
        segment_run.counters = segment_run.checkpoint(base).counters
        return segment_run

    runs = _each_segment(execution, phase, work)
    totals = SegmentCounters()
    for segment_run in runs:
        totals.add(segment_run.counters)
    failures = [failure.to_result() for segment_run in runs for failure in segment_run.failures]
    summary = summarize(totals, failures, run.report_uri, job.dry_run)
    stops = [segment_run.stop for segment_run in runs if segment_run.stop is not None]
    unfinished = [r.segment for r in runs if not r.done and r.stop is None]
    if unfinished:
        stops.append(_unfinished(unfinished, layout.total_segments))
    return summary, stops


def _unfinished(segments: list[int], total: int) -> SegmentStop:
    error = SegmentsUnfinishedError(segments, total, {})
    return SegmentStop(environment.RUN_ERROR_SEGMENTS_UNFINISHED, str(error), retryable=True)


def _verify_all(execution: _Execution) -> tuple[Verification, list[SegmentStop]]:
    run, layout = execution.run, execution.layout
    schema = deep_schema(run.registry.chain, execution.target, run.request.deep_verify)

    def on_page(verify_run: VerifyRun, items: int) -> None:
        if run.listener is not None:
            run.listener.page_done(VERIFY_PHASE, verify_run.segment, items)

    def work(segment: int) -> VerifyRun:
        scan = SegmentScan(
            run.store,
            segment,
            layout.total_segments,
            page_limit=run.options.page_limit,
            pacing=execution.pacing,
        )
        return verify_segment(
            scan,
            execution.target,
            execution.table.key_attributes,
            should_continue=execution.should_continue,
            on_page=on_page,
            schema=schema,
        )

    runs = _each_segment(execution, VERIFY_PHASE, work)
    verification = verification_of(
        checked=sum(verify_run.checked for verify_run in runs),
        invalid_count=sum(verify_run.invalid_count for verify_run in runs),
        invalid=[entry for verify_run in runs for entry in verify_run.invalid],
        complete=all(verify_run.done for verify_run in runs),
        consumed_read_capacity_units=sum(run.consumed_read_capacity_units for run in runs),
    )
    stops = [verify_run.stop for verify_run in runs if verify_run.stop is not None]
    unfinished = [r.segment for r in runs if not r.done and r.stop is None]
    if unfinished:
        stops.append(_unfinished(unfinished, layout.total_segments))
    return verification, stops
