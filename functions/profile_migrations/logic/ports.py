"""What the run logic needs from the outside world, as protocols, so tests can pass fakes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from profile_migrations.dal.dynamodb import ScanPage, TableInfo
    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.models import BackupResult
    from profile_migrations.writes import ProfileWrite, RawItem, WriteBatchResult


class ProfileStore(Protocol):
    def scan_page(
        self,
        segment: int,
        total_segments: int,
        start_key: RawItem | None = None,
        limit: int | None = None,
        projection: Sequence[str] | None = None,
        consistent_read: bool = False,
    ) -> ScanPage: ...

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult: ...

    def get_item(self, key: RawItem) -> RawItem | None: ...


class DescribableStore(ProfileStore, Protocol):
    def describe(self) -> TableInfo: ...


class ProtectableStore(DescribableStore, Protocol):
    def protect(self, backup_name: str) -> BackupResult: ...


class OutcomeSink(Protocol):
    """Receives every profile's outcome (the JSON Lines report); must be thread-safe."""

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None: ...
