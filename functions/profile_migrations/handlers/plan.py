"""Plan state: validate the execution input and lay out the segments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.handlers.dependencies import PlanDependencies, plan_dependencies
from profile_migrations.handlers.observability import logger
from profile_migrations.logic.pipeline import plan_run
from profile_migrations.models.pipeline import PlanEvent

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: LambdaContext, deps: PlanDependencies | None = None
) -> dict[str, Any]:
    deps = deps or plan_dependencies()
    limit = deps.settings.max_concurrency_limit
    plan = plan_run(PlanEvent.model_validate(event), deps.registry, deps.store, deps.control, limit)
    return plan.to_wire()
