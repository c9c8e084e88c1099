"""One turn of a segment's verification loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.handlers.dependencies import SegmentDependencies, segment_dependencies
from profile_migrations.handlers.observability import logger, turn_of
from profile_migrations.logic.turns import verify_turn
from profile_migrations.models.pipeline import VerifyTask

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: LambdaContext, deps: SegmentDependencies | None = None
) -> dict[str, Any]:
    deps = deps or segment_dependencies()
    task = VerifyTask.model_validate(event)
    logger.append_keys(run_id=task.run_id, segment=task.segment, invocation=task.invocation)
    turn = turn_of(context, deps.settings.stop_margin_seconds)
    return verify_turn(task, deps.store, deps.records, deps.control, turn).to_wire()
