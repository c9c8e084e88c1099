"""The Step Functions pipeline's Plan and Aggregate states (a segment's turns: turns.py).

Each function here is one state's logic; handlers only parse, inject and return. They use
the same lifecycle, segment worker, verification and summary as the local runner, so one
table and one request give one answer whichever way it runs.
"""

from __future__ import annotations

import logging
import math
import random
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from profile_migrations.clock import iso_timestamp
from profile_migrations.errors import (
    InvalidRequestError,
    MigrationInputError,
    RequestRefusedError,
    SegmentsUnfinishedError,
)
from profile_migrations.logic.lifecycle import NewRun, Protection, begin, finish
from profile_migrations.logic.summary import (
    build_response,
    fit_within,
    stopped_early,
    summarize,
    verification_of,
)
from profile_migrations.logic.turns import PIPELINE_LEASE_SECONDS, execution_owner
from profile_migrations.models.limits import MAX_PIPELINE_SEGMENTS
from profile_migrations.models.pipeline import RunPlan
from profile_migrations.models.records import Checkpoint, VerifyCheckpoint
from profile_migrations.models.requests import PipelineRequest
from profile_migrations.models.results import SegmentCounters

if TYPE_CHECKING:
    from collections.abc import Iterable

    from profile_migrations.loader import Registry
    from profile_migrations.logic.ports import ControlStore, ProtectableStore, RunRecordStore
    from profile_migrations.models.pipeline import PlanEvent
    from profile_migrations.models.results import MigrationResponse, Summary, Verification
    from profile_migrations.registry import MigrationChain

logger = logging.getLogger(__name__)

BYTES_PER_SEGMENT = 256 * 1024 * 1024
DEFAULT_MAX_CONCURRENCY = 20
MAX_OUTPUT_BYTES = 200 * 1024
PIPELINE_WHERE = "aws:step-functions"


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
    out the segments; for a real run, also begin the run's lifecycle (logic/lifecycle.py:
    steps checked, the table's lock taken by this execution, the table protected, the
    run recorded; or the table's unfinished run resumed).

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
                "segment turns the functions may run at once"
            )
        table = store.describe()
        total = segments or default_pipeline_segments(table.size_bytes)
        plan = RunPlan(
            run_id=event.execution,
            execution=event.execution,
            table_name=table.name,
            target_version=target,
            dry_run=request.dry_run,
            verify_only=request.verify_only,
            started_at=iso_timestamp(datetime.fromisoformat(event.started_at)),
            total_segments=total,
            segments=_shuffled(total, event.execution),
            max_concurrency=concurrency,
            page_size=request.page_size,
            key_attributes=list(table.key_attributes),
        )
        # Every mode checkpoints its segments there; the tool, not the stack, owns it.
        control.ensure_exists()
        if not request.dry_run and not request.verify_only:
            plan = _begin(plan, request, registry.chain, _protection(plan, control, request), store)
    except ValidationError as exc:
        raise RequestRefusedError(f"invalid input: {exc}") from exc
    except (MigrationInputError, ValueError) as exc:
        raise RequestRefusedError(f"{type(exc).__name__}: {exc}") from exc
    logger.info(
        "run planned",
        extra={"run_id": plan.run_id, "segments": plan.total_segments, "target_version": target},
    )
    return plan


def _protection(
    plan: RunPlan, control: ControlStore, request: PipelineRequest | None = None
) -> Protection:
    """This execution as a part of its run: the lock's owner, renewed every turn."""
    return Protection(
        control=control,
        owner=execution_owner(plan.execution),
        where=PIPELINE_WHERE,
        resume=request.resume if request else False,
        allow_changed=request.allow_changed if request else False,
        backup=request.backup if request else True,
        lease_seconds=PIPELINE_LEASE_SECONDS,
    )


def _begin(
    plan: RunPlan,
    request: PipelineRequest,
    chain: MigrationChain,
    protection: Protection,
    store: ProtectableStore,
) -> RunPlan:
    new = NewRun(plan.run_id, plan.started_at, plan.total_segments)
    begun = begin(protection, store, chain, plan.target_version, new)
    entry = begun.entry
    return plan.model_copy(
        update={
            "run_id": entry.run_id,
            "started_at": entry.started_at,
            "total_segments": entry.total_segments,
            "segments": _shuffled(entry.total_segments, entry.run_id),
            "backup": begun.backup,
            "note": begun.note,
        }
    )


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
    for checkpoint in control.checkpoints(Checkpoint, plan.run_id).values():
        totals.add(checkpoint.counters)
        if checkpoint.done:
            done.append(checkpoint.segment)
        elif checkpoint.error is not None:
            stops[checkpoint.segment] = checkpoint.error
    failures = records.failures(plan.run_id)
    summary = summarize(totals, failures, records.report_uri(plan.run_id), plan.dry_run)
    return summary, _unfinished(done, plan.total_segments)


def _verification(
    plan: RunPlan, records: RunRecordStore, control: ControlStore, stops: dict[int, str]
) -> tuple[Verification, list[int]]:
    checked = invalid_count = 0
    done: list[int] = []
    for checkpoint in control.checkpoints(VerifyCheckpoint, plan.execution).values():
        checked += checkpoint.checked
        invalid_count += checkpoint.invalid_count
        if checkpoint.done:
            done.append(checkpoint.segment)
        elif checkpoint.error is not None:
            stops[checkpoint.segment] = checkpoint.error
    unfinished = _unfinished(done, plan.total_segments)
    verification = verification_of(
        checked, invalid_count, records.invalid(plan.execution), complete=not unfinished
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
        error = SegmentsUnfinishedError(unfinished, plan.total_segments, stops)
        stopped_early(response, error.error_type, str(error))
    response.run_id = plan.run_id
    response.backup = plan.backup
    if plan.note:
        response.message = f"{plan.note} {response.message}"
    if not plan.dry_run and not plan.verify_only:
        _finish(plan, response, control)
    output_uri = records.put_output(plan.execution, response)
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
    """Finish this execution's part of the run: its outcome in the history, the table's
    lock released."""
    protection = _protection(plan, control)
    entry = control.run_entry(plan.table_name, plan.started_at, plan.run_id)
    if entry is None:
        control.release_lock(plan.table_name, protection.owner)
        return
    finish(protection, entry, response)
