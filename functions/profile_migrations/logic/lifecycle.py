"""One lifecycle for a real run (not a dry run, not verify-only), whichever runner drives
it: the local runner calls :func:`begin`, keeps the lease with :func:`keep_lease`,
checkpoints after every page and calls :func:`finish`; the pipeline's Plan state calls
:func:`begin`, every turn renews the lease and checkpoints, and its Aggregate state calls
:func:`finish`.

:func:`begin`:
1. the control table exists (created on first use);
2. applied steps are checked against the registry's code (a changed step is refused unless
   allowed, as Flyway's validate does);
3. with ``resume``, the table's newest unfinished run is found and must target the same
   version;
4. the table's lock is taken by this part's owner (a local process or an execution); a lock
   held by a process of this host that no longer exists is released first;
5. a new run protects the table (point-in-time recovery, or an on-demand backup) and is
   recorded in the history as ``running``; a resumed run is recorded ``running`` again
   with a new part.

**Resume semantics (both runners alike).** A run keeps one id from its first part to its
end. Resuming it, from the CLI or from an execution, adds a part to its history entry
(owner, where, start, end, outcome), continues its segments from their checkpoints, with
the same target, start time and segment count, and reports under the same run id; so the
history of a resumed run reads the same whichever runner resumed it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from profile_migrations.clock import now_timestamp
from profile_migrations.errors import ChangedStepError, InvalidRequestError
from profile_migrations.logic.pacing import Caps
from profile_migrations.logic.summary import outcome_of
from profile_migrations.models.records import AppliedStep, LockInfo, RunHistoryEntry, RunPart
from profile_migrations.models.results import BackupResult, SegmentCounters

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from profile_migrations.logic.ports import ControlStore, ProtectableStore
    from profile_migrations.models.results import MigrationResponse
    from profile_migrations.registry import MigrationChain

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60.0
RESUMABLE_OUTCOMES = ("running", "stopped")


@dataclass(frozen=True)
class Protection:
    """How a real run protects its table, and who runs this part of it.

    ``owner`` holds the lock (one per process or execution: ``user@host:pid``, or
    ``execution <name>``); ``where`` says where the part runs (an endpoint, a region,
    ``aws:step-functions``); ``lease_seconds`` how long the lock outlives its last renewal;
    ``journal_uri`` where the part records its writes before sending them (the history
    keeps it per part, for undo), ``journal_size`` how many bytes that journal holds (its
    length when the part ends is recorded, so a rollback can tell a damaged journal).
    """

    control: ControlStore
    owner: str
    where: str
    resume: bool = False
    allow_changed: bool = False
    backup: bool = True
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    journal_uri: str | None = None
    journal_size: Callable[[], int] | None = None


@dataclass(frozen=True)
class NewRun:
    """The run :func:`begin` starts when there is nothing to resume."""

    run_id: str
    started_at: str
    total_segments: int


@dataclass(frozen=True)
class Begun:
    """What :func:`begin` decided: the run (new or resumed) and how the table is protected.

    ``entry`` is the run's history entry, ``running``; its ``run_id``, ``started_at`` and
    ``total_segments`` are the run's, the resumed run's when one was resumed."""

    entry: RunHistoryEntry
    backup: BackupResult
    resumed: bool
    note: str | None = None


def begin(
    protection: Protection,
    store: ProtectableStore,
    chain: MigrationChain,
    target: int,
    new: NewRun,
    caps: Caps | None = None,
) -> Begun:
    """Start (or resume) a real run of ``store``'s table; see the module's steps. The lock
    carries ``caps``, the run's caps in force (no cap when None). Raises
    :class:`MigrationInputError` subclasses before anything is written: a changed step, a
    resume to another target, a table locked by another owner, a failed backup."""
    control = protection.control
    table = store.table_name
    control.ensure_exists()
    checksums = check_steps(control, table, chain, target, protection.allow_changed)
    resumed = resumable_run(control, table) if protection.resume else None
    if resumed is not None and resumed.target_version != target:
        raise InvalidRequestError(
            f"the unfinished run {resumed.run_id} targets version {resumed.target_version}, "
            f"not {target}; resume it without a target version, or unlock and start anew"
        )
    run_id = resumed.run_id if resumed is not None else new.run_id
    release_if_dead_here(control, table)
    control.acquire_lock(
        LockInfo(
            table=table,
            run_id=run_id,
            owner=protection.owner,
            acquired_at=now_timestamp(),
            expires_at=time.time() + protection.lease_seconds,
            max_write_capacity=caps.write if caps else None,
            max_read_capacity=caps.read if caps else None,
        )
    )
    if resumed is not None:
        begun = Begun(
            entry=resumed.model_copy(
                update={
                    "outcome": "running",
                    "ended_at": None,
                    "parts": [*resumed.parts, _part(protection)],
                    **_caps_fields(caps),
                }
            ),
            backup=BackupResult(
                skipped=f"resumed run; protected before it began: {resumed.backup}"
            ),
            resumed=True,
            note=f"Resumed run {run_id}.",
        )
    else:
        backup = _protect(protection, store, run_id)
        begun = Begun(
            entry=_new_entry(protection, table, target, new, checksums, backup).model_copy(
                update=_caps_fields(caps)
            ),
            backup=backup,
            resumed=False,
            note="Nothing to resume; started a new run." if protection.resume else None,
        )
    control.record_run(begun.entry)
    record_applied_steps(control, table, checksums, run_id)
    logger.info(
        "run begun",
        extra={"table": table, "run_id": run_id, "resumed": begun.resumed, "target": target},
    )
    return begun


def _caps_fields(caps: Caps | None) -> dict[str, float | None]:
    return {
        "max_write_capacity": caps.write if caps else None,
        "max_read_capacity": caps.read if caps else None,
    }


def kept_caps(control: ControlStore, table: str, asked: Caps | None, resume: bool) -> Caps | None:
    """The caps a resumed run keeps: those its last part left in the history, when the
    resume asks for none (None: no such run, or caps were asked)."""
    if not resume or (asked is not None and (asked.write, asked.read) != (None, None)):
        return None
    previous = resumable_run(control, table)
    if previous is None:
        return None
    return Caps(previous.max_write_capacity, previous.max_read_capacity)


def _part(protection: Protection) -> RunPart:
    return RunPart(
        owner=protection.owner,
        where=protection.where,
        started_at=now_timestamp(),
        journal_uri=protection.journal_uri,
    )


def _new_entry(
    protection: Protection,
    table: str,
    target: int,
    new: NewRun,
    checksums: dict[str, str],
    backup: BackupResult,
) -> RunHistoryEntry:
    return RunHistoryEntry(
        run_id=new.run_id,
        table=table,
        owner=protection.owner,
        where=protection.where,
        target_version=target,
        dry_run=False,
        total_segments=new.total_segments,
        started_at=new.started_at,
        step_checksums=checksums,
        backup=backup.backup_arn or backup.point_in_time_recovery or backup.skipped,
        parts=[_part(protection)],
    )


def _protect(protection: Protection, store: ProtectableStore, run_id: str) -> BackupResult:
    if not protection.backup:
        return BackupResult(skipped='opted out (--no-backup, or "backup": false)')
    return store.protect(f"{store.table_name}-before-{run_id}"[:255])


def finish(protection: Protection, entry: RunHistoryEntry, response: MigrationResponse) -> None:
    """Record how this part of the run ended (the run's outcome, counts and end time, and
    the part's); a run that ended having migrated no profile forgets the steps it first
    applied (no profile holds their results: a step written or fixed since runs without
    ``--allow-changed``); then release the table's lock if this part's owner still holds
    it."""
    outcome = outcome_of(response)
    ended_at = now_timestamp()
    counters = response.summary.counters() if response.summary else SegmentCounters()
    parts = list(entry.parts)
    if parts:
        last = parts[-1]
        parts[-1] = last.model_copy(
            update={
                "ended_at": ended_at,
                "outcome": outcome,
                "journal_uri": last.journal_uri or protection.journal_uri,
                "journal_bytes": protection.journal_size() if protection.journal_size else None,
            }
        )
    update: dict[str, object] = {
        "outcome": outcome,
        "ended_at": ended_at,
        "counters": counters,
        "parts": parts,
    }
    if response.summary is not None:
        update["max_write_capacity"] = response.summary.max_write_capacity
        update["max_read_capacity"] = response.summary.max_read_capacity
    protection.control.record_run(entry.model_copy(update=update))
    if counters.migrated == 0:
        forget_steps(protection.control, entry.table, entry.run_id)
    protection.control.release_lock(entry.table, protection.owner)


@contextmanager
def keep_lease(protection: Protection, table: str) -> Iterator[threading.Event]:
    """While a local run works, renew its lock's lease every third of it; the event yielded
    is set when the lock is no longer this owner's (``unlock`` released it, or the control
    table stayed unreachable until the lease may have run out), and the run stops. When
    the block raises, the run did not finish: its history stays ``running`` (resumable)
    and the lock is released."""
    lost = threading.Event()
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(protection, table, lost, stop), name="lock-lease", daemon=True
    )
    renewer.start()
    try:
        yield lost
    except BaseException:
        stop.set()
        renewer.join()
        protection.control.release_lock(table, protection.owner)
        raise
    stop.set()
    renewer.join()


def _renew(
    protection: Protection, table: str, lost: threading.Event, stop: threading.Event
) -> None:
    lease = protection.lease_seconds
    renewed_at = time.monotonic()
    while not stop.wait(lease / 3):
        try:
            still_ours = protection.control.renew_lock(table, protection.owner, time.time() + lease)
        # An outage of the control table must not end the renewals for good: try again next
        # tick, and give the lock up for lost only when the lease may have run out.
        except Exception as exc:
            logger.warning(
                "lock lease not renewed", extra={"table": table, "error_type": type(exc).__name__}
            )
            if time.monotonic() - renewed_at < lease * 2 / 3:
                continue
            still_ours = False
        if not still_ours:
            logger.error("lock lost", extra={"table": table})
            lost.set()
            return
        renewed_at = time.monotonic()


def caps_in_lock(control: ControlStore, table: str, owner: str) -> Caps | None:
    """The caps the table's lock carries while ``owner`` holds it (None: not its lock),
    as ``profile-migrate throttle`` last set them."""
    held = control.read_lock(table)
    if held is None or held.owner != owner:
        return None
    return Caps(held.max_write_capacity, held.max_read_capacity)


def resumable_run(control: ControlStore, table: str) -> RunHistoryEntry | None:
    """The newest migration run of ``table`` when it did not finish (killed, or stopped
    early); None when the newest one finished (an older unfinished run is not resumed
    over it). Rollbacks resume with ``rollback --resume``."""
    for entry in control.history(table):
        if entry.kind == "migration" and not entry.dry_run:
            return entry if entry.outcome in RESUMABLE_OUTCOMES else None
    return None


def check_steps(
    control: ControlStore, table: str, chain: MigrationChain, target: int, allow_changed: bool
) -> dict[str, str]:
    """The checksums of the steps a run to ``target`` may apply; refuses a changed step."""
    planned = {step.label: step.checksum for step in chain.path(chain.base, target)}
    applied = control.applied_steps(table)
    changed = [
        label
        for label, checksum in planned.items()
        if label in applied and applied[label].checksum != checksum
    ]
    if changed and not allow_changed:
        raise ChangedStepError(
            f"step(s) {', '.join(changed)} changed since they were applied to {table!r}; "
            "profiles already migrated keep the old result. Review the change, then re-run "
            'with --allow-changed (or "allowChanged": true) to accept it',
            steps=changed,
        )
    if changed:
        logger.warning("changed steps accepted", extra={"table": table, "steps": changed})
    return planned


def forget_steps(control: ControlStore, table: str, run_id: str | None) -> None:
    """Forget the steps run ``run_id`` first applied to ``table`` (when no profile holds
    their results: the run migrated none, or a rollback undid all it did)."""
    for label, step in control.applied_steps(table).items():
        if step.first_run_id == run_id:
            control.forget_step(table, label)
            logger.info("applied step forgotten", extra={"table": table, "step": label})


def record_applied_steps(
    control: ControlStore, table: str, checksums: dict[str, str], run_id: str
) -> None:
    applied = control.applied_steps(table)
    for label, checksum in checksums.items():
        if label not in applied or applied[label].checksum != checksum:
            control.record_step(
                table,
                AppliedStep(
                    label=label, checksum=checksum, first_run_id=run_id, applied_at=now_timestamp()
                ),
            )


def local_owner() -> str:
    """This process as a lock owner: ``user@host:pid``."""
    try:
        user = os.getlogin()
    except OSError:
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def release_if_dead_here(control: ControlStore, table: str) -> None:
    """A lock held by a process of this host that no longer exists is released: its run
    was killed; ``--resume`` continues it."""
    held = control.read_lock(table)
    if held is not None and _owner_is_dead_here(held.owner):
        logger.warning("stale lock released", extra={"table": table, "holder": held.run_id})
        control.release_lock(table, held.owner)


def _owner_is_dead_here(owner: str) -> bool:
    host_and_pid = owner.rpartition("@")[2]
    host, _, pid = host_and_pid.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
