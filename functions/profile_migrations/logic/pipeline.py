"""The Step Functions pipeline's Plan and Aggregate states (a segment's turns: turns.py).

Each function here is one state's logic; handlers only parse, inject and return. They use
the same lifecycle, segment worker, verification and summary as the local runner, so one
table and one request give one answer whichever way it runs.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError

from profile_migrations.clock import iso_timestamp
from profile_migrations.environment import PIPELINE_WHERE
from profile_migrations.errors import (
    InvalidRequestError,
    MigrationInputError,
    RequestRefusedError,
    SegmentsUnfinishedError,
)
from profile_migrations.logic.lifecycle import (
    NewRun,
    Protection,
    begin,
    caps_in_lock,
    finish,
    kept_caps,
    resumable_run,
)
from profile_migrations.logic.pacing import Caps, caps_for
from profile_migrations.logic.rollback_run import (
    RollbackBegun,
    RollbackEnd,
    begin_rollback,
    finish_rollback,
    rollback_document,
    undone_run,
)
from profile_migrations.logic.summary import (
    build_response,
    fit_within,
    should_roll_back,
    stopped_by_window,
    stopped_early,
    summarize,
    verification_of,
    with_rollback,
)
from profile_migrations.logic.turns import PIPELINE_LEASE_SECONDS, execution_owner
from profile_migrations.logic.verify import deep_schema
from profile_migrations.models.limits import MAX_PIPELINE_SEGMENTS
from profile_migrations.models.pipeline import AggregateResult, RunPlan
from profile_migrations.models.records import Checkpoint, RollbackCheckpoint, VerifyCheckpoint
from profile_migrations.models.requests import PipelineRequest, RollbackRequest
from profile_migrations.models.results import MigrationResponse, RollbackCounters, SegmentCounters

if TYPE_CHECKING:
    from collections.abc import Iterable

    from profile_migrations.loader import Registry
    from profile_migrations.logic.ports import ControlStore, ProtectableStore, RunRecordStore
    from profile_migrations.models.pipeline import PlanEvent
    from profile_migrations.models.results import Summary, Verification
    from profile_migrations.registry import MigrationChain

logger = logging.getLogger(__name__)

BYTES_PER_SEGMENT = 256 * 1024 * 1024
DEFAULT_MAX_CONCURRENCY = 20
MAX_OUTPUT_BYTES = 200 * 1024
# The execution input's field that asks for a rollback execution.
ROLLBACK_FIELD = "rollback"


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
    if ROLLBACK_FIELD in event.request:
        return _plan_rollback(event, store, control, max_concurrency_limit)
    try:
        request = PipelineRequest.model_validate(event.request)
        target = request.target_version or registry.current_version
        registry.chain.check_target(target)
        deep_schema(registry.chain, target, request.deep_verify)
        segments = request.total_segments
        if segments is not None and segments > MAX_PIPELINE_SEGMENTS:
            raise InvalidRequestError(
                f"totalSegments {segments} is above the pipeline's limit of {MAX_PIPELINE_SEGMENTS}"
            )
        concurrency = _concurrency(request.max_concurrency, max_concurrency_limit)
        table = store.describe()
        total = segments or default_pipeline_segments(table.size_bytes)
        asked = Caps(request.max_write_capacity, request.max_read_capacity)
        started_at = iso_timestamp(datetime.fromisoformat(event.started_at))
        stop_at = _window_end(request, event.started_at)
        # Every mode checkpoints its segments there; the tool, not the stack, owns it.
        # Created only once the input is known good: a refused input touches nothing.
        control.ensure_exists()
        resume = request.resume or request.scheduled
        caps = kept_caps(control, table.name, asked, resume) or caps_for(table, asked)
        plan = RunPlan(
            run_id=event.execution,
            execution=event.execution,
            table_name=table.name,
            target_version=target,
            dry_run=request.dry_run,
            verify_only=request.verify_only,
            started_at=started_at,
            total_segments=total,
            segments=_shuffled(total, event.execution),
            max_concurrency=concurrency,
            page_size=request.page_size,
            key_attributes=list(table.key_attributes),
            max_write_capacity=caps.write,
            max_read_capacity=caps.read,
            stop_at=stop_at,
            deep_verify=request.deep_verify,
            rollback_on_failure=request.rollback_on_failure,
            max_failure_percent=request.max_failure_percent,
        )
        done = _already_done(request, control, table.name, target)
        if done is not None:
            plan = plan.model_copy(update={"segments": [], "nothing_to_do": done})
        elif not request.dry_run and not request.verify_only:
            protection = _protection(plan, control, request)
            plan = _begin(plan, request, registry.chain, protection, store, caps)
    except ValidationError as exc:
        raise RequestRefusedError(f"invalid input: {exc}") from exc
    # OverflowError: a window ending after the year 9999.
    except (MigrationInputError, ValueError, OverflowError) as exc:
        raise RequestRefusedError(f"{type(exc).__name__}: {exc}") from exc
    logger.info(
        "run planned",
        extra={"run_id": plan.run_id, "segments": plan.total_segments, "target_version": target},
    )
    return plan


def _concurrency(asked: int | None, limit: int) -> int:
    concurrency = asked or min(DEFAULT_MAX_CONCURRENCY, limit)
    if concurrency > limit:
        raise InvalidRequestError(
            f"maxConcurrency {concurrency} is above {limit}, the number of segment turns the "
            "functions may run at once"
        )
    return concurrency


def _plan_rollback(
    event: PlanEvent, store: ProtectableStore, control: ControlStore, max_concurrency_limit: int
) -> RunPlan:
    """Plan a rollback execution (``{"rollback": RUN_ID}``): the undone run's segments,
    each undoing its journal; the table's lock taken by this execution, the rollback
    recorded in the history (or the run's unfinished rollback resumed). Refusals raise
    :class:`RequestRefusedError` before anything is written: an unknown run, a part of
    it that ran outside the pipeline (its journal is a local file), a locked table."""
    try:
        request = RollbackRequest.model_validate(event.request)
        concurrency = _concurrency(request.max_concurrency, max_concurrency_limit)
        table = store.describe()
        undone = undone_run(control, table.name, request.rollback)
        local = [part for part in undone.parts if part.where != PIPELINE_WHERE]
        if local:
            raise InvalidRequestError(
                f"run {undone.run_id} ran in part outside the pipeline ({local[0].where}, "
                f"{local[0].owner}): its journal is a local file; roll that run back with "
                "`profile-migrate rollback` where the file is"
            )
        caps = caps_for(table, Caps(request.max_write_capacity, None))
        protection = Protection(
            control=control,
            owner=execution_owner(event.execution),
            where=PIPELINE_WHERE,
            resume=request.resume,
            lease_seconds=PIPELINE_LEASE_SECONDS,
        )
        begun = begin_rollback(
            protection, table.name, undone, undone.total_segments, caps, event.execution
        )
    except ValidationError as exc:
        raise RequestRefusedError(f"invalid input: {exc}") from exc
    except (MigrationInputError, ValueError) as exc:
        raise RequestRefusedError(f"{type(exc).__name__}: {exc}") from exc
    return _rollback_plan(begun, event.execution, table.key_attributes, concurrency, caps)


def _rollback_plan(
    begun: RollbackBegun,
    execution: str,
    key_attributes: tuple[str, ...],
    concurrency: int,
    caps: Caps,
    after_run: bool = False,
) -> RunPlan:
    """The plan of a begun rollback; ``after_run``: it rolls back the run this execution
    just made (automatic rollback), whose document the rollback's then completes."""
    entry = begun.entry
    plan = RunPlan(
        run_id=entry.run_id,
        execution=execution,
        table_name=entry.table,
        target_version=entry.target_version,
        dry_run=False,
        verify_only=False,
        started_at=entry.started_at,
        total_segments=entry.total_segments,
        segments=_shuffled(entry.total_segments, entry.run_id),
        max_concurrency=concurrency,
        page_size=None,
        key_attributes=list(key_attributes),
        max_write_capacity=caps.write,
        max_read_capacity=caps.read,
        note=f"Resumed rollback {entry.run_id}." if begun.resumed else None,
        mode="rollback",
        rolls_back=entry.rolls_back,
        rollback_on_failure=after_run,
    )
    logger.info(
        "rollback planned",
        extra={
            "run_id": plan.run_id,
            "rolls_back": plan.rolls_back,
            "segments": plan.total_segments,
        },
    )
    return plan


def _window_end(request: PipelineRequest, started_at: str) -> str | None:
    """The end of the run's window (ISO-8601, UTC), None without one; a window that has
    already ended is refused with :class:`InvalidRequestError`."""
    if request.window_minutes is not None:
        end = datetime.fromisoformat(started_at) + timedelta(minutes=request.window_minutes)
    elif request.stop_at is not None:
        end = request.stop_at
    else:
        return None
    if end.timestamp() <= time.time():
        raise InvalidRequestError(
            f"the run's window ends at {iso_timestamp(end.astimezone(UTC))}, before the run "
            "would start"
        )
    return iso_timestamp(end.astimezone(UTC))


def _already_done(
    request: PipelineRequest, control: ControlStore, table: str, target: int
) -> str | None:
    """Why a scheduled execution has nothing to do, None when it has work: the table's
    unfinished run to continue, or no run ever started at ``target``."""
    if not request.scheduled or resumable_run(control, table) is not None:
        return None
    for entry in control.history(table):
        if entry.target_version == target and not entry.dry_run:
            return (
                f"Nothing to do: the last run to version {target}, {entry.run_id}, ended "
                f"{entry.outcome} at {entry.ended_at}; a scheduled execution only continues "
                "an unfinished run or starts the first one."
            )
    return None


def _protection(
    plan: RunPlan, control: ControlStore, request: PipelineRequest | None = None
) -> Protection:
    """This execution as a part of its run: the lock's owner, renewed every turn. A
    scheduled execution resumes the table's unfinished run, if any."""
    return Protection(
        control=control,
        owner=execution_owner(plan.execution),
        where=PIPELINE_WHERE,
        resume=(request.resume or request.scheduled) if request else False,
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
    caps: Caps,
) -> RunPlan:
    new = NewRun(plan.run_id, plan.started_at, plan.total_segments)
    begun = begin(protection, store, chain, plan.target_version, new, caps)
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
    consumed = 0.0
    done: list[int] = []
    for checkpoint in control.checkpoints(VerifyCheckpoint, plan.execution).values():
        checked += checkpoint.checked
        invalid_count += checkpoint.invalid_count
        consumed += checkpoint.consumed_read_capacity_units
        if checkpoint.done:
            done.append(checkpoint.segment)
        elif checkpoint.error is not None:
            stops[checkpoint.segment] = checkpoint.error
    unfinished = _unfinished(done, plan.total_segments)
    verification = verification_of(
        checked,
        invalid_count,
        records.invalid(plan.execution),
        complete=not unfinished,
        consumed_read_capacity_units=consumed,
    )
    return verification, unfinished


def aggregate_run(plan: RunPlan, records: RunRecordStore, control: ControlStore) -> AggregateResult:
    """The run's response document, from the segments' checkpoints and page records.

    The whole document is stored at ``runs/<execution>/output.json`` in the report bucket
    (``outputUri`` in the log); the one returned is trimmed under 200 KiB for the state's
    output. A segment that did not finish (its loop was caught after exhausting retries,
    a turn stopped on something unexpected, or it ran out of turns) makes the run
    unsuccessful (``errorType`` SegmentsUnfinished) with the first recorded reason; a
    resumed run (``"resume": true``) continues it.

    A run with ``rollbackOnFailure`` that must be rolled back begins its rollback here:
    the result then carries the rollback's ``plan`` (the state machine runs its segments,
    then this state again). A rollback's plan (``mode`` ``"rollback"``) gives the
    rollback's document, or, after an automatic rollback, the run's saying so.
    """
    if plan.nothing_to_do is not None:
        return AggregateResult.model_validate(_nothing_to_do(plan, records).to_wire())
    if plan.mode == "rollback":
        return _aggregate_rollback(plan, records, control)
    summary = verification = None
    unfinished: list[int] = []
    stops: dict[int, str] = {}
    if not plan.verify_only:
        summary, unfinished = _migration_summary(plan, records, control, stops)
    if not plan.dry_run and not unfinished:
        verification, unfinished = _verification(plan, records, control, stops)
    response = build_response(plan.target_version, summary, verification)
    real = not plan.dry_run and not plan.verify_only
    if response.summary is not None:
        caps = (
            _caps_at_end(plan, control)
            if real
            else Caps(plan.max_write_capacity, plan.max_read_capacity)
        )
        response.summary.max_write_capacity = caps.write
        response.summary.max_read_capacity = caps.read
        if real:
            response.summary.journal_uri = records.journal_uri(plan.run_id)
    if unfinished and not stops and _window_closed(plan):
        stopped_by_window(
            response,
            f"the run's window ended at {plan.stop_at}; {len(unfinished)} of "
            f"{plan.total_segments} segments stopped at the end of their page in hand; "
            'resume the run ("resume": true) to continue them',
        )
    elif unfinished:
        error = SegmentsUnfinishedError(unfinished, plan.total_segments, stops)
        stopped_early(response, error.error_type, str(error))
    if unfinished and real:
        response.resumable = True
    response.run_id = plan.run_id
    response.backup = plan.backup
    if plan.note:
        response.message = f"{plan.note} {response.message}"
    rollback_plan = None
    if not plan.dry_run and not plan.verify_only:
        _finish(plan, response, control, records)
        rollback_plan = _rollback_on_failure(plan, response, control)
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
    # The rollback's plan rides in the same state output: the document makes room for it.
    room = MAX_OUTPUT_BYTES - (len(json.dumps(rollback_plan.to_wire())) if rollback_plan else 0)
    result = AggregateResult.model_validate(fit_within(response, room).to_wire())
    result.plan = rollback_plan
    return result


def _rollback_on_failure(
    plan: RunPlan, response: MigrationResponse, control: ControlStore
) -> RunPlan | None:
    """With ``rollbackOnFailure``: the plan of the run's rollback when it failed past what
    it allows (``rolledBack`` false in its document otherwise); None without."""
    if not plan.rollback_on_failure:
        return None
    if should_roll_back(response, plan.max_failure_percent):
        return _begin_rollback_after(plan, control)
    response.rolled_back = False
    return None


def _begin_rollback_after(plan: RunPlan, control: ControlStore) -> RunPlan:
    """Begin the rollback of the run this execution just ended (its lock released by
    :func:`_finish`, taken again for the rollback); the plan the rollback's segments
    follow."""
    undone = control.run_entry(plan.table_name, plan.started_at, plan.run_id)
    if undone is None:
        raise RuntimeError(f"run {plan.run_id} is not in the history it was recorded in")
    protection = Protection(
        control=control,
        owner=execution_owner(plan.execution),
        where=PIPELINE_WHERE,
        lease_seconds=PIPELINE_LEASE_SECONDS,
    )
    caps = Caps(plan.max_write_capacity, None)
    begun = begin_rollback(
        protection,
        plan.table_name,
        undone,
        undone.total_segments,
        caps,
        f"{plan.execution}-rollback",
    )
    return _rollback_plan(
        begun, plan.execution, tuple(plan.key_attributes), plan.max_concurrency, caps, True
    )


def _aggregate_rollback(
    plan: RunPlan, records: RunRecordStore, control: ControlStore
) -> AggregateResult:
    """A rollback execution's document from its segments' checkpoints and failure
    records; after an automatic rollback, the run's document saying so."""
    counters = RollbackCounters()
    done: list[int] = []
    stops: dict[int, str] = {}
    for checkpoint in control.checkpoints(RollbackCheckpoint, plan.run_id).values():
        counters.add(checkpoint.counters)
        if checkpoint.done:
            done.append(checkpoint.segment)
        elif checkpoint.error is not None:
            stops[checkpoint.segment] = checkpoint.error
    unfinished = _unfinished(done, plan.total_segments)
    stop = None
    if unfinished:
        error = SegmentsUnfinishedError(unfinished, plan.total_segments, stops)
        stop = (error.error_type, str(error))
    end = RollbackEnd(counters, list(records.failures(plan.run_id)), not unfinished, stop)
    undo = rollback_document(
        plan.rolls_back or "",
        plan.run_id,
        end,
        records.report_uri(plan.run_id),
        _caps_at_end(plan, control),
    )
    if plan.note:
        undo.message = f"{plan.note} {undo.message}"
    entry = control.run_entry(plan.table_name, plan.started_at, plan.run_id)
    protection = _protection(plan, control)
    if entry is None:
        control.release_lock(plan.table_name, protection.owner)
    else:
        finish_rollback(protection, entry, undo, counters)
    response = undo
    if plan.rollback_on_failure:
        run = records.output(plan.execution)
        if run is not None:
            with_rollback(
                run,
                undo,
                f'an execution with {{"rollback": "{plan.rolls_back}", "resume": true}} '
                "continues it",
            )
            response = run
    output_uri = records.put_output(plan.execution, response)
    logger.info(
        "rollback aggregated",
        extra={"run_id": plan.run_id, "success": undo.success, "output_uri": output_uri},
    )
    return AggregateResult.model_validate(fit_within(response, MAX_OUTPUT_BYTES).to_wire())


def _window_closed(plan: RunPlan) -> bool:
    return (
        plan.stop_at is not None and datetime.fromisoformat(plan.stop_at).timestamp() <= time.time()
    )


def _caps_at_end(plan: RunPlan, control: ControlStore) -> Caps:
    """The caps the run's lock carries now (``throttle`` may have changed them), else
    those planned."""
    caps = caps_in_lock(control, plan.table_name, execution_owner(plan.execution))
    return caps or Caps(plan.max_write_capacity, plan.max_read_capacity)


def _nothing_to_do(plan: RunPlan, records: RunRecordStore) -> MigrationResponse:
    """A scheduled execution's document when its run already completed: nothing scanned,
    nothing written, nothing locked."""
    response = MigrationResponse(
        success=True, message=plan.nothing_to_do or "", target_version=plan.target_version
    )
    records.put_output(plan.execution, response)
    logger.info("nothing to do", extra={"run_id": plan.run_id})
    return response


def _finish(
    plan: RunPlan, response: MigrationResponse, control: ControlStore, records: RunRecordStore
) -> None:
    """Finish this execution's part of the run: its outcome and where its turns journaled
    their writes in the history, the table's lock released."""
    protection = replace(_protection(plan, control), journal_uri=records.journal_uri(plan.run_id))
    entry = control.run_entry(plan.table_name, plan.started_at, plan.run_id)
    if entry is None:
        control.release_lock(plan.table_name, protection.owner)
        return
    finish(protection, entry, response)
