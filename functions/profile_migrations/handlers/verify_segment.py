"""One turn of a segment's verification loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.handlers import dependencies
from profile_migrations.handlers.observability import logger, turn_of
from profile_migrations.logic.turns import verify_turn
from profile_migrations.models.pipeline import VerifyTask
from profile_migrations.settings import segment_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.logic.ports import ControlStore, ProfileStore, RunRecordStore
    from profile_migrations.settings import SegmentSettings


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    settings: SegmentSettings | None = None,
    store: ProfileStore | None = None,
    records: RunRecordStore | None = None,
    control: ControlStore | None = None,
) -> dict[str, Any]:
    settings = settings or segment_settings()
    task = VerifyTask.model_validate(event)
    logger.append_keys(run_id=task.run_id, segment=task.segment, invocation=task.invocation)
    next_task = verify_turn(
        task,
        store or dependencies.profile_table(settings.table_name),
        records or dependencies.run_records(settings.report_bucket),
        control or dependencies.control_table(settings.control_table),
        turn_of(context, settings.stop_margin_seconds),
    )
    return next_task.to_wire()
