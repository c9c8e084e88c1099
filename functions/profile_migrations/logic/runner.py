"""The local runner: the whole job in one process, segments in a thread pool.

Order of work: validate the request against the registry, read the table's key schema,
then (for a real run, see logic/guard.py) check step checksums, take the table's lock,
back the table up and record the run; migrate every segment (unless verify-only),
checkpointing after every page; verify every segment (unless dry run); record the outcome.
Anything wrong with the request is raised before the first write.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, TypeVar

from profile_migrations import environment
from profile_migrations.clock import now_timestamp
from profile_migrations.codec import decode_key
from profile_migrations.errors import InvalidRequestError, RunLockedError
from profile_migrations.logic.guard import (
    DEFAULT_LEASE_SECONDS,
    RunGuard,
    check_steps,
    finish_entry,
    history_entry,
    local_owner,
    new_local_run_id,
    record_applied_steps,
    resumable_run,
)
from profile_migrations.logic.segment import MigrationJob, SegmentRun, SegmentStop, migrate_segment
from profile_migrations.logic.summary import (
    build_response,
    outcome_of,
    stopped_early,
    summarize,
    verification_of,
)
from profile_migrations.logic.verify import VerifyRun, verify_segment
from profile_migrations.models.results import BackupResult, SegmentCounters

if TYPE_CHECKING:
    from collections.abc import Callable

    from profile_migrations.dal.dynamodb import TableInfo
    from profile_migrations.loader import Registry
    from profile_migrations.logic.guard import ControlStore
    from profile_migrations.logic.ports import (
        DescribableStore,
        OutcomeSink,
        ProfileStore,
        ProtectableStore,
    )
    from profile_migrations.models.records import Checkpoint, RunHistoryEntry
    from profile_migrations.models.requests import RunRequest
    from profile_migrations.models.results import MigrationResponse, Summary, Verification

logger = logging.getLogger(__name__)

ITEMS_PER_LOCAL_SEGMENT = 5_000
MAX_LOCAL_SEGMENTS = 16
DEFAULT_LOCAL_WORKERS = 4
DEFAULT_LOCAL_PAGE_LIMIT = 500
MIGRATE_PHASE = "migrate"
DRY_RUN_PHASE = "dry run"
VERIFY_PHASE = "verify"

T = TypeVar("T")


class RunListener(Protocol):
    """Progress callbacks; the CLI draws bars from them. Called from worker threads."""

    def phase_started(self, phase: str, segments: int, estimated_items: int) -> None: ...

    def page_done(self, phase: str, segment: int, items: int) -> None: ...

    def phase_finished(self, phase: str) -> None: ...


@dataclass(frozen=True)
class LocalRunOptions:
    """``page_limit`` bounds a scan page below DynamoDB's 1 MB, so even a small table's
    segments fill whole pages: peak memory is then workers x one page, whatever the
    table's size, and checkpoints come every 500 profiles."""

    workers: int = DEFAULT_LOCAL_WORKERS
    page_limit: int | None = DEFAULT_LOCAL_PAGE_LIMIT


@dataclass(frozen=True)
class SafetyOptions:
    """How a real run protects the table (logic/guard.py); absent, a run takes no lock,
    keeps no history and takes no backup (tests of the bare worker use that)."""

    control: ControlStore
    where: str
    resume: bool = False
    allow_changed: bool = False
    backup: bool = True
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    owner: str = field(default_factory=local_owner)


@dataclass(frozen=True)
class _Plan:
    run_id: str
    started_at: str
    segments: int
    checkpoints: dict[int, Checkpoint]
    resumed: RunHistoryEntry | None
    note: str | None = None


def default_local_segments(item_count: int, workers: int) -> int:
    """About 5,000 items a segment, at least one per worker and at most 16 (or one per
    worker, if more): every worker stays busy, so throughput and peak memory depend on
    the number of workers, not on the table's size."""
    wanted = math.ceil(item_count / ITEMS_PER_LOCAL_SEGMENT)
    return max(workers, min(max(MAX_LOCAL_SEGMENTS, workers), wanted))


def _each_segment(
    segments: int,
    workers: int,
    work: Callable[[int], T],
    phase: str,
    listener: RunListener | None,
    estimated_items: int,
) -> list[T]:
    if listener is not None:
        listener.phase_started(phase, segments, estimated_items)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, segments))) as pool:
        results = list(pool.map(work, range(segments)))
    if listener is not None:
        listener.phase_finished(phase)
    return results


def _plan(
    request: RunRequest,
    target: int,
    table: TableInfo,
    workers: int,
    safety: SafetyOptions | None,
    started_at: str | None,
) -> _Plan:
    segments = request.total_segments or default_local_segments(table.item_count, workers)
    fresh = _Plan(new_local_run_id(), started_at or now_timestamp(), segments, {}, None)
    if safety is None or not safety.resume:
        return fresh
    safety.control.ensure_exists()
    resumed = resumable_run(safety.control, table.name)
    if resumed is None:
        return replace(fresh, note="Nothing to resume; started a new run.")
    if resumed.target_version != target:
        raise InvalidRequestError(
            f"the unfinished run {resumed.run_id} targets version {resumed.target_version}, "
            f"not {target}; resume it without --target-version, or unlock and start anew"
        )
    checkpoints = safety.control.checkpoints(resumed.run_id)
    done = sum(checkpoint.done for checkpoint in checkpoints.values())
    return _Plan(
        resumed.run_id,
        resumed.started_at,
        resumed.total_segments,
        checkpoints,
        resumed,
        note=(
            f"Resumed run {resumed.run_id}: {done} of {resumed.total_segments} segments were done."
        ),
    )


def run_local(
    request: RunRequest,
    registry: Registry,
    store: ProtectableStore | DescribableStore,
    sink: OutcomeSink,
    report_uri: str | None,
    options: LocalRunOptions | None = None,
    listener: RunListener | None = None,
    started_at: str | None = None,
    safety: SafetyOptions | None = None,
) -> MigrationResponse:
    """Run a whole migration (or dry run, or verification) against one table.

    Raises :class:`MigrationInputError` before any write when the request cannot run
    (including a table locked by another run, or a changed step). A run cut short by
    persistent throttling, or by anything unexpected in a segment, returns its partial
    counts with ``success: false`` and an ``error`` naming the exception's class and
    message; ``--resume`` continues it from the segments' checkpoints.
    """
    options = options or LocalRunOptions()
    target = request.target_version or registry.current_version
    registry.chain.check_target(target)
    table = store.describe()
    plan = _plan(
        request, target, table, options.workers, safety if _writes(request) else None, started_at
    )
    logger.info(
        "run started",
        extra={
            "table": table.name,
            "run_id": plan.run_id,
            "target_version": target,
            "segments": plan.segments,
            "dry_run": request.dry_run,
            "verify_only": request.verify_only,
        },
    )
    if safety is None or not _writes(request):
        response = _execute(
            request, registry, store, sink, report_uri, options, listener, target, table, plan, None
        )
    else:
        response = _guarded(
            request,
            registry,
            store,
            sink,
            report_uri,
            options,
            listener,
            target,
            table,
            plan,
            safety,
        )
    if plan.note:
        response.message = f"{plan.note} {response.message}"
    logger.info("run finished", extra={"table": table.name, "success": response.success})
    return response


def _writes(request: RunRequest) -> bool:
    return not request.dry_run and not request.verify_only


def _guarded(
    request: RunRequest,
    registry: Registry,
    store: ProtectableStore | DescribableStore,
    sink: OutcomeSink,
    report_uri: str | None,
    options: LocalRunOptions,
    listener: RunListener | None,
    target: int,
    table: TableInfo,
    plan: _Plan,
    safety: SafetyOptions,
) -> MigrationResponse:
    control = safety.control
    control.ensure_exists()
    checksums = check_steps(control, table.name, registry.chain, target, safety.allow_changed)
    with RunGuard(control, table.name, plan.run_id, safety.owner, safety.lease_seconds) as guard:
        if plan.resumed is not None:
            backup = BackupResult(
                skipped=f"resumed run; protected before it began: {plan.resumed.backup}"
            )
            entry = plan.resumed.model_copy(update={"outcome": "running", "ended_at": None})
        else:
            backup = _protect(store, table, plan.run_id, safety.backup)
            entry = history_entry(
                plan.run_id,
                table.name,
                safety.owner,
                safety.where,
                target,
                plan.segments,
                plan.started_at,
                checksums,
                backup,
            )
        control.record_run(entry)
        record_applied_steps(control, table.name, checksums, plan.run_id)
        response = _execute(
            request,
            registry,
            store,
            sink,
            report_uri,
            options,
            listener,
            target,
            table,
            plan,
            _Checkpointing(control, plan.run_id, lambda: not guard.lost.is_set()),
        )
        response.backup = backup
        counters = response.summary.counters() if response.summary else SegmentCounters()
        if guard.lost.is_set():
            stopped_early(
                response,
                RunLockedError.__name__,
                "the run lost its lock (released by `unlock`?) and stopped",
            )
        control.record_run(finish_entry(entry, outcome_of(response), counters))
    return response


def _protect(
    store: ProtectableStore | DescribableStore, table: TableInfo, run_id: str, wanted: bool
) -> BackupResult:
    if not wanted:
        return BackupResult(skipped="opted out (--no-backup)")
    protect = getattr(store, "protect", None)
    if protect is None:
        return BackupResult(skipped="this store cannot take backups")
    result: BackupResult = protect(f"{table.name}-before-{run_id}"[:255])
    return result


@dataclass(frozen=True)
class _Checkpointing:
    control: ControlStore
    run_id: str
    should_continue: Callable[[], bool]

    def save(self, run: SegmentRun, base: SegmentCounters) -> None:
        self.control.save_checkpoint(self.run_id, run.checkpoint(base))


def _execute(
    request: RunRequest,
    registry: Registry,
    store: DescribableStore,
    sink: OutcomeSink,
    report_uri: str | None,
    options: LocalRunOptions,
    listener: RunListener | None,
    target: int,
    table: TableInfo,
    plan: _Plan,
    checkpointing: _Checkpointing | None,
) -> MigrationResponse:
    summary: Summary | None = None
    verification: Verification | None = None
    errors: list[SegmentStop] = []
    if not request.verify_only:
        job = MigrationJob(
            chain=registry.chain,
            target_version=target,
            key_attributes=table.key_attributes,
            dry_run=request.dry_run,
            started_at=plan.started_at,
        )
        summary, errors = _migrate_all(
            job, store, sink, report_uri, plan, table, options, listener, checkpointing
        )
    if not request.dry_run and not errors:
        verification, errors = _verify_all(target, store, plan.segments, table, options, listener)
    response = build_response(target, summary, verification)
    response.run_id = plan.run_id if checkpointing is not None else None
    if errors:
        stopped_early(response, errors[0].error_type, errors[0].message)
    return response


def _migrate_all(
    job: MigrationJob,
    store: ProfileStore,
    sink: OutcomeSink,
    report_uri: str | None,
    plan: _Plan,
    table: TableInfo,
    options: LocalRunOptions,
    listener: RunListener | None,
    checkpointing: _Checkpointing | None,
) -> tuple[Summary, list[SegmentStop]]:
    phase = DRY_RUN_PHASE if job.dry_run else MIGRATE_PHASE

    def work(segment: int) -> SegmentRun:
        checkpoint = plan.checkpoints.get(segment)
        base = checkpoint.counters if checkpoint else SegmentCounters()
        if checkpoint is not None and checkpoint.done:
            return SegmentRun(segment=segment, counters=base.model_copy(), done=True)

        def on_page(run: SegmentRun, page: SegmentCounters) -> None:
            if checkpointing is not None:
                checkpointing.save(run, base)
            if listener is not None:
                listener.page_done(phase, segment, page.scanned)

        run = migrate_segment(
            store,
            job,
            sink,
            segment,
            plan.segments,
            start_key=decode_key(checkpoint.cursor) if checkpoint and checkpoint.cursor else None,
            page_limit=options.page_limit,
            should_continue=checkpointing.should_continue if checkpointing else None,
            on_page=on_page,
        )
        run.counters = run.checkpoint(base).counters
        return run

    runs = _each_segment(plan.segments, options.workers, work, phase, listener, table.item_count)
    totals = SegmentCounters()
    for run in runs:
        totals.add(run.counters)
    failures = [failure.to_result() for run in runs for failure in run.failures]
    summary = summarize(totals, failures, report_uri, job.dry_run)
    errors = [run.stop for run in runs if run.stop is not None]
    unfinished = [run.segment for run in runs if not run.done and run.stop is None]
    if unfinished:
        errors.append(
            SegmentStop(
                environment.RUN_ERROR_SEGMENTS_UNFINISHED,
                f"segments {unfinished} stopped before the end",
                retryable=True,
            )
        )
    return summary, errors


def _verify_all(
    target: int,
    store: ProfileStore,
    segments: int,
    table: TableInfo,
    options: LocalRunOptions,
    listener: RunListener | None,
) -> tuple[Verification, list[SegmentStop]]:
    def on_page(run: VerifyRun, items: int) -> None:
        if listener is not None:
            listener.page_done(VERIFY_PHASE, run.segment, items)

    def work(segment: int) -> VerifyRun:
        return verify_segment(
            store,
            target,
            table.key_attributes,
            segment,
            segments,
            page_limit=options.page_limit,
            on_page=on_page,
        )

    runs = _each_segment(segments, options.workers, work, VERIFY_PHASE, listener, table.item_count)
    verification = verification_of(
        checked=sum(run.checked for run in runs),
        invalid_count=sum(run.invalid_count for run in runs),
        invalid=[entry for run in runs for entry in run.invalid],
        complete=all(run.done for run in runs),
    )
    return verification, [run.stop for run in runs if run.stop is not None]
