"""The pipeline's caps, windows and schedule (logic/pipeline.py, logic/turns.py) with the
fakes: what Plan lays out, how a turn shares and follows the caps and stops at the
window's end, and what Aggregate answers then."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from profile_migrations.environment import RUN_ERROR_WINDOW_CLOSED, STOPPED_BY_WINDOW
from profile_migrations.errors import RequestRefusedError
from profile_migrations.loader import load_registry
from profile_migrations.logic.pipeline import aggregate_run, plan_run
from profile_migrations.logic.turns import migrate_turn
from profile_migrations.models.pipeline import PlanEvent
from profile_migrations.models.records import RunHistoryEntry, TurnLease
from profile_migrations.store import TableInfo
from tests.fakes import MemoryControl, MemoryRecords, PagedStore, locked_control
from tests.unit.test_pipeline import checkpoint, run_plan
from tests.unit.test_turns import RUN, item, segment_task, turn


def now_event(execution: str = "exec-1", **request: Any) -> PlanEvent:
    started = datetime.now(UTC).isoformat()
    return PlanEvent(request=request, execution=execution, started_at=started)


class ProvisionedStore(PagedStore):
    def describe(self) -> TableInfo:
        return TableInfo(self.table_name, ("userId", "profileId"), 10, 10, 300)


def test_plan_carries_the_caps_and_the_window_and_the_lock_carries_the_caps() -> None:
    control = MemoryControl()

    plan = plan_run(
        now_event(maxWriteCapacity=80, maxReadCapacity=40.5, windowMinutes=30),
        load_registry(),
        PagedStore(),
        control,
        100,
    )

    assert (plan.max_write_capacity, plan.max_read_capacity) == (80, 40.5)
    assert plan.stop_at is not None
    left = datetime.fromisoformat(plan.stop_at) - datetime.now(UTC)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)
    assert control.lock is not None
    assert (control.lock.max_write_capacity, control.lock.max_read_capacity) == (80, 40.5)


def test_a_provisioned_table_is_capped_at_half_its_write_capacity_by_default() -> None:
    plan = plan_run(now_event(), load_registry(), ProvisionedStore(), MemoryControl(), 100)

    assert (plan.max_write_capacity, plan.max_read_capacity) == (150, None)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"maxWriteCapacity": 0}, "greater than 0"),
        ({"maxReadCapacity": -1}, "greater than 0"),
        ({"windowMinutes": 0}, "greater than or equal to 1"),
        ({"stopAt": "2026-12-01T06:00:00"}, "timezone"),
        ({"stopAt": "2020-01-01T00:00:00Z"}, "before the run would start"),
        ({"windowMinutes": 5, "stopAt": "2099-01-01T00:00:00Z"}, "not both"),
    ],
)
def test_bad_caps_and_windows_are_refused_before_anything_is_written(
    fields: dict[str, Any], reason: str
) -> None:
    control = MemoryControl()

    with pytest.raises(RequestRefusedError, match=reason):
        plan_run(now_event(**fields), load_registry(), PagedStore(), control, 100)
    assert control.lock is None


def finished_run(outcome: str, target: int = 5) -> RunHistoryEntry:
    return RunHistoryEntry(
        run_id="old-run",
        table="UserProfiles",
        owner="execution old-run",
        where="aws:step-functions",
        target_version=target,
        dry_run=False,
        total_segments=1,
        started_at="2026-11-01T00:00:00.000Z",
        ended_at="2026-11-01T01:00:00.000Z",
        outcome=outcome,
        step_checksums={},
    )


def test_a_scheduled_execution_starts_the_first_run_at_the_target() -> None:
    control = MemoryControl()
    control.record_run(finished_run("succeeded", target=4))

    plan = plan_run(now_event(scheduled=True), load_registry(), PagedStore(), control, 100)

    assert plan.nothing_to_do is None
    assert plan.run_id == "exec-1"
    assert plan.segments == [0]


def test_a_scheduled_execution_continues_the_unfinished_run() -> None:
    control = MemoryControl()
    control.record_run(finished_run("stopped"))

    plan = plan_run(now_event(scheduled=True), load_registry(), PagedStore(), control, 100)

    assert plan.run_id == "old-run"
    assert plan.note == "Resumed run old-run."


def test_a_scheduled_execution_ends_at_once_when_the_run_at_the_target_completed() -> None:
    control = MemoryControl()
    control.record_run(finished_run("succeeded"))
    records = MemoryRecords()
    store = PagedStore(pages=[[item("a", version=1)]])

    plan = plan_run(now_event(scheduled=True), load_registry(), store, control, 100)
    response = aggregate_run(plan, records, control)

    assert plan.segments == []
    assert control.lock is None
    assert response.success
    assert response.message.startswith("Nothing to do: the last run to version 5, old-run")
    assert response.summary is None
    assert store.writes == []
    assert records.outputs["exec-1"].to_wire() == response.to_wire()


def test_a_turn_after_the_window_closed_does_nothing_and_says_why() -> None:
    table = PagedStore(pages=[[item("a")], [item("b")]])
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()

    task, counts = migrate_turn(
        segment_task(stop_at=past),
        load_registry(),
        table,
        MemoryRecords(),
        locked_control(),
        turn(),
    )

    assert (task.done, task.stopped_by, task.cursor) == (False, STOPPED_BY_WINDOW, None)
    assert counts.scanned == 0
    assert table.writes == []


def test_a_turn_running_when_the_window_closes_finishes_its_page_and_stops() -> None:
    table = PagedStore(pages=[[item("a")], [item("b")], [item("c")]])
    closes = time.time() + 0.3
    stop_at = datetime.fromtimestamp(closes, UTC).isoformat()
    slow = SlowStore(table, seconds=0.2)

    task, counts = migrate_turn(
        segment_task(stop_at=stop_at),
        load_registry(),
        slow,
        MemoryRecords(),
        locked_control(),
        turn(),
    )

    assert task.stopped_by == STOPPED_BY_WINDOW
    assert not task.done
    assert 1 <= counts.scanned < 3
    assert task.cursor == {"page": {"N": str(counts.scanned)}}


class SlowStore:
    """A store whose scans take ``seconds``: so a window closes between two pages."""

    def __init__(self, store: PagedStore, seconds: float) -> None:
        self._store = store
        self._seconds = seconds
        self.table_name = store.table_name

    def scan_page(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self._seconds)
        return self._store.scan_page(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_turn_takes_its_share_of_the_caps_in_the_lock() -> None:
    control = locked_control()
    control.set_caps("UserProfiles", 90.0, None)
    for segment in (5, 6):  # two other turns of the run hold their leases now
        control.acquire_turn(
            TurnLease.model_validate(
                {
                    "run_id": RUN,
                    "phase": "migrate",
                    "segment": segment,
                    "holder": f"other-{segment}",
                    "expires_at": time.time() + 60,
                }
            )
        )
    table = PagedStore(pages=[[item("a")]])

    task, _ = migrate_turn(
        segment_task(max_write_capacity=10.0),
        load_registry(),
        table,
        MemoryRecords(),
        control,
        turn(),
    )

    # The next task carries the whole run's caps in force (the lock's, not the task's).
    assert (task.max_write_capacity, task.max_read_capacity) == (90.0, None)
    assert control.active_turns(RUN, "migrate") == 2  # this turn's lease released


def test_a_window_stop_succeeds_as_an_intended_stop_and_is_resumable() -> None:
    control = locked_control()
    control.save_checkpoint("exec-1", checkpoint(0, scanned=3, migrated=3))
    control.save_checkpoint("exec-1", checkpoint(1, done=False, scanned=1, migrated=1))
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    response = aggregate_run(run_plan(stop_at=past), MemoryRecords(), control)

    assert (response.success, response.resumable, response.stopped_by) == (
        False,
        True,
        STOPPED_BY_WINDOW,
    )
    assert response.error_type == RUN_ERROR_WINDOW_CLOSED
    assert response.summary is not None
    assert response.summary.success_count == 4
    assert control.lock is None


def test_an_unfinished_segment_before_the_window_closes_is_no_window_stop() -> None:
    control = locked_control()
    control.save_checkpoint("exec-1", checkpoint(0))
    future = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()

    response = aggregate_run(run_plan(stop_at=future), MemoryRecords(), control)

    assert response.error_type == "SegmentsUnfinished"
    assert response.stopped_by is None
    assert response.resumable is True


def test_a_resumed_execution_keeps_the_caps_its_run_last_had() -> None:
    control = MemoryControl()
    plan_run(now_event(maxWriteCapacity=70.0), load_registry(), PagedStore(), control, 100)
    control.set_caps("UserProfiles", 35.0, 12.0)  # `throttle` during the first execution
    (entry,) = control.history("UserProfiles")
    control.record_run(
        entry.model_copy(
            update={"outcome": "stopped", "max_write_capacity": 35.0, "max_read_capacity": 12.0}
        )
    )
    control.release_lock("UserProfiles")

    kept = plan_run(now_event("exec-2", resume=True), load_registry(), PagedStore(), control, 100)
    control.release_lock("UserProfiles")
    control.record_run(entry.model_copy(update={"outcome": "stopped"}))
    asked = plan_run(
        now_event("exec-3", resume=True, maxWriteCapacity=5.0),
        load_registry(),
        PagedStore(),
        control,
        100,
    )

    assert (kept.max_write_capacity, kept.max_read_capacity) == (35.0, 12.0)
    assert (asked.max_write_capacity, asked.max_read_capacity) == (5.0, None)


@pytest.mark.parametrize(
    "fields",
    [
        {"maxWriteCapacity": "50"},
        {"maxWriteCapacity": True},
        {"stopAt": 1_900_000_000},
        {"scheduled": True, "dryRun": True},
        {"windowMinutes": 10_000_000_000},
        {"stopAt": "9999-12-31T23:59:59-14:00"},
    ],
)
def test_inputs_the_readme_calls_wrong_are_refused_not_crashed_on(fields: dict[str, Any]) -> None:
    with pytest.raises(RequestRefusedError):
        plan_run(now_event(**fields), load_registry(), PagedStore(), MemoryControl(), 100)
