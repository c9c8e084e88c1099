"""What protects a real run: the table's lock, step checksums, a backup, history, resume.

A real run (not a dry run, not verify-only) goes through :class:`RunGuard`:
1. applied steps are checked against the registry's code (a changed step is refused
   unless allowed, as Flyway's validate does);
2. the table's lock is taken, a lease renewed in the background while the run lives; a
   second run is refused, and a dead run's lease simply expires;
3. the table is made restorable (point-in-time recovery, or an on-demand backup);
4. the run is recorded in the history as ``running`` and its segments checkpoint after
   every page, so ``--resume`` continues a killed run from its checkpoints with the same
   run id, target and start time; the history records the outcome at the end.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from profile_migrations.clock import now_timestamp
from profile_migrations.errors import ChangedStepError
from profile_migrations.models.records import AppliedStep, LockInfo, RunHistoryEntry

if TYPE_CHECKING:
    from types import TracebackType

    from profile_migrations.models.records import (
        Checkpoint,
        RunOutcome,
        TurnLease,
        VerifyCheckpoint,
    )
    from profile_migrations.models.results import BackupResult, SegmentCounters
    from profile_migrations.registry import MigrationChain

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60.0
RESUMABLE_OUTCOMES = ("running", "stopped")


class ControlStore(Protocol):
    def ensure_exists(self) -> bool: ...
    def acquire_lock(self, lock: LockInfo) -> None: ...
    def renew_lock(self, table: str, run_id: str, expires_at: float) -> bool: ...
    def release_lock(self, table: str, run_id: str | None = None) -> LockInfo | None: ...
    def read_lock(self, table: str) -> LockInfo | None: ...
    def save_checkpoint(self, run_id: str, checkpoint: Checkpoint) -> None: ...
    def checkpoint(self, run_id: str, segment: int) -> Checkpoint | None: ...
    def checkpoints(self, run_id: str) -> dict[int, Checkpoint]: ...
    def save_verify_checkpoint(self, run_id: str, checkpoint: VerifyCheckpoint) -> None: ...
    def verify_checkpoint(self, run_id: str, segment: int) -> VerifyCheckpoint | None: ...
    def verify_checkpoints(self, run_id: str) -> dict[int, VerifyCheckpoint]: ...
    def acquire_turn(self, lease: TurnLease) -> bool: ...
    def release_turn(self, lease: TurnLease) -> None: ...
    def record_run(self, entry: RunHistoryEntry) -> None: ...
    def run_entry(self, table: str, started_at: str, run_id: str) -> RunHistoryEntry | None: ...
    def history(self, table: str) -> list[RunHistoryEntry]: ...
    def applied_steps(self, table: str) -> dict[str, AppliedStep]: ...
    def record_step(self, table: str, step: AppliedStep) -> None: ...


def new_local_run_id() -> str:
    return f"local-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def local_owner() -> str:
    try:
        user = os.getlogin()
    except OSError:
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead_here(owner: str) -> bool:
    """True when a lock's owner was a process on this host that no longer exists."""
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


def check_steps(
    control: ControlStore, table: str, chain: MigrationChain, target: int, allow_changed: bool
) -> dict[str, str]:
    """The checksums of the steps a run to ``target`` may apply; refuses a changed step."""
    planned = {step.label: step.checksum for step in chain.plan(chain.base, target)}
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
            'with --allow-changed (or "allowChanged": true) to accept it'
        )
    if changed:
        logger.warning("changed steps accepted", extra={"table": table, "steps": changed})
    return planned


@dataclass
class RunGuard:
    """Holds a table's lock for one run and keeps its lease alive; a context manager."""

    control: ControlStore
    table: str
    run_id: str
    owner: str
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _renewer: threading.Thread | None = None

    def __enter__(self) -> RunGuard:
        held = self.control.read_lock(self.table)
        if held is not None and held.run_id != self.run_id and _owner_is_dead_here(held.owner):
            logger.warning(
                "stale lock released", extra={"table": self.table, "holder": held.run_id}
            )
            self.control.release_lock(self.table, held.run_id)
        self.control.acquire_lock(
            LockInfo(
                table=self.table,
                run_id=self.run_id,
                owner=self.owner,
                acquired_at=now_timestamp(),
                expires_at=time.time() + self.lease_seconds,
            )
        )
        self._renewer = threading.Thread(target=self._renew, name="lock-lease", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            if not self.control.renew_lock(
                self.table, self.run_id, time.time() + self.lease_seconds
            ):
                logger.error("lock lost", extra={"table": self.table, "run_id": self.run_id})
                self.lost.set()
                return

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self.control.release_lock(self.table, self.run_id)


def resumable_run(control: ControlStore, table: str) -> RunHistoryEntry | None:
    """The newest run of ``table`` that did not finish (killed, or stopped by an outage)."""
    for entry in control.history(table):
        if entry.outcome in RESUMABLE_OUTCOMES and not entry.dry_run:
            return entry
    return None


def history_entry(
    run_id: str,
    table: str,
    owner: str,
    where: str,
    target: int,
    total_segments: int,
    started_at: str,
    checksums: dict[str, str],
    backup: BackupResult | None,
) -> RunHistoryEntry:
    protection = None
    if backup is not None:
        protection = backup.backup_arn or backup.point_in_time_recovery or backup.skipped
    return RunHistoryEntry(
        run_id=run_id,
        table=table,
        owner=owner,
        where=where,
        target_version=target,
        dry_run=False,
        total_segments=total_segments,
        started_at=started_at,
        step_checksums=checksums,
        backup=protection,
    )


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


def finish_entry(
    entry: RunHistoryEntry, outcome: RunOutcome, counters: SegmentCounters
) -> RunHistoryEntry:
    return entry.model_copy(
        update={"outcome": outcome, "ended_at": now_timestamp(), "counters": counters}
    )
