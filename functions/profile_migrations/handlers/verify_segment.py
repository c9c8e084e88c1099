"""One turn of a segment's verification loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.dal.control import ControlTable
from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.dal.s3 import RunRecords, make_s3_client
from profile_migrations.handlers.observability import logger, turn_of
from profile_migrations.logic.turns import verify_pages
from profile_migrations.models.pipeline import VerifyTask
from profile_migrations.settings import LambdaSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.logic.ports import ControlStore, ProfileStore, RunRecordStore


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    settings: LambdaSettings | None = None,
    store: ProfileStore | None = None,
    records: RunRecordStore | None = None,
    control: ControlStore | None = None,
) -> dict[str, Any]:
    settings = settings or LambdaSettings.from_environ()
    task = VerifyTask.model_validate(event)
    logger.append_keys(run_id=task.run_id, segment=task.segment, invocation=task.invocation)
    client = make_dynamodb_client()
    next_task = verify_pages(
        task,
        store or ProfileTable(client, settings.table_name),
        records or RunRecords(make_s3_client(), settings.bucket()),
        control or ControlTable(client, settings.control_table_name()),
        turn_of(context, settings.stop_margin_seconds),
    )
    return next_task.to_wire()
