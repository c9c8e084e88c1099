"""Aggregate state: the run's final response document, in the seed's format."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.dal.control import ControlTable
from profile_migrations.dal.dynamodb import make_dynamodb_client
from profile_migrations.dal.s3 import RunRecords, make_s3_client
from profile_migrations.handlers.observability import logger
from profile_migrations.logic.pipeline import aggregate_run
from profile_migrations.models.pipeline import AggregateEvent
from profile_migrations.settings import LambdaSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.logic.ports import ControlStore, RunRecordStore


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    settings: LambdaSettings | None = None,
    records: RunRecordStore | None = None,
    control: ControlStore | None = None,
) -> dict[str, Any]:
    settings = settings or LambdaSettings.from_environ()
    plan = AggregateEvent.model_validate(event).plan
    logger.append_keys(run_id=plan.run_id)
    response = aggregate_run(
        plan,
        records or RunRecords(make_s3_client(), settings.bucket()),
        control or ControlTable(make_dynamodb_client(), settings.control_table_name()),
    )
    return response.to_wire()
