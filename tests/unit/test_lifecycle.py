"""The run lifecycle both runners share: begin, the lease, finish; one resume semantics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.errors import (
    ChangedStepError,
    InvalidRequestError,
    RunLockedError,
    StoreUnavailableError,
)
from profile_migrations.loader import load_registry
from profile_migrations.logic.lifecycle import (
    NewRun,
    Protection,
    begin,
    finish,
    keep_lease,
    resumable_run,
)
from profile_migrations.logic.summary import build_response, stopped_early, summarize
from profile_migrations.models.results import SegmentCounters
from profile_migrations.registry import MigrationChain, ProfileMigration
from tests.fakes import MemoryControl, PagedStore

if TYPE_CHECKING:
    from profile_migrations.logic.ports import ControlStore
    from profile_migrations.models.results import Summary

CHAIN = load_registry().chain


def protection(control: ControlStore, owner: str = "me@host:1", **fields: Any) -> Protection:
    return Protection(control=control, owner=owner, where="here", **fields)


def new(run_id: str = "run-1") -> NewRun:
    return NewRun(run_id=run_id, started_at=f"{run_id}-start", total_segments=4)


def test_a_new_run_is_locked_protected_and_recorded_with_its_first_part() -> None:
    control = MemoryControl()

    begun = begin(protection(control), PagedStore(), CHAIN, 5, new())

    assert control.lock is not None
    assert (control.lock.run_id, control.lock.owner) == ("run-1", "me@host:1")
    assert begun.backup.backup_arn == "arn:aws:dynamodb:backup/UserProfiles-before-run-1"
    (entry,) = control.history("UserProfiles")
    assert (entry.run_id, entry.outcome, entry.total_segments) == ("run-1", "running", 4)
    assert [(part.owner, part.where, part.outcome) for part in entry.parts] == [
        ("me@host:1", "here", "running")
    ]


def test_a_resumed_run_keeps_its_id_clock_and_segments_and_adds_a_part() -> None:
    # Given: a run that stopped
    control = MemoryControl()
    first = begin(protection(control, "first@host:1"), PagedStore(), CHAIN, 5, new("run-1"))
    stopped = build_response(5, None, None)
    stopped_early(stopped, StoreUnavailableError.__name__, "throttled")
    finish(protection(control, "first@host:1"), first.entry, stopped)

    # When: resumed by another owner (another process, or an execution)
    begun = begin(
        protection(control, "execution run-2", resume=True), PagedStore(), CHAIN, 5, new("run-2")
    )

    # Then: the same run, `running` again, with two parts
    assert begun.resumed
    assert begun.note == "Resumed run run-1."
    assert (begun.entry.run_id, begun.entry.started_at) == ("run-1", "run-1-start")
    (entry,) = control.history("UserProfiles")
    assert entry.outcome == "running"
    assert [(part.owner, part.outcome) for part in entry.parts] == [
        ("first@host:1", "stopped"),
        ("execution run-2", "running"),
    ]
    assert begun.backup.skipped is not None


def test_a_resume_to_another_target_is_refused() -> None:
    control = MemoryControl()
    begin(protection(control, "first@host:1"), PagedStore(), CHAIN, 5, new("run-1"))
    control.lock = None

    with pytest.raises(InvalidRequestError, match="targets version 5, not 4"):
        begin(protection(control, resume=True), PagedStore(), CHAIN, 4, new("run-2"))


def test_two_owners_exclude_each_other_even_when_resuming_one_run() -> None:
    control = MemoryControl()
    begin(protection(control, "first@host:1"), PagedStore(), CHAIN, 5, new("run-1"))

    with pytest.raises(RunLockedError) as caught:
        begin(protection(control, "second@host:2", resume=True), PagedStore(), CHAIN, 5, new())

    assert caught.value.holder is not None
    assert caught.value.holder.owner == "first@host:1"


def test_a_changed_step_is_refused_with_its_label() -> None:
    control = MemoryControl()
    begin(protection(control), PagedStore(), CHAIN, 5, new("run-1"))
    control.lock = None
    changed = MigrationChain(
        [
            ProfileMigration(1, 2, "changed", lambda p: {**p, "other": 1}),
            *CHAIN.steps[1:],
        ]
    )

    with pytest.raises(ChangedStepError) as caught:
        begin(protection(control), PagedStore(), changed, 5, new("run-2"))

    assert caught.value.steps == ["1->2"]


def test_finishing_records_the_outcome_of_the_run_and_of_its_part_and_unlocks() -> None:
    control = MemoryControl()
    begun = begin(protection(control), PagedStore(), CHAIN, 5, new())

    finish(protection(control), begun.entry, build_response(5, None, None))

    (entry,) = control.history("UserProfiles")
    assert entry.outcome == "succeeded"
    assert entry.parts[-1].outcome == "succeeded"
    assert entry.parts[-1].ended_at is not None
    assert control.lock is None


class FlakyControl(MemoryControl):
    """Its renewals fail ``failures`` times in a row, then work (or fail for ever)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.renewals = 0

    def renew_lock(self, table: str, owner: str, expires_at: float) -> bool:
        self.renewals += 1
        if self.failures:
            self.failures -= 1
            raise StoreUnavailableError("the control table kept answering 500")
        return super().renew_lock(table, owner, expires_at)


@pytest.mark.parametrize(("failures", "lost"), [(1, False), (1_000, True)])
def test_the_lease_outlives_a_blip_of_the_control_table_but_not_an_outage(
    failures: int, lost: bool
) -> None:
    control = FlakyControl(failures)
    lease = protection(control, lease_seconds=1.2)
    begin(lease, PagedStore(), CHAIN, 5, new())

    with keep_lease(lease, "UserProfiles") as lock_lost:
        time.sleep(2.0)
        renewals = control.renewals

    assert lock_lost.is_set() is lost
    assert renewals >= 2


def test_a_run_that_migrated_no_profile_forgets_the_steps_it_first_applied() -> None:
    control = MemoryControl()
    first = begin(protection(control), PagedStore(), CHAIN, 5, new("run-1"))
    finish(protection(control), first.entry, build_response(5, migrated(10), None))
    second = begin(protection(control), PagedStore(), CHAIN, 5, new("run-2"))
    assert set(control.applied_steps("UserProfiles")) == {"1->2", "2->3", "3->4", "4->5"}

    # A chain with a step not written yet (every profile fails, nothing written)
    finish(protection(control), second.entry, build_response(5, migrated(0), None))

    # Run-1 applied them: they stay (its profiles hold their results)
    assert {step.first_run_id for step in control.applied_steps("UserProfiles").values()} == {
        "run-1"
    }
    lone = MemoryControl()
    third = begin(protection(lone), PagedStore(), CHAIN, 5, new("run-3"))
    finish(protection(lone), third.entry, build_response(5, migrated(0), None))
    assert lone.applied_steps("UserProfiles") == {}


def test_only_the_newest_run_is_resumed_never_an_older_one_under_a_finished_one() -> None:
    control = MemoryControl()
    old = begin(protection(control), PagedStore(), CHAIN, 5, new("run-1"))
    stopped = build_response(5, None, None)
    stopped_early(stopped, StoreUnavailableError.__name__, "throttled")
    finish(protection(control), old.entry, stopped)
    assert resumable_run(control, "UserProfiles") is not None
    newer = begin(protection(control), PagedStore(), CHAIN, 5, new("run-2"))
    finish(protection(control), newer.entry, build_response(5, migrated(3), None))

    assert resumable_run(control, "UserProfiles") is None


def migrated(count: int) -> Summary:
    return summarize(SegmentCounters(scanned=count, migrated=count), [], None, dry_run=False)
