"""Aggregate state: the run's final response document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.handlers.dependencies import AggregateDependencies, aggregate_dependencies
from profile_migrations.handlers.observability import logger
from profile_migrations.logic.pipeline import aggregate_run
from profile_migrations.models.pipeline import AggregateEvent

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: LambdaContext, deps: AggregateDependencies | None = None
) -> dict[str, Any]:
    deps = deps or aggregate_dependencies()
    plan = AggregateEvent.model_validate(event).plan
    logger.append_keys(run_id=plan.run_id)
    return aggregate_run(plan, deps.records, deps.control).to_wire()
