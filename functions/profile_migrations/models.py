"""Pydantic models for every request and result that crosses a boundary.

Field names are snake_case in Python and camelCase on the wire (the seed's Lambda event
and response format); requests forbid unknown fields so a typo is an error, not a no-op.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator
from pydantic.alias_generators import to_camel

MAX_SEGMENTS = 1_000_000
RESULTS_CAP = 1_000


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    # Pipeline payloads keep nulls, which the state machine's paths must find; the seed's
    # response document leaves absent sections out.
    omit_none: ClassVar[bool] = False

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=self.omit_none)


class RunRequest(WireModel):
    """The seed's Lambda event: what to migrate to and how."""

    target_version: StrictInt | None = Field(default=None, ge=1)
    dry_run: StrictBool = False
    verify_only: StrictBool = False
    total_segments: StrictInt | None = Field(default=None, ge=1, le=MAX_SEGMENTS)

    @model_validator(mode="after")
    def _one_mode(self) -> RunRequest:
        if self.dry_run and self.verify_only:
            raise ValueError("dryRun and verifyOnly cannot both be true")
        return self


ProfileStatus = Literal["success", "failed", "skipped"]


class ProfileResult(WireModel):
    """One profile's outcome; the item's key attributes sit beside these fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    from_version: int | None
    to_version: int
    status: ProfileStatus
    error: str | None = None


class InvalidProfile(WireModel):
    """A profile verification found away from the target; key attributes sit beside it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    version: int | str | None


class SegmentCounters(WireModel):
    scanned: int = 0
    migrated: int = 0
    failed: int = 0
    skipped: int = 0
    conflicts: int = 0
    throttle_retries: int = 0
    from_versions: list[int] = Field(default_factory=list)

    def add(self, other: SegmentCounters) -> None:
        for name in type(self).model_fields:
            if name == "from_versions":
                self.from_versions = sorted({*self.from_versions, *other.from_versions})
            else:
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
    dry_run: bool = False

    def counters(self) -> SegmentCounters:
        return SegmentCounters(
            scanned=self.total_profiles,
            migrated=self.success_count,
            failed=self.failure_count,
            skipped=self.skipped_count,
            conflicts=self.conflict_count,
            throttle_retries=self.throttle_retry_count,
            from_versions=self.from_versions,
        )


class Verification(WireModel):
    valid: bool
    invalid_profiles: list[InvalidProfile]
    checked_count: int
    invalid_count: int
    invalid_profiles_truncated: bool = False


class MigrationResponse(WireModel):
    """The seed's response format, printed by the CLI and returned by the pipeline.

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
    summary: Summary | None = None
    verification: Verification | None = None
    error: str | None = None
    error_type: str | None = None


MAX_PIPELINE_SEGMENTS = 10_000
MAX_PAGE_SIZE = 10_000


class PipelineRequest(RunRequest):
    """A state machine execution's input: the seed's event plus the fan-out's knobs."""

    max_concurrency: StrictInt | None = Field(default=None, ge=1)
    page_size: StrictInt | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    resume: StrictBool = False
    allow_changed: StrictBool = False
    backup: StrictBool = True


class PlanEvent(WireModel):
    """What the Plan state sends: the execution input untouched, and the execution's identity."""

    request: dict[str, Any]
    run_id: str = Field(min_length=1, max_length=256)
    started_at: str = Field(min_length=1)


class RunPlan(WireModel):
    """The Plan state's output; every later state reads its fields.

    ``checkpoint_run_id`` names the run whose checkpoints the segments read and write: this
    execution's own id, or the unfinished run a ``resume`` continues.
    """

    run_id: str
    checkpoint_run_id: str
    table_name: str
    target_version: int
    dry_run: bool
    verify_only: bool
    started_at: str
    total_segments: int
    segments: list[int]
    max_concurrency: int
    page_size: int | None
    key_attributes: list[str]
    backup: BackupResult | None = None
    note: str | None = None


class SegmentTask(WireModel):
    """One turn of a segment's loop: where to resume, and the segment's totals so far.

    The Lambda returns the next turn's task; the child workflow loops until ``done``.
    Its input and output are what the console shows for each child execution.
    """

    run_id: str
    checkpoint_run_id: str
    table_name: str
    segment: int = Field(ge=0)
    total_segments: int = Field(ge=1)
    target_version: int = Field(ge=1)
    dry_run: bool = False
    started_at: str
    key_attributes: list[str]
    page_size: int | None = None
    invocation: int = Field(default=0, ge=0)
    cursor: dict[str, dict[str, str]] | None = None
    done: bool = False
    counters: SegmentCounters = Field(default_factory=SegmentCounters)


class VerifyTask(WireModel):
    run_id: str
    table_name: str
    segment: int = Field(ge=0)
    total_segments: int = Field(ge=1)
    target_version: int = Field(ge=1)
    key_attributes: list[str]
    page_size: int | None = None
    invocation: int = Field(default=0, ge=0)
    cursor: dict[str, dict[str, str]] | None = None
    done: bool = False
    checked: int = 0
    invalid_count: int = 0


class PageFailures(WireModel):
    """The failed profiles of one page of a segment, stored for the aggregate step. Keyed
    by the page's number in its segment, so the page processed again after a killed turn
    replaces them instead of adding to them."""

    segment: int
    page: int
    failures: list[ProfileResult]


class PageInvalid(WireModel):
    """What verification found away from the target on one page of a segment."""

    segment: int
    page: int
    invalid: list[InvalidProfile]


class AggregateEvent(WireModel):
    plan: RunPlan


class LockInfo(WireModel):
    """A table's run lock: a lease its holder renews while it runs."""

    table: str
    run_id: str
    owner: str
    acquired_at: str
    expires_at: float


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


class TurnLease(WireModel):
    """Which Lambda turn works on a segment now: one at a time, so two turns of one segment
    (a retried invocation while the first still runs) never interleave their writes.
    ``expires_at`` (seconds since the epoch) is the holder's own deadline."""

    run_id: str
    phase: Literal["migrate", "verify"]
    segment: int
    holder: str
    expires_at: float


RunOutcome = Literal["running", "succeeded", "failed", "stopped", "resumed"]


class RunHistoryEntry(WireModel):
    """One real run of a table, as `profile-migrate history` lists it."""

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


class AppliedStep(WireModel):
    """A step applied to a table, with the checksum of its code at the time."""

    label: str
    checksum: str
    first_run_id: str
    applied_at: str


class BackupResult(WireModel):
    """What protects the table before a run writes: an on-demand backup, or PITR."""

    backup_arn: str | None = None
    point_in_time_recovery: str | None = None
    skipped: str | None = None


MigrationResponse.model_rebuild()
RunPlan.model_rebuild()
