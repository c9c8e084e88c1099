"""What a run answers: per-profile results, counters, the summary, verification, the document."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from profile_migrations.models.wire import WireModel

ProfileStatus = Literal["success", "failed", "skipped"]


class ProfileResult(WireModel):
    """One profile's outcome; the item's key attributes sit beside these fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    from_version: int | None
    to_version: int
    status: ProfileStatus
    error: str | None = None


class InvalidProfile(WireModel):
    """A profile verification found away from the target; key attributes sit beside it.
    ``reason``, from a deep verification only, says why a profile at the target does not
    validate against the target's schema (pydantic's field paths and reasons)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    version: int | str | None
    reason: str | None = None


class SegmentCounters(WireModel):
    scanned: int = 0
    migrated: int = 0
    failed: int = 0
    skipped: int = 0
    conflicts: int = 0
    throttle_retries: int = 0
    from_versions: list[int] = Field(default_factory=list)
    consumed_write_capacity_units: float = 0.0
    consumed_read_capacity_units: float = 0.0

    def add(self, other: SegmentCounters) -> None:
        for name in type(self).model_fields:
            if name == "from_versions":
                self.from_versions = sorted({*self.from_versions, *other.from_versions})
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


class RollbackCounters(WireModel):
    """What a rollback did with the writes it undid (one per journal entry that may have
    been applied): ``restored`` put back, ``kept`` (changed since by the application, left
    as it is), ``missing`` (deleted since), ``already_restored`` (the item already held its
    values from before the run: an earlier rollback restored it, or the write never
    applied), ``failed`` (DynamoDB refused the write, or the journal line was unreadable)."""

    restored: int = 0
    kept: int = 0
    missing: int = 0
    already_restored: int = 0
    failed: int = 0
    consumed_write_capacity_units: float = 0.0
    consumed_read_capacity_units: float = 0.0

    @property
    def total(self) -> int:
        return self.restored + self.kept + self.missing + self.already_restored + self.failed

    def add(self, other: RollbackCounters) -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Summary(WireModel):
    total_profiles: int
    success_count: int
    failure_count: int
    skipped_count: int
    results: list[ProfileResult]
    results_truncated: bool = False
    from_versions: list[int] = Field(default_factory=list)
    conflict_count: int = 0
    throttle_retry_count: int = 0
    report_uri: str | None = None
    # The write-ahead journal of a real run's writes (logic/journal.py).
    journal_uri: str | None = None
    dry_run: bool = False
    consumed_write_capacity_units: float = 0.0
    consumed_read_capacity_units: float = 0.0
    # The caps in force when the run ended (WCU/s, RCU/s; absent: no cap).
    max_write_capacity: float | None = None
    max_read_capacity: float | None = None

    def counters(self) -> SegmentCounters:
        return SegmentCounters(
            scanned=self.total_profiles,
            migrated=self.success_count,
            failed=self.failure_count,
            skipped=self.skipped_count,
            conflicts=self.conflict_count,
            throttle_retries=self.throttle_retry_count,
            from_versions=self.from_versions,
            consumed_write_capacity_units=self.consumed_write_capacity_units,
            consumed_read_capacity_units=self.consumed_read_capacity_units,
        )


class RollbackSummary(Summary):
    """A rollback's summary: a run's fields (``successCount`` the profiles restored,
    ``skippedCount`` those kept, missing or already restored, ``results`` the failures)
    and the rollback's own counts."""

    restored_count: int
    kept_count: int
    missing_count: int
    already_restored_count: int


class Verification(WireModel):
    valid: bool
    invalid_profiles: list[InvalidProfile]
    checked_count: int
    invalid_count: int
    invalid_profiles_truncated: bool = False
    # False when some segment was not checked to its end (the counts cover what was).
    complete: bool = True
    # RCU the verification's scans and re-reads consumed (also in the summary's total).
    consumed_read_capacity_units: float = 0.0


class BackupResult(WireModel):
    """What protects the table before a run writes: an on-demand backup, or PITR."""

    backup_arn: str | None = None
    point_in_time_recovery: str | None = None
    skipped: str | None = None


class MigrationResponse(WireModel):
    """The TypeScript design's response format, extended: printed by the CLI, returned by
    the pipeline.

    When ``success`` is false, ``error_type`` names why in one word a program can match
    (``ProfilesFailed``, ``VerificationFailed``, ``SegmentsUnfinished``, or the class of
    the error that stopped the run, e.g. ``StoreUnavailableError``); ``error``, when
    present, is ``"<errorType>: <message>"``."""

    omit_none: ClassVar[bool] = True

    success: bool
    message: str
    target_version: int | None = None
    run_id: str | None = None
    backup: BackupResult | None = None
    # A rollback's document carries a RollbackSummary; listed first so a document read
    # back keeps its counts.
    summary: RollbackSummary | Summary | None = None
    verification: Verification | None = None
    error: str | None = None
    error_type: str | None = None
    resumable: bool | None = None
    stopped_by: str | None = None
    # A rollback's document: the run it undid.
    rolls_back: str | None = None
    # A run with automatic rollback that rolled back its own writes, and that rollback's
    # document.
    rolled_back: bool | None = None
    rollback: MigrationResponse | None = None
