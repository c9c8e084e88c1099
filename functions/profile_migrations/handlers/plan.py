"""Plan state: validate the execution input and lay out the segments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.dal.control import ControlTable
from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.handlers.observability import logger
from profile_migrations.loader import load_registry
from profile_migrations.logic.pipeline import plan_run
from profile_migrations.models.pipeline import PlanEvent
from profile_migrations.settings import LambdaSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.logic.ports import ControlStore, ProtectableStore


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    settings: LambdaSettings | None = None,
    store: ProtectableStore | None = None,
    control: ControlStore | None = None,
) -> dict[str, Any]:
    settings = settings or LambdaSettings.from_environ()
    client = make_dynamodb_client()
    plan = plan_run(
        PlanEvent.model_validate(event),
        load_registry(settings.migrations_module),
        store or ProfileTable(client, settings.table_name),
        control or ControlTable(client, settings.control_table_name()),
        settings.max_concurrency_limit,
    )
    return plan.to_wire()
