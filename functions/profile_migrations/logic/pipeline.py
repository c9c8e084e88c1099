"""The Step Functions pipeline's steps: plan, migrate a segment's pages, verify, aggregate.

Each function here is one state's logic; handlers only parse, inject and return. They use
the same segment worker, verification and summary as the local runner, so one table and
one request give one answer whichever way it runs.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from profile_migrations.clock import iso_timestamp, now_timestamp
from profile_migrations.codec import decode_key, encode_key
from profile_migrations.errors import (
    InvalidRequestError,
    MigrationInputError,
    RequestRefusedError,
    RunLockedError,
    SegmentStoppedError,
    StoreUnavailableError,
)
from profile_migrations.logic.guard import (
    check_steps,
    finish_entry,
    history_entry,
    record_applied_steps,
    resumable_run,
)
from profile_migrations.logic.report import JsonLinesWriter
from profile_migrations.logic.segment import MigrationJob, SegmentRun, SegmentStop, migrate_segment
from profile_migrations.logic.summary import (
    build_response,
    first_by_key,
    fit_within,
    summarize,
    verification_of,
)
from profile_migrations.logic.verify import verify_segment
from profile_migrations.models import (
    MAX_PIPELINE_SEGMENTS,
    BackupResult,
    LockInfo,
    MigrateRecord,
    PipelineRequest,
    RunPlan,
    SegmentCounters,
    SegmentTask,
    VerifyRecord,
    VerifyTask,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from profile_migrations.dal.dynamodb import TableInfo
    from profile_migrations.dal.s3 import RunRecords
    from profile_migrations.logic.guard import ControlStore
    from profile_migrations.logic.ports import ProfileStore, ProtectableStore
    from profile_migrations.models import (
        InvalidProfile,
        MigrationResponse,
        PlanEvent,
        ProfileResult,
        RunOutcome,
        Summary,
        Verification,
    )
    from profile_migrations.registry import Registry

logger = logging.getLogger(__name__)

BYTES_PER_SEGMENT = 256 * 1024 * 1024
DEFAULT_MAX_CONCURRENCY = 20
MAX_OUTPUT_BYTES = 200 * 1024
REPORT_SPOOL_BYTES = 8 * 1024 * 1024
MAX_REASON_CHARS = 500
# Longer than one turn (15 minutes at most): every turn renews it, and a dead execution's
# lock expires within this time.
PIPELINE_LEASE_SECONDS = 20 * 60


def default_pipeline_segments(size_bytes: int) -> int:
    """One segment per 256 MiB of table: a 1 KB-item segment then holds about 260,000
    profiles, a few minutes of one Lambda's work, so a small table costs a handful of
    state transitions and a 100 GB one fans out to 400 segments."""
    return max(1, min(MAX_PIPELINE_SEGMENTS, math.ceil(size_bytes / BYTES_PER_SEGMENT)))


def plan_run(
    event: PlanEvent,
    registry: Registry,
    store: ProtectableStore,
    control: ControlStore,
    max_concurrency_limit: int,
) -> RunPlan:
    """Validate the execution input and lay out the segments; for a real run, also check
    step checksums, take the table's lock, protect the table and record the run.

    Every refusal raises :class:`RequestRefusedError` (naming the reason), before any
    profile is written.
    """
    try:
        request = PipelineRequest.model_validate(event.request)
        target = request.target_version or registry.current_version
        registry.chain.check_target(target)
        segments = request.total_segments
        if segments is not None and segments > MAX_PIPELINE_SEGMENTS:
            raise InvalidRequestError(
                f"totalSegments {segments} is above the pipeline's limit of {MAX_PIPELINE_SEGMENTS}"
            )
        concurrency = request.max_concurrency or min(DEFAULT_MAX_CONCURRENCY, max_concurrency_limit)
        if concurrency > max_concurrency_limit:
            raise InvalidRequestError(
                f"maxConcurrency {concurrency} is above {max_concurrency_limit}, the number of "
                "migrate functions that may run at once (their reserved concurrency)"
            )
        started_at = iso_timestamp(datetime.fromisoformat(event.started_at))
        table = store.describe()
        plan = _lay_out(event.run_id, request, target, table, segments, concurrency, started_at)
        if not request.dry_run and not request.verify_only:
            plan = _guard(plan, request, registry, store, control)
    except ValidationError as exc:
        raise RequestRefusedError(f"invalid input: {exc}") from exc
    except (MigrationInputError, ValueError) as exc:
        raise RequestRefusedError(f"{type(exc).__name__}: {exc}") from exc
    logger.info(
        "run planned",
        extra={"run_id": plan.run_id, "segments": plan.total_segments, "target_version": target},
    )
    return plan


def _lay_out(
    run_id: str,
    request: PipelineRequest,
    target: int,
    table: TableInfo,
    segments: int | None,
    concurrency: int,
    started_at: str,
) -> RunPlan:
    total = segments or default_pipeline_segments(table.size_bytes)
    return RunPlan(
        run_id=run_id,
        checkpoint_run_id=run_id,
        table_name=table.name,
        target_version=target,
        dry_run=request.dry_run,
        verify_only=request.verify_only,
        started_at=started_at,
        total_segments=total,
        segments=_shuffled(total, run_id),
        max_concurrency=concurrency,
        page_size=request.page_size,
        key_attributes=list(table.key_attributes),
    )


def _guard(
    plan: RunPlan,
    request: PipelineRequest,
    registry: Registry,
    store: ProtectableStore,
    control: ControlStore,
) -> RunPlan:
    """What logic/guard.py does for a local run, for an execution: lock, checksums,
    backup, history; or, with ``resume``, continue the table's unfinished run."""
    checksums = check_steps(
        control, plan.table_name, registry.chain, plan.target_version, request.allow_changed
    )
    resumed = resumable_run(control, plan.table_name) if request.resume else None
    if resumed is not None and resumed.target_version != plan.target_version:
        raise InvalidRequestError(
            f"the unfinished run {resumed.run_id} targets version {resumed.target_version}, "
            f"not {plan.target_version}"
        )
    control.acquire_lock(
        LockInfo(
            table=plan.table_name,
            run_id=plan.run_id,
            owner=f"execution {plan.run_id}",
            acquired_at=now_timestamp(),
            expires_at=time.time() + PIPELINE_LEASE_SECONDS,
        )
    )
    if resumed is not None:
        plan = plan.model_copy(
            update={
                "checkpoint_run_id": resumed.run_id,
                "started_at": resumed.started_at,
                "total_segments": resumed.total_segments,
                "segments": _shuffled(resumed.total_segments, resumed.run_id),
                "backup": BackupResult(
                    skipped=f"resumed run; protected before it began: {resumed.backup}"
                ),
                "note": f"Resumed run {resumed.run_id}.",
            }
        )
        control.record_run(resumed.model_copy(update={"outcome": "resumed"}))
    elif request.resume:
        plan = plan.model_copy(update={"note": "Nothing to resume; started a new run."})
    if resumed is None:
        backup = (
            store.protect(f"{plan.table_name}-before-{plan.run_id}"[:255])
            if request.backup
            else BackupResult(skipped='opted out ("backup": false)')
        )
        plan = plan.model_copy(update={"backup": backup})
    entry = history_entry(
        plan.run_id,
        plan.table_name,
        f"execution {plan.run_id}",
        "aws:step-functions",
        plan.target_version,
        plan.total_segments,
        plan.started_at,
        checksums,
        plan.backup,
    )
    control.record_run(entry)
    record_applied_steps(control, plan.table_name, checksums, plan.run_id)
    return plan


def _shuffled(total: int, seed: str) -> list[int]:
    """Segments in random order, as AWS's bulk-update reference does, so concurrent
    segments spread over partitions; seeded, so a redriven execution gets the same plan."""
    order = list(range(total))
    random.Random(seed).shuffle(order)  # noqa: S311 - load spreading, not secrecy
    return order


def migrate_pages(
    task: SegmentTask,
    registry: Registry,
    store: ProfileStore,
    records: RunRecords,
    control: ControlStore,
    should_continue: Callable[[], bool],
) -> tuple[SegmentTask, MigrateRecord]:
    """Migrate a segment from the task's cursor until it ends or time runs short.

    A segment's first turn starts from the run's checkpoint when one exists (a resumed
    run); every page then moves the checkpoint. Stores this turn's report and record,
    renews the table's lock, and returns the next turn's task. A DynamoDB outage before
    any page finished raises :class:`StoreUnavailableError` so the state machine retries
    the turn with backoff; after some progress, the turn ends early and the next resumes.
    """
    if not task.dry_run and not control.renew_lock(
        task.table_name, task.run_id, time.time() + PIPELINE_LEASE_SECONDS
    ):
        raise RunLockedError(f"run {task.run_id} no longer holds the lock of {task.table_name!r}")
    task, base = _from_checkpoint(task, control)
    job = MigrationJob(
        chain=registry.chain,
        target_version=task.target_version,
        key_attributes=tuple(task.key_attributes),
        dry_run=task.dry_run,
        started_at=task.started_at,
    )

    def checkpoint(run: SegmentRun, page: SegmentCounters) -> None:
        if not task.dry_run:
            control.save_checkpoint(task.checkpoint_run_id, run.checkpoint(task.counters))

    with tempfile.SpooledTemporaryFile(max_size=REPORT_SPOOL_BYTES) as spool:
        if task.done:
            run = SegmentRun(segment=task.segment, done=True)
        else:
            run = migrate_segment(
                store,
                job,
                JsonLinesWriter(spool),
                task.segment,
                task.total_segments,
                start_key=decode_key(task.cursor) if task.cursor else None,
                page_limit=task.page_size,
                should_continue=should_continue,
                on_page=checkpoint,
            )
        if run.stop is not None and run.stop.retryable and run.counters.scanned == 0:
            raise StoreUnavailableError(run.stop.message)
        spool.seek(0)
        records.put_report(task.run_id, task.segment, task.invocation, spool)
    this_turn = base.model_copy()
    this_turn.add(run.counters)
    record = MigrateRecord(
        segment=task.segment,
        invocation=task.invocation,
        done=run.done,
        counters=this_turn,
        failures=[failure.to_result() for failure in run.failures],
        error=_unexpected(run.stop),
    )
    records.put_migrate_record(task.run_id, record)
    if record.error is not None:
        raise SegmentStoppedError(f"segment {task.segment}: {record.error}")
    totals = task.counters.model_copy()
    totals.add(run.counters)
    next_task = task.model_copy(
        update={
            "invocation": task.invocation + 1,
            "cursor": encode_key(run.cursor) if run.cursor else None,
            "done": run.done,
            "counters": totals,
        }
    )
    return next_task, record


def _unexpected(stop: SegmentStop | None) -> str | None:
    """A stop the next turn would meet again (not a store outage), as ``Type: message``."""
    return None if stop is None or stop.retryable else str(stop)


def _from_checkpoint(
    task: SegmentTask, control: ControlStore
) -> tuple[SegmentTask, SegmentCounters]:
    """A resumed run's segment starts where its checkpoint says; the checkpoint's counters
    are this turn's base, so the run's totals cover the whole run."""
    if task.invocation > 0 or task.dry_run:
        return task, SegmentCounters()
    checkpoint = control.checkpoint(task.checkpoint_run_id, task.segment)
    if checkpoint is None:
        return task, SegmentCounters()
    resumed = task.model_copy(
        update={
            "cursor": checkpoint.cursor,
            "done": checkpoint.done,
            "counters": checkpoint.counters,
        }
    )
    return resumed, checkpoint.counters


def verify_pages(
    task: VerifyTask,
    store: ProfileStore,
    records: RunRecords,
    control: ControlStore,
    should_continue: Callable[[], bool],
) -> VerifyTask:
    """Verify a segment from the task's cursor; same turn-taking as :func:`migrate_pages`.

    Renews the run's lock when it holds one (a verify-only run holds none)."""
    control.renew_lock(task.table_name, task.run_id, time.time() + PIPELINE_LEASE_SECONDS)
    run = verify_segment(
        store,
        task.target_version,
        tuple(task.key_attributes),
        task.segment,
        task.total_segments,
        start_key=decode_key(task.cursor) if task.cursor else None,
        page_limit=task.page_size,
        should_continue=should_continue,
    )
    if run.stop is not None and run.stop.retryable and run.checked == 0:
        raise StoreUnavailableError(run.stop.message)
    error = _unexpected(run.stop)
    records.put_verify_record(
        task.run_id,
        VerifyRecord(
            segment=task.segment,
            invocation=task.invocation,
            done=run.done,
            checked=run.checked,
            invalid_count=run.invalid_count,
            invalid=run.invalid,
            error=error,
        ),
    )
    if error is not None:
        raise SegmentStoppedError(f"segment {task.segment}: {error}")
    return task.model_copy(
        update={
            "invocation": task.invocation + 1,
            "cursor": encode_key(run.cursor) if run.cursor else None,
            "done": run.done,
            "checked": task.checked + run.checked,
            "invalid_count": task.invalid_count + run.invalid_count,
        }
    )


def _unfinished(done_segments: Iterable[int], total: int) -> list[int]:
    finished = set(done_segments)
    return [segment for segment in range(total) if segment not in finished]


def _migration_summary(
    plan: RunPlan, records: RunRecords, stops: dict[int, str]
) -> tuple[Summary, list[int]]:
    totals = SegmentCounters()
    done: list[int] = []

    def failures() -> Iterator[ProfileResult]:
        for record in records.migrate_records(plan.run_id):
            totals.add(record.counters)
            if record.done:
                done.append(record.segment)
            if record.error is not None:
                stops[record.segment] = record.error
            yield from record.failures

    kept = first_by_key(failures())
    summary = summarize(totals, kept, records.report_uri(plan.run_id), plan.dry_run)
    return summary, _unfinished(done, plan.total_segments)


def _verification(
    plan: RunPlan, records: RunRecords, stops: dict[int, str]
) -> tuple[Verification, list[int]]:
    checked = invalid_count = 0
    done: list[int] = []

    def invalid() -> Iterator[InvalidProfile]:
        nonlocal checked, invalid_count
        for record in records.verify_records(plan.run_id):
            checked += record.checked
            invalid_count += record.invalid_count
            if record.done:
                done.append(record.segment)
            if record.error is not None:
                stops[record.segment] = record.error
            yield from record.invalid

    kept = first_by_key(invalid())
    unfinished = _unfinished(done, plan.total_segments)
    return verification_of(checked, invalid_count, kept, complete=not unfinished), unfinished


def aggregate_run(plan: RunPlan, records: RunRecords, control: ControlStore) -> MigrationResponse:
    """The run's response document, from every invocation's record; under 200 KiB.

    A segment with no final record (its loop was caught after exhausting retries, or a
    turn stopped on something unexpected) makes the run unsuccessful and is named in
    ``error``, with the first recorded reason; rerunning migrates what it missed.
    """
    summary = verification = None
    unfinished: list[int] = []
    stops: dict[int, str] = {}
    if not plan.verify_only:
        summary, unfinished = _migration_summary(plan, records, stops)
    if not plan.dry_run and not unfinished:
        verification, unfinished = _verification(plan, records, stops)
    response = build_response(plan.target_version, summary, verification)
    if unfinished:
        response.success = False
        shown = ", ".join(str(segment) for segment in unfinished[:20])
        more = "" if len(unfinished) <= 20 else f" and {len(unfinished) - 20} more"
        reasons = [stops[segment] for segment in unfinished if segment in stops]
        reason = f" (first reason recorded: {reasons[0][:MAX_REASON_CHARS]})" if reasons else ""
        response.error = (
            f"SegmentsUnfinished: segments {shown}{more} of {plan.total_segments} did not "
            f"finish{reason}; see the execution's Map Run for their errors, then run again"
        )
    response.run_id = plan.run_id
    response.backup = plan.backup
    if plan.note:
        response.message = f"{plan.note} {response.message}"
    if not plan.dry_run and not plan.verify_only:
        _finish(plan, response, control)
    logger.info(
        "run aggregated",
        extra={"run_id": plan.run_id, "success": response.success, "unfinished": len(unfinished)},
    )
    return fit_within(response, MAX_OUTPUT_BYTES)


def _finish(plan: RunPlan, response: MigrationResponse, control: ControlStore) -> None:
    """Record the run's outcome in the history and release the table's lock."""
    entry = control.run_entry(plan.table_name, plan.started_at, plan.run_id)
    if entry is not None:
        counters = response.summary.counters() if response.summary else SegmentCounters()
        outcome: RunOutcome = (
            "stopped" if response.error else "succeeded" if response.success else "failed"
        )
        control.record_run(finish_entry(entry, outcome, counters))
    control.release_lock(plan.table_name, plan.run_id)
