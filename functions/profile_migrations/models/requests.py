"""What a caller asks for: the Lambda event of the TypeScript design, and an execution's input."""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictInt, model_validator

from profile_migrations.models.limits import MAX_PAGE_SIZE, MAX_SEGMENTS
from profile_migrations.models.wire import WireModel


class RunRequest(WireModel):
    """The TypeScript design's Lambda event: what to migrate to and how."""

    target_version: StrictInt | None = Field(default=None, ge=1)
    dry_run: StrictBool = False
    verify_only: StrictBool = False
    total_segments: StrictInt | None = Field(default=None, ge=1, le=MAX_SEGMENTS)

    @model_validator(mode="after")
    def _one_mode(self) -> RunRequest:
        if self.dry_run and self.verify_only:
            raise ValueError("dryRun and verifyOnly cannot both be true")
        return self


class PipelineRequest(RunRequest):
    """A state machine execution's input: that event plus the fan-out's knobs."""

    max_concurrency: StrictInt | None = Field(default=None, ge=1)
    page_size: StrictInt | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    resume: StrictBool = False
    allow_changed: StrictBool = False
    backup: StrictBool = True
