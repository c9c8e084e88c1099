"""What the commands other than ``run`` answer (profile_migrations/command.py)."""

from __future__ import annotations

from pydantic import Field

from profile_migrations.models.records import LockInfo, RunHistoryEntry, RunOutcome
from profile_migrations.models.wire import WireModel


class PlannedStep(WireModel):
    """One step of a plan; ``written`` is False for a step still the stub ``new``
    generated (it fails every profile until written)."""

    from_version: int
    to_version: int
    description: str
    written: bool = True


class PlanResult(WireModel):
    """The migration path from ``from_version`` to ``target_version``, in order."""

    from_version: int
    target_version: int
    steps: list[PlannedStep]


class HistoryResult(WireModel):
    """Every recorded real run of ``table``, newest first."""

    table: str
    runs: list[RunHistoryEntry]


class UnlockResult(WireModel):
    """The lock that was released, or None when the table was not locked."""

    released: LockInfo | None


class ThrottleResult(WireModel):
    """The caps now in force for the table's running run ``run_id`` (held by ``owner``):
    WCU/s and RCU/s for the whole run, None for no cap, a write cap of 0 for paused. Its
    workers follow within 10 seconds."""

    table: str
    run_id: str
    owner: str
    max_write_capacity: float | None
    max_read_capacity: float | None


class RunProgress(WireModel):
    """How far a run's migration got, from its segments' checkpoints: segments finished
    of ``total_segments`` (None when the run's history entry is missing), and the
    profiles those checkpoints counted."""

    total_segments: int | None
    segments_done: int = 0
    scanned: int = 0
    migrated: int = 0
    failed: int = 0
    skipped: int = 0


class RunningRun(WireModel):
    """The run holding the table's lock, which may still be running: ``holder`` (a
    process ``user@host:pid`` or ``execution <name>``) since ``since``, its lease renewed
    until ``lease_expires_at`` (ISO-8601, UTC)."""

    run_id: str
    holder: str
    since: str
    lease_expires_at: str
    target_version: int | None
    progress: RunProgress


class UnfinishedRun(WireModel):
    """The run ``run --resume`` would continue: killed (``running`` with no live holder) or
    stopped early; ``last_owner`` ran its last part."""

    run_id: str
    target_version: int
    started_at: str
    outcome: RunOutcome
    last_owner: str
    progress: RunProgress


class StatusResult(WireModel):
    """``profile-migrate status``: profiles per version (``"1"``, ``"2"``, ...; a missing
    ``version`` counts as 1; ``"invalid"`` for a version that is not a positive whole
    number), the registry's target and how many profiles are below it, and the table's
    runs. ``profiles`` is the total counted; ``consumed_read_capacity_units`` the RCU the
    scan consumed."""

    table: str
    target_version: int
    versions: dict[str, int]
    below_target: int
    profiles: int
    running: RunningRun | None
    unfinished: UnfinishedRun | None
    last_run: RunHistoryEntry | None
    consumed_read_capacity_units: float = Field(ge=0)


class NewResult(WireModel):
    """What ``profile-migrate new`` changed: ``registry`` (the file it appended ``step`` to,
    as ``function``, and whose ``CURRENT_PROFILE_VERSION`` is now
    ``current_profile_version``) and ``test_file`` (created); ``changed`` lists both
    paths."""

    registry: str
    test_file: str
    step: PlannedStep
    function: str
    current_profile_version: int
    changed: list[str]
