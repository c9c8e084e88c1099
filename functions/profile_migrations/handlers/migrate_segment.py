"""One turn of a segment's loop: migrate pages until the segment ends or time runs short."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.dal.control import ControlTable
from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.dal.s3 import RunRecords, make_s3_client
from profile_migrations.handlers.observability import emit_counters, logger, metrics
from profile_migrations.logic.pipeline import migrate_pages
from profile_migrations.models import SegmentTask
from profile_migrations.registry import load_registry
from profile_migrations.settings import LambdaSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.logic.guard import ControlStore
    from profile_migrations.logic.ports import ProfileStore


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    settings: LambdaSettings | None = None,
    store: ProfileStore | None = None,
    records: RunRecords | None = None,
    control: ControlStore | None = None,
) -> dict[str, Any]:
    settings = settings or LambdaSettings.from_environ()
    task = SegmentTask.model_validate(event)
    logger.append_keys(run_id=task.run_id, segment=task.segment, invocation=task.invocation)
    margin_ms = settings.stop_margin_seconds * 1000
    client = make_dynamodb_client()
    next_task, record = migrate_pages(
        task,
        load_registry(settings.migrations_module),
        store or ProfileTable(client, settings.table_name),
        records or RunRecords(make_s3_client(), settings.bucket()),
        control or ControlTable(client, settings.control_table_name()),
        should_continue=lambda: context.get_remaining_time_in_millis() > margin_ms,
    )
    emit_counters(settings.table_name, task.run_id, task.segment, record.counters, task.dry_run)
    return next_task.to_wire()
