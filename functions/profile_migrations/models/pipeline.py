"""The Step Functions payloads between the pipeline's states, and its per-page run records."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from profile_migrations.models.results import (
    BackupResult,
    InvalidProfile,
    MigrationResponse,
    ProfileResult,
    SegmentCounters,
)
from profile_migrations.models.wire import WireModel


class PlanEvent(WireModel):
    """What the Plan state sends: the execution input untouched, the execution's name and
    its start time."""

    request: dict[str, Any]
    execution: str = Field(min_length=1, max_length=256)
    started_at: str = Field(min_length=1)


class RunPlan(WireModel):
    """The Plan state's output; every later state reads its fields.

    ``run_id`` names the run: the execution's name for a new run, or the unfinished run a
    ``resume`` continues (its segments' checkpoints and report pages are under that id).
    ``execution`` is this execution's name: it holds the table's lock, and its
    verification and document are its own.
    """

    run_id: str
    execution: str
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
    max_write_capacity: float | None = None
    max_read_capacity: float | None = None
    stop_at: str | None = None
    backup: BackupResult | None = None
    note: str | None = None
    # Why a scheduled execution has nothing to do (its run already completed); its plan
    # then has no segments and its document says so.
    nothing_to_do: str | None = None
    # Verification also validates profiles at the target against its schema.
    deep_verify: bool = False
    # "rollback": the plan undoes run ``rolls_back`` (``run_id`` is the rollback's own id);
    # its segments are the undone run's.
    mode: Literal["migrate", "rollback"] = "migrate"
    rolls_back: str | None = None
    rollback_on_failure: bool = False
    max_failure_percent: float | None = None


class TurnTask(WireModel):
    """What every turn of a segment's loop carries: which run, execution and segment, and
    where the segment's scan resumes. The Lambda returns the next turn's task; the child
    workflow loops until ``done``, or until ``stopped_by`` says the run's window closed
    (``"window"``). ``max_write_capacity`` and ``max_read_capacity`` are the run's caps as
    planned (WCU/s and RCU/s for the whole run, None: no cap; ``profile-migrate throttle``
    changes them while the run holds its lock); ``stop_at`` is the window's end (ISO-8601),
    None for no window. Its input and output are what the console shows for each child
    execution."""

    run_id: str
    execution: str
    table_name: str
    segment: int = Field(ge=0)
    total_segments: int = Field(ge=1)
    target_version: int = Field(ge=1)
    key_attributes: list[str]
    page_size: int | None = None
    invocation: int = Field(default=0, ge=0)
    cursor: dict[str, dict[str, str]] | None = None
    done: bool = False
    max_write_capacity: float | None = None
    max_read_capacity: float | None = None
    stop_at: str | None = None
    stopped_by: str | None = None


class SegmentTask(TurnTask):
    """A migration turn: also the run's clock, its mode, and the segment's totals so far."""

    dry_run: bool = False
    started_at: str
    counters: SegmentCounters = Field(default_factory=SegmentCounters)


class VerifyTask(TurnTask):
    """A verification turn: also what the segment's verification counted so far, and
    whether it validates profiles at the target against the target's schema."""

    checked: int = 0
    invalid_count: int = 0
    deep_verify: bool = False


class RollbackTask(TurnTask):
    """A rollback turn: undoes the journal of segment ``segment`` of run ``rolls_back``,
    newest page first, from the segment's rollback checkpoint."""

    rolls_back: str = Field(min_length=1)


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


class AggregateResult(MigrationResponse):
    """The Aggregate state's output: the run's document, and, when a run with
    ``rollbackOnFailure`` must be rolled back, the rollback's ``plan`` (the state machine
    then runs the rollback's segments and the Aggregate state again)."""

    plan: RunPlan | None = None

    def to_wire(self) -> dict[str, Any]:
        """The document as a run's (absent sections left out) and the plan with its nulls,
        which the state machine's paths must find."""
        document = super().to_wire()
        if self.plan is not None:
            document["plan"] = self.plan.to_wire()
        return document
