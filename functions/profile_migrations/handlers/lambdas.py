"""The entry points of the pipeline's five Lambda functions. Each parses its event, calls
one logic function with its dependencies (built once per container, or a test's fakes)
and returns the result's JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.handlers.dependencies import (
    AggregateDependencies,
    PlanDependencies,
    SegmentDependencies,
    aggregate_dependencies,
    plan_dependencies,
    segment_dependencies,
)
from profile_migrations.handlers.observability import (
    add_table_dimension,
    emit_capacity,
    emit_counters,
    logger,
    metrics,
    turn_of,
)
from profile_migrations.logic.pipeline import aggregate_run, plan_run
from profile_migrations.logic.turns import migrate_turn, rollback_turn, verify_turn
from profile_migrations.models.pipeline import (
    AggregateEvent,
    PlanEvent,
    RollbackTask,
    SegmentTask,
    TurnTask,
    VerifyTask,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.logic.turns import Turn

Event = dict[str, Any]


@logger.inject_lambda_context(clear_state=True)
def plan(event: Event, context: LambdaContext, deps: PlanDependencies | None = None) -> Event:
    """The Plan state: validate the execution input and lay out the segments."""
    deps = deps or plan_dependencies()
    limit = deps.settings.max_concurrency_limit
    laid_out = plan_run(
        PlanEvent.model_validate(event), deps.registry, deps.store, deps.control, limit
    )
    return laid_out.to_wire()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def migrate(event: Event, context: LambdaContext, deps: SegmentDependencies | None = None) -> Event:
    """One turn of a segment's migration: pages until the segment ends or time runs short."""
    deps = deps or segment_dependencies()
    task = SegmentTask.model_validate(event)
    turn = _turn_of(task, context, deps)
    next_task, this_turn = migrate_turn(
        task, deps.registry, deps.store, deps.records, deps.control, turn
    )
    # This turn's own counts only: a resumed segment's earlier totals were emitted by the
    # turns that counted them.
    emit_counters(deps.settings.table_name, task.run_id, task.segment, this_turn, task.dry_run)
    emit_capacity(
        this_turn.consumed_write_capacity_units,
        this_turn.consumed_read_capacity_units,
        next_task,
    )
    return next_task.to_wire()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def verify(event: Event, context: LambdaContext, deps: SegmentDependencies | None = None) -> Event:
    """One turn of a segment's verification."""
    deps = deps or segment_dependencies()
    task = VerifyTask.model_validate(event)
    turn = _turn_of(task, context, deps)
    next_task, consumed = verify_turn(
        task, deps.store, deps.records, deps.control, turn, deps.registry
    )
    add_table_dimension(deps.settings.table_name)
    emit_capacity(0.0, consumed, next_task)
    return next_task.to_wire()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def rollback(
    event: Event, context: LambdaContext, deps: SegmentDependencies | None = None
) -> Event:
    """One turn of a segment's rollback: its journal undone, newest page first."""
    deps = deps or segment_dependencies()
    task = RollbackTask.model_validate(event)
    turn = _turn_of(task, context, deps)
    next_task, this_turn = rollback_turn(task, deps.store, deps.records, deps.control, turn)
    add_table_dimension(deps.settings.table_name)
    emit_capacity(this_turn.consumed_write_capacity_units, 0.0, next_task)
    return next_task.to_wire()


def _turn_of(task: TurnTask, context: LambdaContext, deps: SegmentDependencies) -> Turn:
    """This invocation as the task's turn; its log lines carry the run, segment and turn."""
    logger.append_keys(run_id=task.run_id, segment=task.segment, invocation=task.invocation)
    return turn_of(context, deps.settings.stop_margin_seconds)


@logger.inject_lambda_context(clear_state=True)
def aggregate(
    event: Event, context: LambdaContext, deps: AggregateDependencies | None = None
) -> Event:
    """The Aggregate state: the run's document (whole in the bucket, trimmed here)."""
    deps = deps or aggregate_dependencies()
    run_plan = AggregateEvent.model_validate(event).plan
    logger.append_keys(run_id=run_plan.run_id)
    return aggregate_run(run_plan, deps.records, deps.control).to_wire()
