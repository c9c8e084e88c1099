"""A rollback as a run: which run it undoes, its lock, history entry, checkpoints and
document; the undoing itself is logic/rollback.py's.

A rollback takes the table's lock like a run (it is a run, ``kind`` ``"rollback"`` in the
history, naming the run it undoes), follows the caps on the lock (``profile-migrate
throttle``), checkpoints how far it got in each journal, and ``--resume`` continues the
newest unfinished rollback of the same run. A dry run reads each item and reports what a
rollback would do, takes no lock and records nothing.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from profile_migrations import environment
from profile_migrations.clock import now_timestamp
from profile_migrations.environment import PIPELINE_WHERE
from profile_migrations.errors import InvalidRequestError, RunLockedError, StoreUnavailableError
from profile_migrations.logic.journal import lines_backwards, undos_backwards
from profile_migrations.logic.lifecycle import (
    RESUMABLE_OUTCOMES,
    caps_in_lock,
    forget_steps,
    keep_lease,
    release_if_dead_here,
)
from profile_migrations.logic.pacing import Caps, Pacing, caps_for, following
from profile_migrations.logic.rollback import FAILED, Undoer, UndoOutcome, undo_journal
from profile_migrations.logic.summary import first_by_key, stopped_early
from profile_migrations.models.limits import RESULTS_CAP
from profile_migrations.models.records import (
    LockInfo,
    RollbackCheckpoint,
    RunHistoryEntry,
    RunPart,
)
from profile_migrations.models.results import (
    MigrationResponse,
    ProfileResult,
    RollbackCounters,
    RollbackSummary,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from profile_migrations.logic.lifecycle import Protection
    from profile_migrations.logic.ports import ControlStore, DescribableStore

logger = logging.getLogger(__name__)

DEFAULT_ROLLBACK_WORKERS = 4


@dataclass(frozen=True)
class LocalRollback:
    """One rollback of run ``run_id`` of ``store``'s table, from the local journal files
    its parts recorded: ``protection`` says who takes the lock (its ``backup`` and
    ``allow_changed`` are not used; ``resume`` continues the newest unfinished rollback of
    the run), ``record`` receives each undone write's outcome (the report, read back at
    ``report_uri``), ``workers`` batches are in flight at once, ``caps`` cap its writes
    (None: half the provisioned write capacity of a provisioned table, else none);
    setting ``stop`` stops it between groups of writes, resumable."""

    run_id: str
    store: DescribableStore
    protection: Protection
    record: Callable[[Sequence[UndoOutcome]], None]
    report_uri: str | None = None
    workers: int = DEFAULT_ROLLBACK_WORKERS
    caps: Caps | None = None
    dry_run: bool = False
    stop: threading.Event | None = None


def undone_run(control: ControlStore, table: str, run_id: str) -> RunHistoryEntry:
    """The history entry of the real run ``run_id`` of ``table``, when it may be undone.
    Raises :class:`InvalidRequestError` when the history has no such run (or it names a
    rollback, which is not undone in turn: run the migration again instead), or when a
    run that began after it and wrote has not been rolled back: rollbacks go newest run
    first, since a later run may have written the very values this one did, and undoing
    the older one would then undo the newer one's writes."""
    history = control.history(table) if control.exists() else []
    found = next((entry for entry in history if entry.run_id == run_id), None)
    if found is not None and found.kind == "rollback":
        raise InvalidRequestError(
            f"{run_id} is a rollback (of run {found.rolls_back}); a rollback is not undone "
            "in turn: run the migration again instead"
        )
    if found is None or found.dry_run:
        raise InvalidRequestError(
            f"table {table!r} has no recorded run {run_id!r} to roll back; "
            f"`profile-migrate history --table {table}` lists its runs"
        )
    newer = [
        entry
        for entry in history
        if entry.kind == "migration"
        and not entry.dry_run
        and entry.started_at > found.started_at
        and entry.outcome != "rolled-back"
    ]
    if newer:
        raise InvalidRequestError(
            f"run {newer[-1].run_id} began after run {run_id} and has not been rolled back; "
            f"roll back the newest run first ({newer[0].run_id}), then the older ones"
        )
    return found


def journal_files(entry: RunHistoryEntry) -> list[Path]:
    """The local journal files of the run's parts, oldest first (parts that shared one file
    give it once). Raises :class:`InvalidRequestError` when a part kept no journal, kept it
    elsewhere than in a local file (a pipeline run: roll it back with a rollback
    execution), or its file is gone or shorter than the part left it (damaged); the
    message names the run's backup, the fallback."""
    files: list[Path] = []
    fallback = (
        f"restore the table from the run's backup ({entry.backup})"
        if entry.backup
        else "restore the table from a backup taken before it"
    )
    for number, part in enumerate(entry.parts, start=1):
        uri = part.journal_uri
        where = f"part {number} of run {entry.run_id} ({part.owner}, {part.started_at})"
        if part.where == PIPELINE_WHERE or (uri is not None and not uri.startswith("file:")):
            raise InvalidRequestError(
                f"{where} ran in the pipeline and journaled its writes in the report bucket: "
                f'roll it back with a rollback execution (input {{"rollback": "{entry.run_id}"}})'
            )
        if uri is None:
            raise InvalidRequestError(
                f"{where} kept no journal, so it cannot be undone item by item; {fallback}"
            )
        path = Path(unquote(urlparse(uri).path))
        if not path.is_file():
            raise InvalidRequestError(
                f"{where} kept its journal at {path}, which is gone (or not on this machine); "
                f"it cannot be undone item by item; {fallback}"
            )
        size = path.stat().st_size
        if part.journal_bytes is not None and size < part.journal_bytes:
            raise InvalidRequestError(
                f"{where} left its journal at {path} {part.journal_bytes:,} bytes long; it is "
                f"{size:,} bytes now, so it is damaged and some writes could not be undone; "
                f"restore it from a copy, or {fallback}"
            )
        # Parts given the same report path append to one journal: undo it once.
        if path not in files:
            files.append(path)
    return files


def new_rollback_id() -> str:
    return f"rollback-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class _Progress:
    counters: RollbackCounters = field(default_factory=RollbackCounters)
    failures: list[ProfileResult] = field(default_factory=list)
    complete: bool = False
    stop: tuple[str, str] | None = None

    def end(self, interrupted: bool) -> RollbackEnd:
        return RollbackEnd(self.counters, self.failures, self.complete, self.stop, interrupted)


def rollback_local(rollback: LocalRollback) -> MigrationResponse:
    """Undo the run ``rollback.run_id``; the rollback's document (``summary`` a
    :class:`RollbackSummary`; ``success`` when every write was dealt with and none
    failed). Raises :class:`MigrationInputError` before writing anything when the run is
    unknown, cannot be undone from here (no journal, a journal gone) or the table is
    locked by another run. DynamoDB staying unavailable, a lost lock or ``stop`` end it
    early, resumable (``resumable: true``; ``--resume`` continues)."""
    table = rollback.store.describe()
    control = rollback.protection.control
    entry = undone_run(control, table.name, rollback.run_id)
    journals = journal_files(entry)
    asked = rollback.caps
    if rollback.protection.resume and (asked is None or asked.write is None):
        previous = _unfinished_rollback(control, table.name, entry.run_id)
        if previous is not None:
            asked = Caps(previous.max_write_capacity, None)
    pacing = Pacing.of(caps_for(table, asked), workers=rollback.workers)
    progress = _Progress()
    record = partial(_record, rollback.record, progress, entry)
    undoer = Undoer(
        rollback.store,
        table.key_attributes,
        record,
        pacer=pacing.write,
        workers=rollback.workers,
        dry_run=rollback.dry_run,
        abandon=lambda: pacing.write.rate == 0 and _stopping(rollback),
    )
    if rollback.dry_run:
        _undo_parts(journals, undoer, progress, {}, None, lambda: not _stopping(rollback))
        return rollback_document(
            entry.run_id,
            None,
            progress.end(_stopping(rollback)),
            rollback.report_uri,
            pacing.caps,
            dry_run=True,
        )
    own = begin_rollback(
        rollback.protection, table.name, entry, len(journals), pacing.caps, new_rollback_id()
    )
    checkpoints = control.checkpoints(RollbackCheckpoint, own.run_id) if own.resumed else {}
    lock_caps = partial(caps_in_lock, control, table.name, rollback.protection.owner)
    with keep_lease(rollback.protection, table.name) as lock_lost, following(lock_caps, pacing):
        _undo_parts(
            journals,
            undoer,
            progress,
            checkpoints,
            partial(control.save_checkpoint, own.run_id),
            lambda: not (_stopping(rollback) or lock_lost.is_set()),
        )
        if lock_lost.is_set() and not progress.complete:
            progress.stop = (
                RunLockedError.__name__,
                "the rollback lost its lock (released by `unlock`?) and stopped",
            )
    response = rollback_document(
        entry.run_id,
        own.run_id,
        progress.end(_stopping(rollback)),
        rollback.report_uri,
        pacing.caps,
    )
    finish_rollback(rollback.protection, own.entry, response, progress.counters)
    if own.resumed:
        response.message = f"Resumed rollback {own.run_id}. {response.message}"
    return response


def _stopping(rollback: LocalRollback) -> bool:
    return rollback.stop is not None and rollback.stop.is_set()


def _record(
    sink: Callable[[Sequence[UndoOutcome]], None],
    progress: _Progress,
    entry: RunHistoryEntry,
    outcomes: Sequence[UndoOutcome],
) -> None:
    sink(outcomes)
    room = RESULTS_CAP - len(progress.failures)
    for outcome in outcomes:
        if outcome.status == FAILED and room > 0:
            room -= 1
            progress.failures.append(outcome.to_result(entry.target_version))


def _undo_parts(
    journals: list[Path],
    undoer: Undoer,
    progress: _Progress,
    checkpoints: dict[int, RollbackCheckpoint],
    save: Callable[[RollbackCheckpoint], None] | None,
    should_continue: Callable[[], bool],
) -> None:
    """Undo every part's journal, the newest part first, each from its checkpoint."""
    for index in reversed(range(len(journals))):
        checkpoint = checkpoints.get(index)
        base = checkpoint.counters if checkpoint else RollbackCounters()
        if checkpoint is not None and checkpoint.done:
            progress.counters.add(base)
            continue
        end = int(checkpoint.position) if checkpoint and checkpoint.position else None

        try:
            counts, finished = undo_journal(
                undos_backwards(lines_backwards(journals[index], end)),
                undoer,
                partial(_save_progress, save, index, base),
                should_continue,
            )
        except StoreUnavailableError as exc:
            progress.counters.add(base)
            progress.stop = (type(exc).__name__, str(exc))
            return
        totals = base.model_copy()
        totals.add(counts)
        progress.counters.add(totals)
        if not finished:
            return
        if save is not None:
            save(RollbackCheckpoint(segment=index, position=None, done=True, counters=totals))
    progress.complete = True


def _save_progress(
    save: Callable[[RollbackCheckpoint], None] | None,
    index: int,
    base: RollbackCounters,
    offset: int,
    counts: RollbackCounters,
) -> None:
    if save is None:
        return
    totals = base.model_copy()
    totals.add(counts)
    save(RollbackCheckpoint(segment=index, position=str(offset), done=False, counters=totals))


@dataclass(frozen=True)
class RollbackBegun:
    """The rollback's own run: its history entry, and whether it resumed an earlier one."""

    entry: RunHistoryEntry
    resumed: bool

    @property
    def run_id(self) -> str:
        return self.entry.run_id


def begin_rollback(
    protection: Protection,
    table: str,
    undone: RunHistoryEntry,
    parts: int,
    caps: Caps,
    new_id: str,
) -> RollbackBegun:
    """Take the table's lock for a rollback of ``undone`` and record it in the history
    (``kind`` ``"rollback"``, ``parts`` journals: its segments' count): a new rollback
    ``new_id``, or with ``protection.resume`` the newest unfinished rollback of that run,
    with a new part. Raises :class:`RunLockedError` when another owner holds the lock.
    The control table exists: ``undone`` was read from it."""
    control = protection.control
    previous = None
    if protection.resume:
        previous = _unfinished_rollback(control, table, undone.run_id)
    run_id = previous.run_id if previous is not None else new_id
    release_if_dead_here(control, table)
    control.acquire_lock(
        LockInfo(
            table=table,
            run_id=run_id,
            owner=protection.owner,
            acquired_at=now_timestamp(),
            expires_at=_expiry(protection.lease_seconds),
            max_write_capacity=caps.write,
            max_read_capacity=caps.read,
        )
    )
    part = RunPart(owner=protection.owner, where=protection.where, started_at=now_timestamp())
    if previous is not None:
        entry = previous.model_copy(
            update={"outcome": "running", "ended_at": None, "parts": [*previous.parts, part]}
        )
    else:
        entry = RunHistoryEntry(
            run_id=run_id,
            table=table,
            owner=protection.owner,
            where=protection.where,
            target_version=undone.target_version,
            dry_run=False,
            total_segments=parts,
            started_at=now_timestamp(),
            step_checksums={},
            parts=[part],
            max_write_capacity=caps.write,
            kind="rollback",
            rolls_back=undone.run_id,
        )
    control.record_run(entry)
    # The run is being undone: `run --resume` must not continue it over restored profiles.
    if undone.outcome != "rolled-back":
        control.record_run(undone.model_copy(update={"outcome": "rolled-back"}))
    logger.info(
        "rollback begun",
        extra={"table": table, "run_id": run_id, "rolls_back": undone.run_id},
    )
    return RollbackBegun(entry, previous is not None)


def _expiry(lease_seconds: float) -> float:
    return time.time() + lease_seconds


def _unfinished_rollback(control: ControlStore, table: str, undone: str) -> RunHistoryEntry | None:
    for entry in control.history(table):
        if entry.kind == "rollback" and entry.rolls_back == undone:
            return entry if entry.outcome in RESUMABLE_OUTCOMES else None
    return None


def finish_rollback(
    protection: Protection,
    entry: RunHistoryEntry,
    response: MigrationResponse,
    counters: RollbackCounters,
) -> None:
    """Record how this part of the rollback ended (outcome, counts, end time); when it
    ended with no profile left holding the run's writes, forget the steps the run first
    applied; then release the table's lock if this part's owner holds it."""
    ended_at = now_timestamp()
    if response.success:
        outcome = "succeeded"
    elif response.resumable:
        outcome = "stopped"
    else:
        outcome = "failed"
    parts = list(entry.parts)
    parts[-1] = parts[-1].model_copy(update={"ended_at": ended_at, "outcome": outcome})
    protection.control.record_run(
        entry.model_copy(
            update={
                "outcome": outcome,
                "ended_at": ended_at,
                "parts": parts,
                "rollback_counters": counters,
                "max_write_capacity": response.summary.max_write_capacity
                if response.summary
                else entry.max_write_capacity,
            }
        )
    )
    if response.resumable is not True and counters.kept == 0 and counters.failed == 0:
        forget_steps(protection.control, entry.table, entry.rolls_back)
    protection.control.release_lock(entry.table, protection.owner)


@dataclass(frozen=True)
class RollbackEnd:
    """How a rollback (or one execution's part of it) ended, for its document: its
    counts, its first failures, whether every journal was undone to its start, and what
    stopped it early (an error type and message; ``interrupted``: Ctrl-C)."""

    counters: RollbackCounters
    failures: list[ProfileResult]
    complete: bool
    stop: tuple[str, str] | None = None
    interrupted: bool = False


def rollback_document(
    undone: str,
    own_id: str | None,
    end: RollbackEnd,
    report_uri: str | None,
    caps: Caps,
    dry_run: bool = False,
) -> MigrationResponse:
    """A rollback's document (a run's shape; ``summary`` a :class:`RollbackSummary`):
    ``success`` when every journal was undone and no write failed; a rollback stopped
    early is ``resumable`` (not a dry run)."""
    counters = end.counters
    failures = first_by_key(end.failures)
    summary = RollbackSummary(
        total_profiles=counters.total,
        success_count=counters.restored,
        failure_count=counters.failed,
        skipped_count=counters.kept + counters.missing + counters.already_restored,
        results=failures,
        results_truncated=counters.failed > len(failures),
        report_uri=report_uri,
        dry_run=dry_run,
        consumed_write_capacity_units=round(counters.consumed_write_capacity_units, 1),
        consumed_read_capacity_units=round(counters.consumed_read_capacity_units, 1),
        max_write_capacity=caps.write,
        max_read_capacity=caps.read,
        restored_count=counters.restored,
        kept_count=counters.kept,
        missing_count=counters.missing,
        already_restored_count=counters.already_restored,
    )
    message = _sentence(undone, counters, dry_run)
    error_type = environment.RUN_ERROR_PROFILES_FAILED if counters.failed else None
    response = MigrationResponse(
        success=error_type is None,
        message=message,
        run_id=own_id,
        rolls_back=undone,
        summary=summary,
        error=None if error_type is None else f"{error_type}: {message}",
        error_type=error_type,
    )
    if end.stop is not None:
        stopped_early(response, *end.stop)
    elif end.interrupted and not end.complete:
        stopped_early(
            response,
            environment.RUN_ERROR_INTERRUPTED,
            "stopped on request (Ctrl-C) after the writes in hand; `rollback --resume` "
            "continues it",
        )
    elif not end.complete:
        stopped_early(
            response,
            environment.RUN_ERROR_SEGMENTS_UNFINISHED,
            "the rollback did not reach the start of every journal; resume it to continue",
        )
    if not end.complete and not dry_run:
        response.resumable = True
    return response


def _sentence(run_id: str, counters: RollbackCounters, dry_run: bool) -> str:
    others = (
        f"{counters.kept:,} kept (changed since by the application), "
        f"{counters.missing:,} missing (deleted since), "
        f"{counters.already_restored:,} already restored; {counters.failed:,} failed."
    )
    if dry_run:
        return (
            f"Dry run of the rollback of run {run_id}: {counters.restored:,} profile(s) would "
            f"be restored; {others} Nothing was written."
        )
    return f"Rolled back run {run_id}: restored {counters.restored:,} profile(s); {others}"
