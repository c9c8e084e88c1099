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
