"""What the run logic needs from the outside world, as protocols, so tests can pass fakes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from profile_migrations.logic.journal import Intent, Settled
    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.models.pipeline import PageFailures, PageInvalid
    from profile_migrations.models.records import (
        AppliedStep,
        LockInfo,
        RunHistoryEntry,
        SegmentRecord,
        SegmentRecordT,
        TurnLease,
    )
    from profile_migrations.models.results import (
        BackupResult,
        InvalidProfile,
        MigrationResponse,
        ProfileResult,
    )
    from profile_migrations.store import (
        ProfileWrite,
        RawItem,
        ScanPage,
        TableInfo,
        WriteBatchResult,
    )


class ProfileStore(Protocol):
    """A table's items: scanned by parallel-scan segment and page, read one by one,
    conditionally updated (dal/dynamodb.py's ProfileTable)."""

    table_name: str

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


class WriteJournal(Protocol):
    """Where a real run records each write before sending it, and whether DynamoDB
    applied it (logic/journal.py); must be thread-safe."""

    def intend(self, entries: Sequence[Intent]) -> None: ...

    def settle(self, outcomes: Sequence[Settled]) -> None: ...


class OutcomeSink(Protocol):
    """Receives every profile's outcome (the JSON Lines report); must be thread-safe."""

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None: ...


class ControlStore(Protocol):
    """The control table (dal/control.py): the run lock, held by one owner at a time (a
    process or an execution), checkpoints, turn leases, history and applied steps."""

    def exists(self) -> bool: ...
    def ensure_exists(self) -> bool: ...
    def acquire_lock(self, lock: LockInfo) -> None: ...
    def renew_lock(self, table: str, owner: str, expires_at: float) -> bool: ...
    def release_lock(self, table: str, owner: str | None = None) -> LockInfo | None: ...
    def read_lock(self, table: str) -> LockInfo | None: ...
    def set_caps(self, table: str, write: float | None, read: float | None) -> LockInfo | None: ...
    def active_turns(self, run_id: str, phase: str) -> int: ...
    def save_checkpoint(self, run_id: str, checkpoint: SegmentRecord) -> None: ...
    def checkpoint(
        self, kind: type[SegmentRecordT], run_id: str, segment: int
    ) -> SegmentRecordT | None: ...
    def checkpoints(self, kind: type[SegmentRecordT], run_id: str) -> dict[int, SegmentRecordT]: ...
    def acquire_turn(self, lease: TurnLease) -> bool: ...
    def release_turn(self, lease: TurnLease) -> None: ...
    def record_run(self, entry: RunHistoryEntry) -> None: ...
    def run_entry(self, table: str, started_at: str, run_id: str) -> RunHistoryEntry | None: ...
    def history(self, table: str) -> list[RunHistoryEntry]: ...
    def applied_steps(self, table: str) -> dict[str, AppliedStep]: ...
    def record_step(self, table: str, step: AppliedStep) -> None: ...
    def forget_step(self, table: str, label: str) -> None: ...


class RunRecordStore(Protocol):
    """Where the pipeline keeps a run's page reports, page failures and its document (the
    report bucket in AWS); layout and guarantees in dal/s3.py."""

    def report_uri(self, run_id: str) -> str: ...

    def put_page_report(self, run_id: str, segment: int, page: int, body: bytes) -> None: ...

    def journal_uri(self, run_id: str) -> str: ...

    def put_journal(self, run_id: str, segment: int, page: int, body: bytes) -> None: ...

    def journal_keys(self, run_id: str, segment: int) -> list[str]: ...

    def read_journal(self, key: str) -> bytes: ...

    def put_page_failures(self, run_id: str, record: PageFailures) -> None: ...

    def put_page_invalid(self, run_id: str, record: PageInvalid) -> None: ...

    def put_output(self, run_id: str, response: MigrationResponse) -> str: ...

    def output(self, run_id: str) -> MigrationResponse | None: ...

    def failures(self, run_id: str) -> Iterator[ProfileResult]: ...

    def invalid(self, run_id: str) -> Iterator[InvalidProfile]: ...


class RunListener(Protocol):
    """Progress callbacks of a local run; the CLI draws bars from them. Called from worker
    threads."""

    def phase_started(self, phase: str, segments: int, estimated_items: int) -> None: ...

    def page_done(self, phase: str, segment: int, items: int) -> None: ...

    def phase_finished(self, phase: str) -> None: ...
