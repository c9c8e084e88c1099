"""The local runner: the whole job in one process, segments in a thread pool.

Order of work: validate the request against the registry, read the table's key schema,
migrate every segment (unless verify-only), then verify every segment (unless dry run).
Anything wrong with the request is raised before the first read.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from profile_migrations.clock import now_timestamp
from profile_migrations.logic.segment import MigrationJob, SegmentRun, migrate_segment
from profile_migrations.logic.summary import build_response, summarize, verification_of
from profile_migrations.logic.verify import VerifyRun, verify_segment
from profile_migrations.models import SegmentCounters

if TYPE_CHECKING:
    from collections.abc import Callable

    from profile_migrations.dal.dynamodb import TableInfo
    from profile_migrations.logic.ports import DescribableStore, OutcomeSink, ProfileStore
    from profile_migrations.models import MigrationResponse, RunRequest, Summary, Verification
    from profile_migrations.registry import Registry

logger = logging.getLogger(__name__)

ITEMS_PER_LOCAL_SEGMENT = 5_000
MAX_LOCAL_SEGMENTS = 16
DEFAULT_LOCAL_WORKERS = 4
MIGRATE_PHASE = "migrate"
DRY_RUN_PHASE = "dry run"
VERIFY_PHASE = "verify"

T = TypeVar("T")


class RunListener(Protocol):
    """Progress callbacks; the CLI draws bars from them. Called from worker threads."""

    def phase_started(self, phase: str, segments: int, estimated_items: int) -> None: ...

    def page_done(self, phase: str, segment: int, items: int) -> None: ...

    def phase_finished(self, phase: str) -> None: ...


@dataclass(frozen=True)
class LocalRunOptions:
    workers: int = DEFAULT_LOCAL_WORKERS
    page_limit: int | None = None


def default_local_segments(item_count: int) -> int:
    """About 5,000 items a segment, at most 16: enough to keep the thread pool busy."""
    return max(1, min(MAX_LOCAL_SEGMENTS, math.ceil(item_count / ITEMS_PER_LOCAL_SEGMENT)))


def _each_segment(
    segments: int,
    workers: int,
    work: Callable[[int], T],
    phase: str,
    listener: RunListener | None,
    estimated_items: int,
) -> list[T]:
    if listener is not None:
        listener.phase_started(phase, segments, estimated_items)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, segments))) as pool:
        results = list(pool.map(work, range(segments)))
    if listener is not None:
        listener.phase_finished(phase)
    return results


def run_local(
    request: RunRequest,
    registry: Registry,
    store: DescribableStore,
    sink: OutcomeSink,
    report_uri: str | None,
    options: LocalRunOptions | None = None,
    listener: RunListener | None = None,
    started_at: str | None = None,
) -> MigrationResponse:
    """Run a whole migration (or dry run, or verification) against one table.

    Raises :class:`MigrationInputError` before any read or write when the request cannot
    run. A run cut short by persistent throttling returns its partial counts with
    ``success: false`` and an ``error``; running again continues safely.
    """
    options = options or LocalRunOptions()
    target = request.target_version or registry.current_version
    registry.chain.check_target(target)
    table = store.describe()
    segments = request.total_segments or default_local_segments(table.item_count)
    logger.info(
        "run started",
        extra={
            "table": table.name,
            "target_version": target,
            "segments": segments,
            "dry_run": request.dry_run,
            "verify_only": request.verify_only,
        },
    )
    summary: Summary | None = None
    verification: Verification | None = None
    errors: list[str] = []
    if not request.verify_only:
        job = MigrationJob(
            chain=registry.chain,
            target_version=target,
            key_attributes=table.key_attributes,
            dry_run=request.dry_run,
            started_at=started_at or now_timestamp(),
        )
        summary, errors = _migrate_all(
            job, store, sink, report_uri, segments, table, options, listener
        )
    if not request.dry_run and not errors:
        verification, errors = _verify_all(target, store, segments, table, options, listener)
    response = build_response(target, summary, verification)
    if errors:
        response.success = False
        response.error = "StoreUnavailableError: " + errors[0]
    logger.info("run finished", extra={"table": table.name, "success": response.success})
    return response


def _migrate_all(
    job: MigrationJob,
    store: ProfileStore,
    sink: OutcomeSink,
    report_uri: str | None,
    segments: int,
    table: TableInfo,
    options: LocalRunOptions,
    listener: RunListener | None,
) -> tuple[Summary, list[str]]:
    phase = DRY_RUN_PHASE if job.dry_run else MIGRATE_PHASE

    def on_page(segment: int, counters: SegmentCounters) -> None:
        if listener is not None:
            listener.page_done(phase, segment, counters.scanned)

    def work(segment: int) -> SegmentRun:
        return migrate_segment(
            store, job, sink, segment, segments, page_limit=options.page_limit, on_page=on_page
        )

    runs = _each_segment(segments, options.workers, work, phase, listener, table.item_count)
    totals = SegmentCounters()
    for run in runs:
        totals.add(run.counters)
    failures = [failure.to_result() for run in runs for failure in run.failures]
    summary = summarize(totals, failures, report_uri, job.dry_run)
    return summary, [run.error for run in runs if run.error is not None]


def _verify_all(
    target: int,
    store: ProfileStore,
    segments: int,
    table: TableInfo,
    options: LocalRunOptions,
    listener: RunListener | None,
) -> tuple[Verification, list[str]]:
    def on_page(segment: int, items: int) -> None:
        if listener is not None:
            listener.page_done(VERIFY_PHASE, segment, items)

    def work(segment: int) -> VerifyRun:
        return verify_segment(
            store,
            target,
            table.key_attributes,
            segment,
            segments,
            page_limit=options.page_limit,
            on_page=on_page,
        )

    runs = _each_segment(segments, options.workers, work, VERIFY_PHASE, listener, table.item_count)
    verification = verification_of(
        checked=sum(run.checked for run in runs),
        invalid_count=sum(run.invalid_count for run in runs),
        invalid=[entry for run in runs for entry in run.invalid],
    )
    return verification, [run.error for run in runs if run.error is not None]
