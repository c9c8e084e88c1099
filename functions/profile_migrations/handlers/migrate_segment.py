"""One turn of a segment's loop: migrate pages until the segment ends or time runs short."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.handlers.dependencies import SegmentDependencies, segment_dependencies
from profile_migrations.handlers.observability import emit_counters, logger, metrics, turn_of
from profile_migrations.logic.turns import migrate_turn
from profile_migrations.models.pipeline import SegmentTask

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: LambdaContext, deps: SegmentDependencies | None = None
) -> dict[str, Any]:
    deps = deps or segment_dependencies()
    task = SegmentTask.model_validate(event)
    logger.append_keys(run_id=task.run_id, segment=task.segment, invocation=task.invocation)
    turn = turn_of(context, deps.settings.stop_margin_seconds)
    next_task, this_turn = migrate_turn(
        task, deps.registry, deps.store, deps.records, deps.control, turn
    )
    # This turn's own counts only: a resumed segment's earlier totals were emitted by the
    # turns that counted them.
    emit_counters(deps.settings.table_name, task.run_id, task.segment, this_turn, task.dry_run)
    return next_task.to_wire()
