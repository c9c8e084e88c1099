"""The Step Functions pipeline's steps: plan, migrate a segment's pages, verify, aggregate.

Each function here is one state's logic; handlers only parse, inject and return. They use
the same segment worker, verification and summary as the local runner, so one table and
one request give one answer whichever way it runs.
"""

from __future__ import annotations

import logging
import math
import random
import time
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from profile_migrations import environment
from profile_migrations.clock import iso_timestamp, now_timestamp
from profile_migrations.errors import (
    InvalidRequestError,
    MigrationInputError,
    RequestRefusedError,
)
from profile_migrations.logic.guard import (
    check_steps,
    finish_entry,
    history_entry,
    record_applied_steps,
    resumable_run,
)
from profile_migrations.logic.summary import (
    build_response,
    fit_within,
    outcome_of,
    stopped_early,
    summarize,
    verification_of,
)
from profile_migrations.logic.turns import PIPELINE_LEASE_SECONDS
from profile_migrations.models.limits import MAX_PIPELINE_SEGMENTS
from profile_migrations.models.pipeline import RunPlan
from profile_migrations.models.records import LockInfo
from profile_migrations.models.requests import PipelineRequest
from profile_migrations.models.results import BackupResult, SegmentCounters

if TYPE_CHECKING:
    from collections.abc import Iterable

    from profile_migrations.dal.dynamodb import TableInfo
    from profile_migrations.loader import Registry
    from profile_migrations.logic.guard import ControlStore
    from profile_migrations.logic.ports import ProtectableStore, RunRecordStore
    from profile_migrations.models.pipeline import PlanEvent
    from profile_migrations.models.results import MigrationResponse, Summary, Verification

logger = logging.getLogger(__name__)

BYTES_PER_SEGMENT = 256 * 1024 * 1024
DEFAULT_MAX_CONCURRENCY = 20
MAX_OUTPUT_BYTES = 200 * 1024
MAX_REASON_CHARS = 500


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
    """Validate the execution input, create the control table if it is missing, and lay
    out the segments; for a real run, also check step checksums, take the table's lock,
    protect the table and record the run.

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
        # Every mode checkpoints its segments there; the tool, not the stack, owns it.
        control.ensure_exists()
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


def _unfinished(done_segments: Iterable[int], total: int) -> list[int]:
    finished = set(done_segments)
    return [segment for segment in range(total) if segment not in finished]


def _migration_summary(
    plan: RunPlan, records: RunRecordStore, control: ControlStore, stops: dict[int, str]
) -> tuple[Summary, list[int]]:
    """Counts from the segments' checkpoints (moved atomically with their cursors), the
    failed profiles from the pages' failure records."""
    totals = SegmentCounters()
    done: list[int] = []
    for checkpoint in control.checkpoints(plan.checkpoint_run_id).values():
        totals.add(checkpoint.counters)
        if checkpoint.done:
            done.append(checkpoint.segment)
        elif checkpoint.error is not None:
            stops[checkpoint.segment] = checkpoint.error
    failures = records.failures(plan.checkpoint_run_id)
    summary = summarize(totals, failures, records.report_uri(plan.checkpoint_run_id), plan.dry_run)
    return summary, _unfinished(done, plan.total_segments)


def _verification(
    plan: RunPlan, records: RunRecordStore, control: ControlStore, stops: dict[int, str]
) -> tuple[Verification, list[int]]:
    checked = invalid_count = 0
    done: list[int] = []
    for checkpoint in control.verify_checkpoints(plan.run_id).values():
        checked += checkpoint.checked
        invalid_count += checkpoint.invalid_count
        if checkpoint.done:
            done.append(checkpoint.segment)
        elif checkpoint.error is not None:
            stops[checkpoint.segment] = checkpoint.error
    unfinished = _unfinished(done, plan.total_segments)
    verification = verification_of(
        checked, invalid_count, records.invalid(plan.run_id), complete=not unfinished
    )
    return verification, unfinished


def aggregate_run(
    plan: RunPlan, records: RunRecordStore, control: ControlStore
) -> MigrationResponse:
    """The run's response document, from the segments' checkpoints and page records.

    The whole document is stored at ``runs/<execution>/output.json`` in the report bucket
    (``outputUri`` in the log); the one returned is trimmed under 200 KiB for the state's
    output. A segment that did not finish (its loop was caught after exhausting retries,
    a turn stopped on something unexpected, or it ran out of turns) makes the run
    unsuccessful (``errorType`` SegmentsUnfinished) with the first recorded reason; a
    resumed run (``"resume": true``) continues it.
    """
    summary = verification = None
    unfinished: list[int] = []
    stops: dict[int, str] = {}
    if not plan.verify_only:
        summary, unfinished = _migration_summary(plan, records, control, stops)
    if not plan.dry_run and not unfinished:
        verification, unfinished = _verification(plan, records, control, stops)
    response = build_response(plan.target_version, summary, verification)
    if unfinished:
        shown = ", ".join(str(segment) for segment in unfinished[:20])
        more = "" if len(unfinished) <= 20 else f" and {len(unfinished) - 20} more"
        reasons = [stops[segment] for segment in unfinished if segment in stops]
        reason = f" (first reason recorded: {reasons[0][:MAX_REASON_CHARS]})" if reasons else ""
        stopped_early(
            response,
            environment.RUN_ERROR_SEGMENTS_UNFINISHED,
            f"segments {shown}{more} of {plan.total_segments} did not finish{reason}; "
            "see the execution's Map Run for their errors, then resume the run",
        )
    response.run_id = plan.run_id
    response.backup = plan.backup
    if plan.note:
        response.message = f"{plan.note} {response.message}"
    if not plan.dry_run and not plan.verify_only:
        _finish(plan, response, control)
    output_uri = records.put_output(plan.run_id, response)
    logger.info(
        "run aggregated",
        extra={
            "run_id": plan.run_id,
            "success": response.success,
            "unfinished": len(unfinished),
            "output_uri": output_uri,
        },
    )
    return fit_within(response, MAX_OUTPUT_BYTES)


def _finish(plan: RunPlan, response: MigrationResponse, control: ControlStore) -> None:
    """Record the run's outcome in the history and release the table's lock."""
    entry = control.run_entry(plan.table_name, plan.started_at, plan.run_id)
    if entry is not None:
        counters = response.summary.counters() if response.summary else SegmentCounters()
        control.record_run(finish_entry(entry, outcome_of(response), counters))
    control.release_lock(plan.table_name, plan.run_id)
