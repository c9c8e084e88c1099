"""Powertools logging and metrics shared by the handlers.

Logic modules log through the standard library; their loggers take Powertools' JSON
configuration here, so every line carries the invocation's keys. Metrics are dimensioned
by table (one run at a time per table), never by segment: a dimension per segment would
bill thousands of custom metrics.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from profile_migrations import environment
from profile_migrations.environment import NAMESPACE, SERVICE
from profile_migrations.logic.turns import Turn

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from profile_migrations.models.pipeline import TurnTask
    from profile_migrations.models.results import SegmentCounters

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
copy_config_to_registered_loggers(source_logger=logger, include={"profile_migrations"})

COUNTER_METRICS = {
    "migrated": environment.METRIC_PROFILES_MIGRATED,
    "failed": environment.METRIC_PROFILES_FAILED,
    "skipped": environment.METRIC_PROFILES_SKIPPED,
    "conflicts": environment.METRIC_CONFLICTS,
    "throttle_retries": environment.METRIC_THROTTLE_RETRIES,
}


def emit_counters(
    table: str, run_id: str, segment: int, counters: SegmentCounters, dry_run: bool
) -> None:
    """Profiles scanned always; the outcome counters only for real runs, so a dry run never
    shows on the dashboard as migrated or failed profiles (nor trips the alarm)."""
    add_table_dimension(table)
    metrics.add_metadata(key="runId", value=run_id)
    metrics.add_metadata(key="segment", value=segment)
    metrics.add_metric(
        name=environment.METRIC_PROFILES_SCANNED, unit=MetricUnit.Count, value=counters.scanned
    )
    if dry_run:
        return
    for field, name in COUNTER_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(counters, field))


def emit_capacity(write_units: float, read_units: float, task: TurnTask) -> None:
    """The capacity a turn consumed (WCU and RCU, summed per period on the dashboard) and
    the run's caps in force at its end (WCU/s, RCU/s; none emitted for no cap). Call after
    :func:`emit_counters` or :func:`add_table_dimension`: same dimension."""
    metrics.add_metric(
        name=environment.METRIC_CONSUMED_WRITE_CAPACITY, unit=MetricUnit.Count, value=write_units
    )
    metrics.add_metric(
        name=environment.METRIC_CONSUMED_READ_CAPACITY, unit=MetricUnit.Count, value=read_units
    )
    for name, cap in (
        (environment.METRIC_MAX_WRITE_CAPACITY, task.max_write_capacity),
        (environment.METRIC_MAX_READ_CAPACITY, task.max_read_capacity),
    ):
        if cap is not None:
            metrics.add_metric(name=name, unit=MetricUnit.CountPerSecond, value=cap)


def add_table_dimension(table: str) -> None:
    metrics.add_dimension(name=environment.METRIC_TABLE_DIMENSION, value=table)


def turn_of(context: LambdaContext, stop_margin_seconds: int) -> Turn:
    """The invocation as a segment turn: its request id, its deadline, and whether more
    than ``stop_margin_seconds`` remain for another page."""
    margin_ms = stop_margin_seconds * 1000
    return Turn(
        holder=context.aws_request_id,
        deadline=time.time() + context.get_remaining_time_in_millis() / 1000,
        should_continue=lambda: context.get_remaining_time_in_millis() > margin_ms,
    )
