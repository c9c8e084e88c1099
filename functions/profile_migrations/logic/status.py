"""What `profile-migrate status` reports: how many profiles are at each version (a parallel
scan of the keys and ``version``), and the table's runs as the control table records them.

Read-only: nothing here writes, to the profile table or to the control table.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from profile_migrations.clock import iso_timestamp
from profile_migrations.codec import deserialize_item
from profile_migrations.errors import ProfileMigrationError
from profile_migrations.logic.lifecycle import _owner_is_dead_here, resumable_run
from profile_migrations.logic.segment import PageReader, SegmentScan
from profile_migrations.models.commands import RunningRun, RunProgress, UnfinishedRun
from profile_migrations.models.records import Checkpoint
from profile_migrations.versions import VERSION_ATTRIBUTE, profile_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from profile_migrations.logic.ports import ControlStore, ProfileStore
    from profile_migrations.models.records import LockInfo, RunHistoryEntry
    from profile_migrations.store import RawItem

logger = logging.getLogger(__name__)

INVALID_VERSION = "invalid"
FINISHED_OUTCOMES = ("succeeded", "failed")


@dataclass
class VersionCounts:
    """Profiles per version (a missing ``version`` counted as 1), ``invalid`` those whose
    ``version`` is not a positive whole number (or cannot be read), and the RCU the scan
    consumed."""

    by_version: dict[int, int] = field(default_factory=dict)
    invalid: int = 0
    consumed_read_capacity_units: float = 0.0

    def add(self, other: VersionCounts) -> None:
        for version, count in other.by_version.items():
            self.by_version[version] = self.by_version.get(version, 0) + count
        self.invalid += other.invalid
        self.consumed_read_capacity_units += other.consumed_read_capacity_units

    @property
    def total(self) -> int:
        return sum(self.by_version.values()) + self.invalid

    def below(self, target_version: int) -> int:
        return sum(count for version, count in self.by_version.items() if version < target_version)

    def to_rows(self) -> dict[str, int]:
        """``{"1": n, "2": n, ..., "invalid": n}``: the versions found, in order, then
        ``invalid`` when any was."""
        rows = {str(version): self.by_version[version] for version in sorted(self.by_version)}
        if self.invalid:
            rows[INVALID_VERSION] = self.invalid
        return rows


def count_versions(
    store: ProfileStore,
    total_segments: int,
    key_attributes: tuple[str, ...],
    workers: int,
    page_limit: int | None = None,
) -> VersionCounts:
    """Count every profile of the table by version: ``total_segments`` parallel-scan
    segments, ``workers`` at a time, eventually consistent pages of the key attributes and
    ``version`` only (billed as a scan of the whole items: 0.5 RCU per 4 KB). The counts
    are a moment's view: profiles written during the scan may be counted at either
    version. Raises what the store raises when it stays unavailable."""
    projection = tuple(dict.fromkeys((*key_attributes, VERSION_ATTRIBUTE)))

    def work(segment: int) -> VersionCounts:
        counts = VersionCounts()
        reader = PageReader(
            SegmentScan(store, segment, total_segments, page_limit=page_limit),
            projection=projection,
        )
        cursor = None
        while True:
            page = reader.read(cursor)
            for item in page.items:
                version = _version_of(item)
                if version is None:
                    counts.invalid += 1
                else:
                    counts.by_version[version] = counts.by_version.get(version, 0) + 1
            cursor = page.last_evaluated_key
            if cursor is None:
                counts.consumed_read_capacity_units = reader.consumed
                return counts

    totals = VersionCounts()
    with ThreadPoolExecutor(max_workers=max(1, min(workers, total_segments))) as pool:
        for counts in pool.map(work, range(total_segments)):
            totals.add(counts)
    logger.info(
        "versions counted",
        extra={"segments": total_segments, "profiles": totals.total, "invalid": totals.invalid},
    )
    return totals


def _version_of(item: RawItem) -> int | None:
    try:
        return profile_version(deserialize_item(item))
    except ProfileMigrationError:
        return None


@dataclass(frozen=True)
class RunState:
    """The table's runs: the one holding its lock and perhaps still running, the
    unfinished one ``run --resume`` would continue (when not that one), the last
    finished one (succeeded or failed)."""

    running: RunningRun | None = None
    unfinished: UnfinishedRun | None = None
    last_run: RunHistoryEntry | None = None


def run_state(control: ControlStore, table: str, now: Callable[[], float] = time.time) -> RunState:
    """What the control table says of ``table``'s runs. A lock whose holder cannot be
    running any more (a process of this host that has exited, or a lease that has
    expired) is no run in progress: its run is the unfinished one."""
    history = control.history(table)
    held = control.read_lock(table)
    running = None
    if held is not None and _may_be_running(held, now()):
        entry = next((run for run in history if run.run_id == held.run_id), None)
        running = RunningRun(
            run_id=held.run_id,
            holder=held.owner,
            since=held.acquired_at,
            lease_expires_at=iso_timestamp(datetime.fromtimestamp(held.expires_at, UTC)),
            target_version=entry.target_version if entry else None,
            progress=_progress(control, held.run_id, entry),
        )
    unfinished = None
    resumable = resumable_run(control, table)
    if resumable is not None and (running is None or resumable.run_id != running.run_id):
        unfinished = UnfinishedRun(
            run_id=resumable.run_id,
            target_version=resumable.target_version,
            started_at=resumable.started_at,
            outcome=resumable.outcome,
            last_owner=resumable.parts[-1].owner if resumable.parts else resumable.owner,
            progress=_progress(control, resumable.run_id, resumable),
        )
    last_run = next((run for run in history if run.outcome in FINISHED_OUTCOMES), None)
    return RunState(running, unfinished, last_run)


def _may_be_running(held: LockInfo, now: float) -> bool:
    return held.expires_at > now and not _owner_is_dead_here(held.owner)


def _progress(control: ControlStore, run_id: str, entry: RunHistoryEntry | None) -> RunProgress:
    """How far a run's migration got, from its segments' checkpoints."""
    checkpoints = control.checkpoints(Checkpoint, run_id).values()
    progress = RunProgress(
        total_segments=entry.total_segments if entry else None,
        segments_done=sum(1 for checkpoint in checkpoints if checkpoint.done),
    )
    for checkpoint in checkpoints:
        counters = checkpoint.counters
        progress.scanned += counters.scanned
        progress.migrated += counters.migrated
        progress.failed += counters.failed
        progress.skipped += counters.skipped
    return progress
