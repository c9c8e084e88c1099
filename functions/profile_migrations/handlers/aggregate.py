"""Aggregate state: the run's final response document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.handlers import dependencies
from profile_migrations.handlers.observability import logger
from profile_migrations.logic.pipeline import aggregate_run
from profile_migrations.models.pipeline import AggregateEvent
from profile_migrations.settings import aggregate_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.logic.ports import ControlStore, RunRecordStore
    from profile_migrations.settings import AggregateSettings


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    settings: AggregateSettings | None = None,
    records: RunRecordStore | None = None,
    control: ControlStore | None = None,
) -> dict[str, Any]:
    settings = settings or aggregate_settings()
    plan = AggregateEvent.model_validate(event).plan
    logger.append_keys(run_id=plan.run_id)
    response = aggregate_run(
        plan,
        records or dependencies.run_records(settings.report_bucket),
        control or dependencies.control_table(settings.control_table),
    )
    return response.to_wire()
