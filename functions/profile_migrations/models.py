"""Pydantic models for every request and result that crosses a boundary.

Field names are snake_case in Python and camelCase on the wire (the seed's Lambda event
and response format); requests forbid unknown fields so a typo is an error, not a no-op.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator
from pydantic.alias_generators import to_camel

MAX_SEGMENTS = 1_000_000
RESULTS_CAP = 1_000


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


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

    def add(self, other: SegmentCounters) -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Summary(WireModel):
    total_profiles: int
    success_count: int
    failure_count: int
    skipped_count: int
    results: list[ProfileResult]
    results_truncated: bool = False
    conflict_count: int = 0
    throttle_retry_count: int = 0
    report_uri: str | None = None
    dry_run: bool = False


class Verification(WireModel):
    valid: bool
    invalid_profiles: list[InvalidProfile]
    checked_count: int
    invalid_count: int
    invalid_profiles_truncated: bool = False


class MigrationResponse(WireModel):
    """The seed's response format, printed by the CLI and returned by the pipeline."""

    success: bool
    message: str
    target_version: int | None = None
    summary: Summary | None = None
    verification: Verification | None = None
    error: str | None = None
