"""The pipeline's rollback with in-memory fakes: a turn undoes its segment's journal
objects newest first and checkpoints after each; the plan refuses what it cannot undo."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from profile_migrations.errors import InvalidRequestError, RequestRefusedError
from profile_migrations.loader import load_registry
from profile_migrations.logic.journal import Intent, render_journal
from profile_migrations.logic.pipeline import plan_run
from profile_migrations.logic.rollback_run import undone_run
from profile_migrations.logic.turns import Turn, rollback_turn
from profile_migrations.models.pipeline import PlanEvent, RollbackTask
from profile_migrations.models.records import RollbackCheckpoint, RunHistoryEntry, RunPart
from profile_migrations.store import ProfileWrite
from tests.fakes import (
    ConditionalStore,
    MemoryControl,
    MemoryRecords,
    PagedStore,
    locked_control,
)

if TYPE_CHECKING:
    from profile_migrations.store import AttributeValue, RawItem

V1, V5 = {"N": "1"}, {"N": "5"}


def user(name: str, **attributes: AttributeValue) -> RawItem:
    return {"userId": {"S": name}, "profileId": {"S": "p"}, **attributes}


def journaled(records: MemoryRecords, page: int, *names: str, after: AttributeValue = V5) -> None:
    entries = [
        Intent(ProfileWrite(user(name), {"version": after}, (), {"version": V1}), 1)
        for name in names
    ]
    records.put_journal("run-1", 0, page, render_journal(entries))


def task(**fields: object) -> RollbackTask:
    return RollbackTask.model_validate(
        {
            "run_id": "rollback-1",
            "execution": "rollback-1",
            "table_name": "UserProfiles",
            "segment": 0,
            "total_segments": 1,
            "target_version": 5,
            "key_attributes": ["userId", "profileId"],
            "rolls_back": "run-1",
            **fields,
        }
    )


def turn(pages: int | None = None) -> Turn:
    left = [pages]

    def should_continue() -> bool:
        if left[0] is None:
            return True
        left[0] -= 1
        return left[0] >= 0

    return Turn(holder="request-1", deadline=time.time() + 900, should_continue=should_continue)


def test_turns_undo_the_journal_newest_page_first_and_checkpoint_after_each() -> None:
    store = ConditionalStore()
    for name, version in (("a", V5), ("b", V5), ("c", V5)):
        store.put(user(name, version=version))
    records = MemoryRecords()
    journaled(records, 0, "a", "b")
    journaled(records, 1, "c")
    control = locked_control("rollback-1")

    first, counts = rollback_turn(task(), store, records, control, turn(pages=1))

    # The newest page (c) first; the turn's time ran out before the older one.
    assert (first.done, counts.restored) == (False, 1)
    assert store.get_item(user("c")) == user("c", version=V1)
    assert store.get_item(user("a")) == user("a", version=V5)
    saved = control.checkpoint(RollbackCheckpoint, "rollback-1", 0)
    assert saved is not None
    assert (saved.pages, saved.counters.restored, saved.done) == (1, 1, False)

    final, counts = rollback_turn(first, store, records, control, turn())

    assert (final.done, counts.restored) == (True, 2)
    assert all(store.get_item(user(name)) == user(name, version=V1) for name in "abc")
    assert [line["status"] for line in records.report_lines("rollback-1")] == ["restored"] * 3
    # A turn of a finished segment does nothing.
    _, again = rollback_turn(final, store, records, control, turn())
    assert again.total == 0


def history_entry(where: str) -> RunHistoryEntry:
    return RunHistoryEntry(
        run_id="run-1",
        table="UserProfiles",
        owner="someone",
        where=where,
        target_version=5,
        dry_run=False,
        total_segments=4,
        started_at="2026-11-25T10:00:00.000Z",
        outcome="succeeded",
        step_checksums={},
        parts=[RunPart(owner="someone", where=where, started_at="2026-11-25T10:00:00.000Z")],
    )


def rollback_event(**request: object) -> PlanEvent:
    return PlanEvent(
        request={"rollback": "run-1", **request},
        execution="rollback-1",
        started_at="2026-11-25T11:00:00.000Z",
    )


def test_a_rollback_plan_covers_the_runs_segments_and_takes_the_lock() -> None:
    control = MemoryControl()
    control.record_run(history_entry("aws:step-functions"))

    plan = plan_run(rollback_event(), load_registry(), PagedStore(), control, 100)

    assert (plan.mode, plan.run_id, plan.rolls_back) == ("rollback", "rollback-1", "run-1")
    assert sorted(plan.segments) == [0, 1, 2, 3]
    assert control.lock is not None
    assert control.lock.owner == "execution rollback-1"
    newest = control.history("UserProfiles")[0]
    assert (newest.kind, newest.rolls_back, newest.outcome) == ("rollback", "run-1", "running")


@pytest.mark.parametrize(
    ("where", "request_fields", "reason"),
    [
        ("user@host:1", {}, "outside the pipeline"),
        ("aws:step-functions", {"rollback": "other-run"}, "no recorded run"),
        ("aws:step-functions", {"maxConcurrency": 0}, "invalid input"),
    ],
)
def test_a_rollback_it_cannot_do_is_refused_before_anything_is_written(
    where: str, request_fields: dict[str, object], reason: str
) -> None:
    control = MemoryControl()
    control.record_run(history_entry(where))

    with pytest.raises(RequestRefusedError, match=reason):
        plan_run(rollback_event(**request_fields), load_registry(), PagedStore(), control, 100)

    assert control.lock is None
    assert [entry.kind for entry in control.history("UserProfiles")] == ["migration"]


def test_only_the_newest_run_that_wrote_is_rolled_back_and_never_a_rollback() -> None:
    control = MemoryControl()
    control.record_run(history_entry("aws:step-functions"))
    newer = history_entry("aws:step-functions").model_copy(
        update={"run_id": "run-2", "started_at": "2026-11-26T10:00:00.000Z"}
    )
    control.record_run(newer)

    with pytest.raises(InvalidRequestError, match="roll back the newest run first \\(run-2\\)"):
        undone_run(control, "UserProfiles", "run-1")

    control.record_run(newer.model_copy(update={"outcome": "rolled-back"}))
    assert undone_run(control, "UserProfiles", "run-1").run_id == "run-1"
    rollback = newer.model_copy(
        update={
            "run_id": "rollback-9",
            "kind": "rollback",
            "rolls_back": "run-2",
            "started_at": "2026-11-27T10:00:00.000Z",
        }
    )
    control.record_run(rollback)
    with pytest.raises(InvalidRequestError, match="is a rollback \\(of run run-2\\)"):
        undone_run(control, "UserProfiles", "rollback-9")
