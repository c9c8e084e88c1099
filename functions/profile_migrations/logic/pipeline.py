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
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from profile_migrations.clock import iso_timestamp
from profile_migrations.codec import decode_key, encode_key
from profile_migrations.errors import (
    InvalidRequestError,
    MigrationInputError,
    RequestRefusedError,
    StoreUnavailableError,
)
from profile_migrations.logic.report import JsonLinesWriter
from profile_migrations.logic.segment import MigrationJob, migrate_segment
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

    from profile_migrations.dal.s3 import RunRecords
    from profile_migrations.logic.ports import DescribableStore, ProfileStore
    from profile_migrations.models import (
        InvalidProfile,
        MigrationResponse,
        PlanEvent,
        ProfileResult,
        Summary,
        Verification,
    )
    from profile_migrations.registry import Registry

logger = logging.getLogger(__name__)

BYTES_PER_SEGMENT = 256 * 1024 * 1024
DEFAULT_MAX_CONCURRENCY = 20
MAX_OUTPUT_BYTES = 200 * 1024
REPORT_SPOOL_BYTES = 8 * 1024 * 1024


def default_pipeline_segments(size_bytes: int) -> int:
    """One segment per 256 MiB of table: a 1 KB-item segment then holds about 260,000
    profiles, a few minutes of one Lambda's work, so a small table costs a handful of
    state transitions and a 100 GB one fans out to 400 segments."""
    return max(1, min(MAX_PIPELINE_SEGMENTS, math.ceil(size_bytes / BYTES_PER_SEGMENT)))


def plan_run(
    event: PlanEvent, registry: Registry, store: DescribableStore, max_concurrency_limit: int
) -> RunPlan:
    """Validate the execution input and lay out the segments; reads only DescribeTable.

    Every refusal raises :class:`RequestRefusedError` (naming the reason), before any
    profile is read or written.
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
    except ValidationError as exc:
        raise RequestRefusedError(f"invalid input: {exc}") from exc
    except (MigrationInputError, ValueError) as exc:
        raise RequestRefusedError(f"{type(exc).__name__}: {exc}") from exc
    total = segments or default_pipeline_segments(table.size_bytes)
    order = list(range(total))
    # Shuffled, as AWS's bulk-update reference does, so concurrent segments spread over
    # partitions; seeded by the run id so a redriven execution gets the same plan.
    random.Random(event.run_id).shuffle(order)  # noqa: S311 - load spreading, not secrecy
    plan = RunPlan(
        run_id=event.run_id,
        table_name=table.name,
        target_version=target,
        dry_run=request.dry_run,
        verify_only=request.verify_only,
        started_at=started_at,
        total_segments=total,
        segments=order,
        max_concurrency=concurrency,
        page_size=request.page_size,
        key_attributes=list(table.key_attributes),
    )
    logger.info(
        "run planned",
        extra={"run_id": plan.run_id, "segments": total, "target_version": target},
    )
    return plan


def migrate_pages(
    task: SegmentTask,
    registry: Registry,
    store: ProfileStore,
    records: RunRecords,
    should_continue: Callable[[], bool],
) -> tuple[SegmentTask, MigrateRecord]:
    """Migrate a segment from the task's cursor until it ends or time runs short.

    Stores this invocation's report and record, then returns the next turn's task. A
    DynamoDB outage before any page finished raises :class:`StoreUnavailableError` so the
    state machine retries the turn with backoff; after some progress, the turn ends early
    and the next one resumes from the cursor.
    """
    job = MigrationJob(
        chain=registry.chain,
        target_version=task.target_version,
        key_attributes=tuple(task.key_attributes),
        dry_run=task.dry_run,
        started_at=task.started_at,
    )
    with tempfile.SpooledTemporaryFile(max_size=REPORT_SPOOL_BYTES) as spool:
        report = JsonLinesWriter(spool)
        run = migrate_segment(
            store,
            job,
            report,
            task.segment,
            task.total_segments,
            start_key=decode_key(task.cursor) if task.cursor else None,
            page_limit=task.page_size,
            should_continue=should_continue,
        )
        if run.error is not None and run.counters.scanned == 0:
            raise StoreUnavailableError(run.error)
        spool.seek(0)
        records.put_report(task.run_id, task.segment, task.invocation, spool)
    record = MigrateRecord(
        segment=task.segment,
        invocation=task.invocation,
        done=run.done,
        counters=run.counters,
        failures=[failure.to_result() for failure in run.failures],
    )
    records.put_migrate_record(task.run_id, record)
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


def verify_pages(
    task: VerifyTask, store: ProfileStore, records: RunRecords, should_continue: Callable[[], bool]
) -> VerifyTask:
    """Verify a segment from the task's cursor; same turn-taking as :func:`migrate_pages`."""
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
    if run.error is not None and run.checked == 0:
        raise StoreUnavailableError(run.error)
    records.put_verify_record(
        task.run_id,
        VerifyRecord(
            segment=task.segment,
            invocation=task.invocation,
            done=run.done,
            checked=run.checked,
            invalid_count=run.invalid_count,
            invalid=run.invalid,
        ),
    )
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


def _migration_summary(plan: RunPlan, records: RunRecords) -> tuple[Summary, list[int]]:
    totals = SegmentCounters()
    done: list[int] = []

    def failures() -> Iterator[ProfileResult]:
        for record in records.migrate_records(plan.run_id):
            totals.add(record.counters)
            if record.done:
                done.append(record.segment)
            yield from record.failures

    kept = first_by_key(failures())
    summary = summarize(totals, kept, records.report_uri(plan.run_id), plan.dry_run)
    return summary, _unfinished(done, plan.total_segments)


def _verification(plan: RunPlan, records: RunRecords) -> tuple[Verification, list[int]]:
    checked = invalid_count = 0
    done: list[int] = []

    def invalid() -> Iterator[InvalidProfile]:
        nonlocal checked, invalid_count
        for record in records.verify_records(plan.run_id):
            checked += record.checked
            invalid_count += record.invalid_count
            if record.done:
                done.append(record.segment)
            yield from record.invalid

    kept = first_by_key(invalid())
    return verification_of(checked, invalid_count, kept), _unfinished(done, plan.total_segments)


def aggregate_run(plan: RunPlan, records: RunRecords) -> MigrationResponse:
    """The run's response document, from every invocation's record; under 200 KiB.

    A segment with no final record (its loop was caught after exhausting retries) makes
    the run unsuccessful and is named in ``error``; rerunning migrates what it missed.
    """
    summary = verification = None
    unfinished: list[int] = []
    if not plan.verify_only:
        summary, unfinished = _migration_summary(plan, records)
    if not plan.dry_run and not unfinished:
        verification, unfinished = _verification(plan, records)
    response = build_response(plan.target_version, summary, verification)
    if unfinished:
        response.success = False
        shown = ", ".join(str(segment) for segment in unfinished[:20])
        more = "" if len(unfinished) <= 20 else f" and {len(unfinished) - 20} more"
        response.error = (
            f"SegmentsUnfinished: segments {shown}{more} of {plan.total_segments} did not "
            "finish; see the execution's Map Run for their errors, then run again"
        )
    logger.info(
        "run aggregated",
        extra={"run_id": plan.run_id, "success": response.success, "unfinished": len(unfinished)},
    )
    return fit_within(response, MAX_OUTPUT_BYTES)
