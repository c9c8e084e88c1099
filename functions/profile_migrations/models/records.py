"""What the control table holds: the run lock, checkpoints, turn leases, history, applied steps."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field

from profile_migrations.models.results import RollbackCounters, SegmentCounters
from profile_migrations.models.wire import WireModel


class LockInfo(WireModel):
    """A table's run lock: a lease its holder renews while it runs. It also carries the
    run's caps in force (WCU/s and RCU/s for the whole run; None: no cap, 0: paused),
    which the run's workers follow and ``profile-migrate throttle`` changes."""

    table: str
    run_id: str
    owner: str
    acquired_at: str
    expires_at: float
    max_write_capacity: float | None = None
    max_read_capacity: float | None = None


class Checkpoint(WireModel):
    """How far one segment of a run got: written after every page.

    ``counters`` are the segment's totals so far; ``pages`` the number of pages finished
    (the next page's number); ``error`` why its last turn stopped, when one did."""

    segment: int
    cursor: dict[str, dict[str, str]] | None
    done: bool
    counters: SegmentCounters
    pages: int = 0
    error: str | None = None


class VerifyCheckpoint(WireModel):
    """How far one segment of a run's verification got: written after every page."""

    segment: int
    cursor: dict[str, dict[str, str]] | None
    done: bool
    checked: int = 0
    invalid_count: int = 0
    pages: int = 0
    error: str | None = None
    consumed_read_capacity_units: float = 0.0


class RollbackCheckpoint(WireModel):
    """How far a rollback got through one journal (``segment``: the part's index in the
    run's history for a local run's journal file, the segment for a pipeline run's
    journal pages): written after every group of undone writes.

    ``position`` is where the part of the journal still to undo ends (the journal is
    undone newest write first): a byte offset into a file, or the key of the oldest
    journal object undone (the objects before it remain); None: from the journal's end.
    ``counters`` are the totals so far; ``pages`` how many journal objects a pipeline
    rollback finished (its report pages' numbers); ``error`` why its last turn stopped."""

    segment: int
    position: str | None
    done: bool
    counters: RollbackCounters
    pages: int = 0
    error: str | None = None


# A checkpoint of any phase: what the control table stores per segment.
SegmentRecord = Checkpoint | VerifyCheckpoint | RollbackCheckpoint
SegmentRecordT = TypeVar("SegmentRecordT", Checkpoint, VerifyCheckpoint, RollbackCheckpoint)


class TurnLease(WireModel):
    """Which Lambda turn works on a segment now: one at a time, so two turns of one segment
    (a retried invocation while the first still runs) never interleave their writes.
    ``expires_at`` (seconds since the epoch) is the holder's own deadline."""

    run_id: str
    phase: Literal["migrate", "verify", "rollback"]
    segment: int
    holder: str
    expires_at: float


# "resumed" is only read: an earlier release marked a run an execution resumed that way.
# "rolled-back": a rollback of the run began; `run --resume` no longer continues it.
RunOutcome = Literal["running", "succeeded", "failed", "stopped", "resumed", "rolled-back"]


class RunPart(WireModel):
    """One stretch of a run, from its start or a resume to where that process or execution
    ended: who (``owner``), where, when, and how it ended."""

    owner: str
    where: str
    started_at: str
    ended_at: str | None = None
    outcome: RunOutcome = "running"
    # Where this part recorded its writes before sending them (logic/journal.py), and
    # how long that file was when the part ended (bytes; a shorter file is damaged).
    journal_uri: str | None = None
    journal_bytes: int | None = None


RunKind = Literal["migration", "rollback"]


class RunHistoryEntry(WireModel):
    """One real run of a table, as `profile-migrate history` lists it: ``owner`` and
    ``where`` are its first part's, ``parts`` every stretch of it from its start or a resume
    to where that stretch ended.

    A rollback is a run too (``kind`` ``"rollback"``): ``rolls_back`` names the run it
    undoes, ``rollback_counters`` says what it did; its ``target_version`` is the undone
    run's."""

    run_id: str
    table: str
    owner: str
    where: str
    target_version: int
    dry_run: bool
    total_segments: int
    started_at: str
    ended_at: str | None = None
    outcome: RunOutcome = "running"
    counters: SegmentCounters = Field(default_factory=SegmentCounters)
    step_checksums: dict[str, str]
    backup: str | None = None
    parts: list[RunPart] = Field(default_factory=list)
    # The run's caps (WCU/s, RCU/s; None: no cap) as its last part left them: a resume
    # that asks for none keeps them.
    max_write_capacity: float | None = None
    max_read_capacity: float | None = None
    kind: RunKind = "migration"
    rolls_back: str | None = None
    rollback_counters: RollbackCounters | None = None


class AppliedStep(WireModel):
    """A step applied to a table, with the checksum of its code at the time."""

    label: str
    checksum: str
    first_run_id: str
    applied_at: str
