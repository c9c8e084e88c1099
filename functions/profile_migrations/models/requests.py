"""What a caller asks for: the Lambda event of the TypeScript design, and an execution's input."""

from __future__ import annotations

from pydantic import (
    AwareDatetime,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from profile_migrations.models.limits import MAX_PAGE_SIZE, MAX_SEGMENTS
from profile_migrations.models.wire import WireModel


class RunRequest(WireModel):
    """The TypeScript design's Lambda event: what to migrate to and how. ``deep_verify``
    also validates every profile at the target against the target version's schema in
    the verification (which then reads whole items); a dry run verifies nothing."""

    target_version: StrictInt | None = Field(default=None, ge=1)
    dry_run: StrictBool = False
    verify_only: StrictBool = False
    total_segments: StrictInt | None = Field(default=None, ge=1, le=MAX_SEGMENTS)
    deep_verify: StrictBool = False

    @model_validator(mode="after")
    def _one_mode(self) -> RunRequest:
        if self.dry_run and self.verify_only:
            raise ValueError("dryRun and verifyOnly cannot both be true")
        if self.dry_run and self.deep_verify:
            raise ValueError("a dry run verifies nothing: deepVerify does not apply")
        return self


class PipelineRequest(RunRequest):
    """A state machine execution's input: that event plus the fan-out's knobs.

    ``max_write_capacity`` and ``max_read_capacity`` cap the run (WCU/s, RCU/s, for the
    whole run, split over the segments running at any moment; default: half the
    provisioned write capacity of a provisioned table, no cap otherwise). The run's window
    ends ``window_minutes`` after the execution starts, or at ``stop_at`` (ISO-8601 with an
    offset), not both. ``scheduled`` (what the schedule sends) continues the table's
    unfinished run, starts a new one only if no run ever targeted this version, and
    otherwise ends at once. ``rollback_on_failure`` rolls a real run back when it ends
    with more than ``max_failure_percent`` % (0 to 100, default 0) of the profiles it
    tried failed, or verification finds more profiles below the target than its failures
    account for."""

    max_concurrency: StrictInt | None = Field(default=None, ge=1)
    page_size: StrictInt | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    resume: StrictBool = False
    allow_changed: StrictBool = False
    backup: StrictBool = True
    max_write_capacity: StrictFloat | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_read_capacity: StrictFloat | None = Field(default=None, gt=0, allow_inf_nan=False)
    window_minutes: StrictInt | None = Field(default=None, ge=1)
    stop_at: AwareDatetime | None = None
    scheduled: StrictBool = False
    rollback_on_failure: StrictBool = False
    max_failure_percent: StrictFloat | StrictInt | None = Field(
        default=None, ge=0, le=100, allow_inf_nan=False
    )

    @field_validator("stop_at", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        # A number would be read as seconds since the epoch: only ISO-8601 text is taken.
        if value is not None and not isinstance(value, str):
            raise ValueError("stopAt must be an ISO-8601 time with an offset, as text")
        return value

    @model_validator(mode="after")
    def _one_window(self) -> PipelineRequest:
        if self.window_minutes is not None and self.stop_at is not None:
            raise ValueError("give windowMinutes or stopAt, not both")
        if self.scheduled and (self.dry_run or self.verify_only):
            raise ValueError("a scheduled execution migrates: dryRun and verifyOnly do not apply")
        if self.max_failure_percent is not None and not self.rollback_on_failure:
            raise ValueError("maxFailurePercent applies only with rollbackOnFailure")
        if self.rollback_on_failure and (self.dry_run or self.verify_only):
            raise ValueError("rollbackOnFailure applies to a real run, not dryRun or verifyOnly")
        return self


class RollbackRequest(WireModel):
    """An execution's input that undoes run ``rollback`` (its id, as `history` lists it)
    item by item from its journal; ``resume`` continues that run's unfinished rollback;
    ``max_write_capacity`` caps its writes (WCU/s, default as for a run)."""

    rollback: str = Field(min_length=1, max_length=256)
    max_concurrency: StrictInt | None = Field(default=None, ge=1)
    max_write_capacity: StrictFloat | None = Field(default=None, gt=0, allow_inf_nan=False)
    resume: StrictBool = False
