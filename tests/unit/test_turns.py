"""Turns of a segment in the pipeline, with in-memory fakes: one turn at a time, each from
the segment's checkpoint, every page recorded where a retried page replaces it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.codec import serialize_item
from profile_migrations.errors import (
    InvalidRequestError,
    SegmentBusyError,
    SegmentStoppedError,
    StoreUnavailableError,
)
from profile_migrations.loader import load_registry
from profile_migrations.logic.journal import JournalEntry
from profile_migrations.logic.turns import Turn, migrate_turn, verify_turn
from profile_migrations.models.pipeline import PageFailures, SegmentTask, VerifyTask
from profile_migrations.models.records import Checkpoint, TurnLease
from profile_migrations.models.results import ProfileResult, SegmentCounters
from tests.fakes import MemoryControl, MemoryRecords, PagedStore, locked_control

if TYPE_CHECKING:
    from collections.abc import Sequence

    from profile_migrations.store import ProfileWrite, WriteBatchResult

RUN = "exec-1"


def turn(holder: str = "request-1", pages: int | None = None) -> Turn:
    """A turn with time for ``pages`` pages (None: unlimited)."""
    left = [pages]

    def should_continue() -> bool:
        if left[0] is None:
            return True
        left[0] -= 1
        return left[0] > 0

    return Turn(holder=holder, deadline=time.time() + 900, should_continue=should_continue)


TASK: dict[str, Any] = {
    "run_id": RUN,
    "execution": RUN,
    "table_name": "UserProfiles",
    "target_version": 5,
    "key_attributes": ["userId", "profileId"],
}


def segment_task(**fields: Any) -> SegmentTask:
    segment = {"segment": 3, "total_segments": 8, "started_at": "t"}
    return SegmentTask.model_validate({**TASK, **segment, **fields})


def item(user: str, **fields: Any) -> dict[str, Any]:
    return serialize_item({"userId": user, "profileId": "p", "profileData": {}, **fields})


def broken(user: str) -> dict[str, Any]:
    return serialize_item({"userId": user, "profileId": "p", "profileData": "not a map"})


def test_a_turn_stops_early_returns_its_cursor_and_checkpoints_every_page() -> None:
    table = PagedStore(pages=[[item("a")], [item("b")], [item("c")]])
    records = MemoryRecords()
    control = locked_control()

    next_task, this_turn = migrate_turn(
        segment_task(), load_registry(), table, records, control, turn(pages=2)
    )

    assert (next_task.invocation, next_task.done) == (1, False)
    assert next_task.cursor == {"page": {"N": "2"}}
    # Two small profiles written (1 WCU each), two pages scanned (0.5 RCU each, eventually
    # consistent, as the fake's answers carry no consumed capacity).
    assert next_task.counters == SegmentCounters(
        scanned=2,
        migrated=2,
        from_versions=[1],
        consumed_write_capacity_units=2.0,
        consumed_read_capacity_units=1.0,
    )
    assert this_turn == next_task.counters  # the segment's first turn
    saved = control.checkpoint(Checkpoint, RUN, 3)
    assert saved is not None
    assert (saved.pages, saved.cursor, saved.counters.migrated) == (2, {"page": {"N": "2"}}, 2)
    assert [line["userId"] for line in records.report_lines(RUN)] == ["a", "b"]
    assert control.turns == {}


def test_the_next_turn_continues_from_the_checkpoint_and_finishes_the_segment() -> None:
    table = PagedStore(pages=[[item("a")], [item("b")], [item("c")]])
    records = MemoryRecords()
    control = locked_control()
    first, _ = migrate_turn(segment_task(), load_registry(), table, records, control, turn(pages=1))

    final, this_turn = migrate_turn(first, load_registry(), table, records, control, turn())

    assert (final.done, final.cursor, final.invocation) == (True, None, 2)
    assert final.counters.scanned == 3
    assert this_turn.scanned == 2
    assert [line["userId"] for line in records.report_lines(RUN)] == ["a", "b", "c"]


def test_a_retried_turn_starts_from_the_checkpoint_not_from_its_stale_input() -> None:
    # Given: a turn that finished two pages, then was "killed" before returning its task
    table = PagedStore(pages=[[item("a")], [item("b")], [item("c"), broken("x")]])
    records = MemoryRecords()
    control = locked_control()
    stale = segment_task()
    migrate_turn(stale, load_registry(), table, records, control, turn("killed", pages=2))

    # When: Step Functions retries the same input (invocation 0, no cursor)
    final, this_turn = migrate_turn(stale, load_registry(), table, records, control, turn("retry"))

    # Then: only the third page is done again; nothing counted twice
    assert final.done
    assert final.counters == SegmentCounters(
        scanned=4,
        migrated=3,
        failed=1,
        from_versions=[1],
        consumed_write_capacity_units=3.0,
        consumed_read_capacity_units=1.5,
    )
    assert this_turn.scanned == 2
    assert len(table.writes) == 3
    assert sorted(line["userId"] for line in records.report_lines(RUN)) == ["a", "b", "c", "x"]


class KilledTurn(BaseException):
    """A Lambda timeout or out-of-memory kill: nothing in the turn can catch it."""


class KillAfter(PagedStore):
    """Answers ``scans`` scan pages, then the invocation is killed mid-page."""

    def __init__(self, scans: int, **fields: Any) -> None:
        super().__init__(**fields)
        self.scans = scans

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        result = super().conditional_update(writes)
        self.scans -= 1
        if self.scans < 0:
            raise KilledTurn
        return result


def test_a_turn_killed_mid_page_loses_no_count_and_repeats_no_page_record() -> None:
    # Given: the kill lands after page 2's writes, before its checkpoint; page 2 holds a
    # profile that fails, and a conflict that gives up on the first pass only
    pages = [[item("a")], [item("b")], [item("c"), broken("x")], [item("d")]]
    records = MemoryRecords()
    control = locked_control()
    killed = KillAfter(scans=2, pages=pages)
    with pytest.raises(KilledTurn):
        migrate_turn(segment_task(), load_registry(), killed, records, control, turn("t1"))
    # A killed process runs no `finally`: its lease stays until its deadline passes.
    dead = TurnLease(run_id=RUN, phase="migrate", segment=3, holder="t1", expires_at=0.0)
    control.turns[(RUN, "migrate", 3)] = dead

    # When: Step Functions retries the same input after the killed turn's deadline
    final, _ = migrate_turn(
        segment_task(), load_registry(), PagedStore(pages=pages), records, control, turn("t2")
    )

    # Then: every profile counted once, every page reported once, the failure listed once
    assert final.done
    assert final.counters.scanned == 5
    assert (final.counters.migrated, final.counters.failed) == (4, 1)
    report = records.report_lines(RUN)
    assert sorted(line["userId"] for line in report) == ["a", "b", "c", "d", "x"]
    assert [f.model_extra for f in records.failures(RUN)] == [{"userId": "x", "profileId": "p"}]


def test_a_second_turn_of_a_segment_waits_for_the_first() -> None:
    control = locked_control()
    control.acquire_turn(
        TurnLease(
            run_id=RUN, phase="migrate", segment=3, holder="first", expires_at=time.time() + 60
        )
    )

    with pytest.raises(SegmentBusyError, match="another turn of segment 3"):
        migrate_turn(
            segment_task(), load_registry(), PagedStore(), MemoryRecords(), control, turn("second")
        )


def test_a_stale_failure_record_of_the_first_page_of_a_turn_is_replaced() -> None:
    # Given: a killed turn left failures for page 0 that the page no longer has
    records = MemoryRecords()
    table = PagedStore(pages=[[item("a")]])
    stale = ProfileResult.model_validate(
        {"userId": "a", "profileId": "p", "fromVersion": 1, "toVersion": 5, "status": "failed"}
    )
    records.put_page_failures(RUN, PageFailures(segment=3, page=0, failures=[stale]))

    # When: the page is done again and all goes well
    migrate_turn(segment_task(), load_registry(), table, records, locked_control(), turn("retry"))

    # Then
    assert list(records.failures(RUN)) == []


def test_a_turn_that_made_no_progress_raises_so_the_state_machine_retries() -> None:
    control = locked_control()

    with pytest.raises(StoreUnavailableError):
        migrate_turn(
            segment_task(),
            load_registry(),
            PagedStore(unavailable=True),
            MemoryRecords(),
            control,
            turn(),
        )

    assert control.turns == {}


def test_an_unexpected_error_in_a_turn_records_its_reason_and_stops_the_segment() -> None:
    table = PagedStore(
        pages=[[item("a")], [item("b")]],
        scan_error=ValueError("not enough values to unpack (expected 1, got 0)"),
    )
    records = MemoryRecords()
    control = locked_control()

    with pytest.raises(SegmentStoppedError, match="segment 3: ValueError: not enough values"):
        migrate_turn(segment_task(), load_registry(), table, records, control, turn())

    saved = control.checkpoint(Checkpoint, RUN, 3)
    assert saved is not None
    assert (saved.cursor, saved.done, saved.counters.migrated) == ({"page": {"N": "1"}}, False, 1)
    assert saved.error == "ValueError: not enough values to unpack (expected 1, got 0)"
    assert [line["userId"] for line in records.report_lines(RUN)] == ["a"]
    assert control.turns == {}


def test_a_dry_run_turn_writes_nothing_to_the_table_but_checkpoints() -> None:
    table = PagedStore(pages=[[item("a")], [item("b")]])
    control = MemoryControl()

    final, this_turn = migrate_turn(
        segment_task(dry_run=True), load_registry(), table, MemoryRecords(), control, turn()
    )

    assert table.writes == []
    assert final.done
    assert this_turn.migrated == 2
    assert control.lock is None


def verify_task(**fields: Any) -> VerifyTask:
    return VerifyTask.model_validate({**TASK, "segment": 1, "total_segments": 2, **fields})


def test_a_verify_turn_records_each_page_and_resumes_from_its_checkpoint() -> None:
    pages = [[item("a", version=5)], [item("b", version=4)], [item("c", version=5)]]
    table = PagedStore(pages=pages)
    records = MemoryRecords()
    control = MemoryControl()

    first, _ = verify_turn(verify_task(), table, records, control, turn(pages=2))
    final, _ = verify_turn(verify_task(), table, records, control, turn("retry"))

    assert (first.done, first.checked, first.invalid_count) == (False, 2, 1)
    assert (final.done, final.checked, final.invalid_count) == (True, 3, 1)
    assert [entry.model_extra for entry in records.invalid(RUN)] == [
        {"userId": "b", "profileId": "p"}
    ]


def test_a_deep_verify_turn_reports_profiles_at_the_target_that_do_not_validate() -> None:
    # Given: at version 5, one profile of CICADA's version-5 shape and one without it
    valid = {
        "characterType": "MAGE",
        "metadata": {"tags": []},
    }
    table = PagedStore(
        pages=[
            [
                item("a", version=5, lastAccessedAt="t", profileData=valid),
                item("b", version=5, lastAccessedAt="t"),
            ]
        ]
    )
    records = MemoryRecords()

    final, _ = verify_turn(
        verify_task(deep_verify=True), table, records, MemoryControl(), turn(), load_registry()
    )

    assert (final.done, final.checked, final.invalid_count) == (True, 2, 1)
    (entry,) = records.invalid(RUN)
    assert entry.model_extra == {"userId": "b", "profileId": "p"}
    assert (
        entry.reason
        == "profileData.characterType: Field required; profileData.metadata: Field required"
    )


def test_a_deep_verify_turn_without_the_registry_is_refused_before_reading() -> None:
    table = PagedStore(pages=[[item("a", version=5)]])

    with pytest.raises(InvalidRequestError, match="schemas"):
        verify_turn(verify_task(deep_verify=True), table, MemoryRecords(), MemoryControl(), turn())
    assert table.reads == []


def test_a_turn_journals_each_page_once_before_its_writes_and_a_dry_run_journals_none() -> None:
    events: list[str] = []

    class Recorded(MemoryRecords):
        def put_journal(self, run_id: str, segment: int, page: int, body: bytes) -> None:
            events.append(f"journal page {page}")
            super().put_journal(run_id, segment, page, body)

    class Watched(PagedStore):
        def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
            events.append(f"write {len(writes)}")
            return super().conditional_update(writes)

    table = Watched(pages=[[item("a"), item("b")], [item("c")]])
    records = Recorded()

    migrate_turn(segment_task(), load_registry(), table, records, locked_control(), turn())

    assert events == ["journal page 0", "write 2", "journal page 1", "write 1"]
    (first, second) = records.journals
    assert (first[:3], second[:3]) == ((RUN, 3, 0), (RUN, 3, 1))
    lines = [JournalEntry.model_validate_json(line) for line in first[3].splitlines()]
    assert [entry.key["userId"] for entry in lines] == [{"S": "a"}, {"S": "b"}]
    assert lines[0].before["version"] is None

    dry = MemoryRecords()
    migrate_turn(
        segment_task(dry_run=True),
        load_registry(),
        PagedStore(pages=[[item("a")]]),
        dry,
        MemoryControl(),
        turn(),
    )
    assert dry.journals == []
