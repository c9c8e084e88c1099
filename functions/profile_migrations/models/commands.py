"""What the commands other than ``run`` answer (profile_migrations/command.py)."""

from __future__ import annotations

from profile_migrations.models.records import LockInfo, RunHistoryEntry
from profile_migrations.models.wire import WireModel


class PlannedStep(WireModel):
    from_version: int
    to_version: int
    description: str


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
