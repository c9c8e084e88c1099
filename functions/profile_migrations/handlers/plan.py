"""Plan state: validate the execution input and lay out the segments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.handlers import dependencies
from profile_migrations.handlers.observability import logger
from profile_migrations.logic.pipeline import plan_run
from profile_migrations.models.pipeline import PlanEvent
from profile_migrations.settings import plan_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.logic.ports import ControlStore, ProtectableStore
    from profile_migrations.settings import PlanSettings


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    settings: PlanSettings | None = None,
    store: ProtectableStore | None = None,
    control: ControlStore | None = None,
) -> dict[str, Any]:
    settings = settings or plan_settings()
    plan = plan_run(
        PlanEvent.model_validate(event),
        dependencies.registry(settings.migrations_module),
        store or dependencies.profile_table(settings.table_name),
        control or dependencies.control_table(settings.control_table),
        settings.max_concurrency_limit,
    )
    return plan.to_wire()
