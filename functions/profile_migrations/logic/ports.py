"""What the run logic needs from the outside world, as protocols, so tests can pass fakes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from profile_migrations.dal.dynamodb import ScanPage, TableInfo
    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.models.pipeline import PageFailures, PageInvalid
    from profile_migrations.models.results import (
        BackupResult,
        InvalidProfile,
        MigrationResponse,
        ProfileResult,
    )
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


class RunRecordStore(Protocol):
    """Where the pipeline keeps a run's page reports, page failures and its document (the
    report bucket in AWS); layout and guarantees in dal/s3.py."""

    def report_uri(self, run_id: str) -> str: ...

    def put_page_report(self, run_id: str, segment: int, page: int, body: bytes) -> None: ...

    def put_page_failures(self, run_id: str, record: PageFailures) -> None: ...

    def put_page_invalid(self, run_id: str, record: PageInvalid) -> None: ...

    def put_output(self, run_id: str, response: MigrationResponse) -> str: ...

    def failures(self, run_id: str) -> Iterator[ProfileResult]: ...

    def invalid(self, run_id: str) -> Iterator[InvalidProfile]: ...
